"""Request paths and the `/cpsess` security-token segment (w§1.6, w§6)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.protocol.paths import SECURITY_TOKEN, BadPath, RequestPath, parse_path

_FORBIDDEN = {"/", "\\"} | {chr(c) for c in range(0x20)} | {"\x7f"}


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        ("/", ("",)),
        ("/execute/Email/list_pops", ("execute", "Email", "list_pops")),
        ("/json-api/listaccts/", ("json-api", "listaccts", "")),
        ("//json-api//listaccts", ("json-api", "listaccts")),
        ("/a/./b", ("a", "b")),
        ("/a/../b", ("b",)),
        ("/../../etc/passwd", ("etc", "passwd")),
        ("/a/b/..", ("a",)),
        ("/a/.", ("a",)),
        ("/a%20b/%C3%A9", ("a b", "\u00e9")),
        ("/a%2520b", ("a%20b",)),  # decoded once only
        ("/%2e%2e/x", ("..", "x")),  # dot-segments are removed before decoding (w§1.6)
        ("/caf\u00e9", ("caf\u00e9",)),
    ],
)
def test_normalises_segments(raw: str, segments: tuple[str, ...]) -> None:
    parsed = parse_path(raw)
    assert parsed.segments == segments
    assert parsed.security_token is None


@pytest.mark.parametrize(
    ("raw", "token", "segments"),
    [
        ("/cpsess4821907736/json-api/listaccts", "/cpsess4821907736", ("json-api", "listaccts")),
        ("/cpsess/execute/M/f", "/cpsess", ("execute", "M", "f")),
        ("/cpsessABC_def/x", "/cpsessABC_def", ("x",)),
        ("/cpsess1234567890", "/cpsess1234567890", ()),
        ("/x/../cpsess1234567890/a", "/cpsess1234567890", ("a",)),
        ("/%63psess1234567890/a", "/cpsess1234567890", ("a",)),
    ],
)
def test_extracts_the_security_token_from_the_first_segment(
    raw: str, token: str, segments: tuple[str, ...]
) -> None:
    parsed = parse_path(raw)
    assert parsed.security_token == token
    assert parsed.segments == segments


@pytest.mark.parametrize(
    "raw",
    [
        "/json-api/cpsess1234567890",  # not the first segment
        "/cpsess1234567890/../json-api",  # removed by the dot-segment
        "/cpsess-1/x",  # `-` is outside the token alphabet
        "/xcpsess1234567890/x",
        "/CPSESS1234567890/x",
    ],
)
def test_keeps_cpsess_like_segments_that_are_not_a_leading_token(raw: str) -> None:
    assert parse_path(raw).security_token is None


def test_path_property_rebuilds_the_normalised_path() -> None:
    assert parse_path("/cpsess1234567890/a/./b/../c").path == "/a/c"
    assert parse_path("/").path == "/"
    assert RequestPath((), "/cpsess1234567890").path == "/"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "json-api/listaccts",
        "*",
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/a\\b",
        "/a%00b",
        "/a%0D%0Ab",
        "/a%7F",
        "/a%09b",
        "/a\x01b",
        "/%FF",
        "/%C3",
        "/%ED%A0%80",
    ],
)
def test_rejects_unservable_paths(raw: str) -> None:
    with pytest.raises(BadPath):
        parse_path(raw)


def test_bad_path_is_a_value_error() -> None:
    assert issubclass(BadPath, ValueError)


@pytest.mark.parametrize(
    ("token", "valid"),
    [
        ("/cpsess4821907736", True),
        ("/cpsess0000000000", True),
        ("/cpsess482190773", False),
        ("/cpsess48219077361", False),
        ("/cpsessABCDEFGHIJ", False),
        ("cpsess4821907736", False),
        ("/cpsess\u0664\u0668\u0662\u0661\u0669\u0660\u0667\u0667\u0663\u0666", False),
    ],
)
def test_security_token_is_cpsess_and_ten_ascii_digits(token: str, valid: bool) -> None:
    assert (SECURITY_TOKEN.match(token) is not None) is valid


# -- properties ---------------------------------------------------------------------------------


@given(st.text(max_size=80).map(lambda s: "/" + s))
def test_parse_path_never_yields_forbidden_characters(raw: str) -> None:
    try:
        parsed = parse_path(raw)
    except BadPath:
        return
    for segment in parsed.segments:
        assert not (set(segment) & _FORBIDDEN)
    if parsed.security_token is not None:
        assert parsed.security_token.startswith("/cpsess")
        assert not (set(parsed.security_token[1:]) & _FORBIDDEN)


_SEGMENT = st.text(
    st.characters(exclude_categories=["Cs"]).filter(lambda c: c not in _FORBIDDEN),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and not s.startswith("cpsess"))


@given(st.lists(_SEGMENT, min_size=1, max_size=6))
def test_quoted_segments_round_trip(segments: list[str]) -> None:
    parsed = parse_path("/" + "/".join(quote(s, safe="") for s in segments))
    assert parsed.segments == tuple(segments)
    assert parsed.security_token is None


@given(st.lists(_SEGMENT, min_size=1, max_size=4), st.from_regex(r"[0-9]{10}", fullmatch=True))
def test_security_token_is_split_off_whatever_follows(segments: list[str], digits: str) -> None:
    raw = f"/cpsess{digits}/" + "/".join(quote(s, safe="") for s in segments)
    parsed = parse_path(raw)
    assert parsed.security_token == f"/cpsess{digits}"
    assert SECURITY_TOKEN.match(parsed.security_token)
    assert parsed.segments == tuple(segments)


def test_parsed_paths_are_memoised_in_a_bounded_memo() -> None:
    parse_path.cache_clear()
    assert parse_path("/json-api/version") is parse_path("/json-api/version")
    for number in range(1100):  # attacker-chosen paths cannot grow it without bound
        parse_path(f"/p{number}")
    assert parse_path.cache_info().currsize == 1024
    with pytest.raises(BadPath):
        parse_path("/a%ff")
    with pytest.raises(BadPath):  # a refused path is refused again, not remembered as served
        parse_path("/a%ff")
