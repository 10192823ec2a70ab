"""Authorization header parsing (w§2.0-2.5, CV-4, TR-5, TR-6)."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.protocol.authorization import (
    MAX_HEADER_CREDENTIAL_CHARS,
    MAX_PASSWORD_BYTES,
    MAX_USER_BYTES,
    BasicCredentials,
    HeaderSecretCredentials,
    MalformedCredentials,
    Scheme,
    format_basic,
    has_control_characters,
    parse_authorization,
)

CONTROL_CHARACTERS = [chr(c) for c in range(0x20)] + ["\x7f"]


def basic_header(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


def parse_basic(value: str) -> BasicCredentials:
    credentials = parse_authorization(value)
    assert isinstance(credentials, BasicCredentials)
    return credentials


def parse_secret(value: str) -> HeaderSecretCredentials:
    credentials = parse_authorization(value)
    assert isinstance(credentials, HeaderSecretCredentials)
    return credentials


def rejection(value: str) -> MalformedCredentials:
    with pytest.raises(MalformedCredentials) as raised:
        parse_authorization(value)
    return raised.value


# -- Basic --------------------------------------------------------------------------------------


def test_parses_basic_user_and_password() -> None:
    credentials = parse_basic(basic_header(b"bob:s3cret!"))
    assert credentials.user == "bob"
    assert credentials.password.reveal() == "s3cret!"


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_basic_scheme_is_case_insensitive(scheme: str) -> None:
    token = base64.b64encode(b"bob:pw").decode()
    assert parse_basic(f"{scheme} {token}").user == "bob"


@pytest.mark.parametrize(
    ("raw", "user", "password"),
    [
        (b"bob:pa:ss", "bob", "pa:ss"),
        (b"bob::", "bob", ":"),
        (b"bob:", "bob", ""),
        ("b\u00f6b:p\u00e4ss".encode(), "b\u00f6b", "p\u00e4ss"),
        (b"info@bob.example:pw", "info@bob.example", "pw"),
        (b"a b:c d ", "a b", "c d "),
    ],
)
def test_splits_basic_credentials_at_the_first_colon(raw: bytes, user: str, password: str) -> None:
    credentials = parse_basic(basic_header(raw))
    assert (credentials.user, credentials.password.reveal()) == (user, password)


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_rejects_control_characters_in_basic_password(control: str) -> None:
    error = rejection(basic_header(f"bob:pa{control}ss".encode()))
    assert error.reason == "control character in password"
    assert error.claimed_user == "bob"


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_rejects_control_characters_in_basic_user(control: str) -> None:
    error = rejection(basic_header(f"ro{control}ot:password".encode()))
    assert error.reason == "invalid character in user name"
    assert error.claimed_user == ""  # an invalid name is never reported as the claimed user


def test_rejects_the_cve_2026_41940_crlf_password() -> None:
    forged = b"root:x\r\nuser=root\r\ntfa_verified=1"
    assert rejection(basic_header(forged)).reason == "control character in password"


@pytest.mark.parametrize("user", [" bob", "bob ", "\u00a0bob", "bob\u2003"])
def test_rejects_basic_user_with_surrounding_whitespace(user: str) -> None:
    assert rejection(basic_header(f"{user}:pw".encode())).reason == "invalid character in user name"


def test_rejects_empty_basic_user() -> None:
    assert rejection(basic_header(b":password")).reason == "user name not provided"


def test_rejects_basic_credentials_without_colon() -> None:
    assert rejection(basic_header(b"bobpassword")).reason == "basic credentials without a colon"


@pytest.mark.parametrize(
    ("user", "accepted"),
    [("u" * MAX_USER_BYTES, True), ("u" * (MAX_USER_BYTES + 1), False), ("\u00e9" * 128, False)],
)
def test_caps_basic_user_at_255_bytes(user: str, accepted: bool) -> None:
    header = basic_header(f"{user}:pw".encode())
    if accepted:
        assert parse_basic(header).user == user
    else:
        assert rejection(header).reason == "user name too long"


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("p" * MAX_PASSWORD_BYTES, True),
        ("p" * (MAX_PASSWORD_BYTES + 1), False),
        ("\u20ac" * 1365, True),  # 4095 bytes
        ("\u20ac" * 1366, False),  # 4098 bytes in 1366 characters: the cap counts bytes
    ],
)
def test_caps_basic_password_at_4096_bytes(password: str, accepted: bool) -> None:
    header = basic_header(f"bob:{password}".encode())
    if accepted:
        assert parse_basic(header).password.reveal() == password
    else:
        error = rejection(header)
        assert error.reason == "password too long"
        assert error.claimed_user == "bob"


@pytest.mark.parametrize(
    "encoded",
    [
        "!!!!",
        "Ym9iOnB3YQ",  # missing padding
        "Ym9iOnB3YQ=",  # short padding
        "Ym9i OnB3",  # whitespace inside
        "Ym9iOnB3\u00ff",  # non-ASCII
        "Ym9iOnB3=YQ==",  # data after padding
        "Ym9i-OnB3",  # URL-safe alphabet
    ],
)
def test_rejects_invalid_base64(encoded: str) -> None:
    assert rejection(f"Basic {encoded}").reason == "basic credentials are not valid base64 UTF-8"


@pytest.mark.parametrize("raw", [b"bob:\xff\xfe", b"\xc3(:pw", b"bob:\xed\xa0\x80"])
def test_rejects_invalid_utf8_in_basic_credentials(raw: bytes) -> None:
    assert rejection(basic_header(raw)).reason == "basic credentials are not valid base64 UTF-8"


@pytest.mark.parametrize("suffix", [" ", "\t", "\r\n", "\n", " \r\n  "])
def test_ignores_trailing_whitespace_after_basic_credentials(suffix: str) -> None:
    assert parse_basic(format_basic("bob", "pw") + suffix).password.reveal() == "pw"


def test_accepts_several_spaces_between_scheme_and_credentials() -> None:
    token = base64.b64encode(b"bob:pw").decode()
    assert parse_basic(f"Basic    {token}").user == "bob"


def test_basic_credentials_repr_hides_the_password() -> None:
    credentials = parse_basic(format_basic("bob", "hunter2-canary"))
    assert "hunter2-canary" not in repr(credentials)


# -- common header rules ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "Basic", "Basic   ", "whm", "Basic\tYm9iOnB3"])
def test_rejects_header_without_credentials(value: str) -> None:
    assert rejection(value).reason == "authorization header without credentials"


@pytest.mark.parametrize(
    "value",
    ["Bearer abc", "Digest username=bob", "webmail bob:secret", "2087 root:TOKEN", "Basics Ym9i"],
)
def test_rejects_other_schemes(value: str) -> None:
    assert rejection(value).reason == "unsupported authorization scheme"


def test_rejects_overlong_credentials() -> None:
    assert rejection("Basic " + "A" * (MAX_HEADER_CREDENTIAL_CHARS + 4)).reason == (
        "authorization header too long"
    )


def test_accepts_credentials_at_the_length_limit() -> None:
    secret = "A" * (MAX_HEADER_CREDENTIAL_CHARS - len("root:"))
    assert parse_secret(f"whm root:{secret}").secret.reveal() == secret


# -- whm / cpanel ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("whm", Scheme.WHM),
        ("WHM", Scheme.WHM),
        ("Whm", Scheme.WHM),
        ("cpanel", Scheme.CPANEL),
        ("CPANEL", Scheme.CPANEL),
    ],
)
def test_header_secret_scheme_is_case_insensitive(scheme: str, expected: Scheme) -> None:
    credentials = parse_secret(f"{scheme} bob:U7HMR63FGY292DQZ4H5BFH16JLYMO01M")
    assert credentials.scheme is expected
    assert credentials.user == "bob"
    assert credentials.secret.reveal() == "U7HMR63FGY292DQZ4H5BFH16JLYMO01M"


@pytest.mark.parametrize(
    "sent",
    [
        "abc def",
        "abc\r\ndef",
        "abc\ndef",
        "abc\tdef",
        "\r\nabc\r\n def\r\n",
        "a b c d e f",
        "abc\u00a0def",
        "abc\x0b\x0cdef",
    ],
)
def test_removes_all_whitespace_from_whm_secret(sent: str) -> None:
    assert parse_secret(f"WHM root:{sent}").secret.reveal() == "abcdef"


def test_joins_a_multiline_access_hash() -> None:
    lines = ["0123456789abcdef" * 2 for _ in range(30)]
    credentials = parse_secret("WHM root:" + "\r\n".join(lines))
    assert credentials.secret.reveal() == "".join(lines)
    assert len(credentials.secret) == 960


@pytest.mark.parametrize("secret", ["", "   ", "\r\n", " \r\n ", "\u00a0", "\u2003\u00a0"])
def test_rejects_empty_header_secret_naming_the_claimed_user(secret: str) -> None:
    error = rejection(f"whm root:{secret}")
    assert (error.reason, error.claimed_user) == ("empty secret", "root")


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f", "\x08"])
def test_rejects_control_characters_in_header_secret(control: str) -> None:
    error = rejection(f"cpanel bob:TOK{control}EN")
    assert (error.reason, error.claimed_user) == ("control character in credentials", "bob")


@pytest.mark.parametrize("user", ["b\nob", "b\rob"])
def test_rejects_line_breaks_in_header_secret_user(user: str) -> None:
    assert rejection(f"whm {user}:TOKEN").reason == "invalid character in user name"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("whm rootTOKEN", "credentials without a colon"),
        ("whm :TOKEN", "user name not provided"),
        ("cpanel " + "u" * 256 + ":TOKEN", "user name too long"),
    ],
)
def test_rejects_malformed_header_secret(value: str, reason: str) -> None:
    assert rejection(value).reason == reason


# -- helpers and properties ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", False),
        ("tab\there", True),
        ("nul\x00", True),
        ("del\x7f", True),
        ("\u0085nel", False),
        ("\u00e9", False),
        ("", False),
    ],
)
def test_has_control_characters_covers_c0_and_del(text: str, expected: bool) -> None:
    assert has_control_characters(text) is expected


def test_format_basic_builds_the_rfc7617_header() -> None:
    assert format_basic("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


_PRINTABLE = st.characters(exclude_categories=["Cs"]).filter(
    lambda c: not has_control_characters(c)
)
_USERS = (
    st.text(_PRINTABLE.filter(lambda c: c != ":"), min_size=1, max_size=40)
    .filter(lambda u: u == u.strip())
    .filter(lambda u: len(u.encode()) <= MAX_USER_BYTES)
)
_PASSWORDS = st.text(_PRINTABLE, max_size=80)


@given(user=_USERS, password=_PASSWORDS)
def test_format_basic_round_trips_through_parse_authorization(user: str, password: str) -> None:
    credentials = parse_basic(format_basic(user, password))
    assert credentials.user == user
    assert credentials.password.reveal() == password


@given(st.text(max_size=200))
def test_parse_authorization_never_raises_anything_but_malformed(value: str) -> None:
    with contextlib.suppress(MalformedCredentials):
        parse_authorization(value)


@given(st.binary(max_size=300))
def test_parsed_basic_credentials_never_carry_control_characters(raw: bytes) -> None:
    try:
        credentials = parse_basic(basic_header(raw))
    except MalformedCredentials:
        return
    assert credentials.user
    assert ":" not in credentials.user
    assert not has_control_characters(credentials.user)
    assert not has_control_characters(credentials.password.reveal())
    assert len(credentials.password.reveal().encode()) <= MAX_PASSWORD_BYTES


@given(user=_USERS, secret=st.text(max_size=100))
def test_parsed_header_secret_never_contains_whitespace(user: str, secret: str) -> None:
    try:
        credentials = parse_secret(f"whm {user}:{secret}")
    except MalformedCredentials:
        return
    assert credentials.secret.reveal()
    assert not any(c.isspace() for c in credentials.secret.reveal())
    assert not has_control_characters(credentials.secret.reveal())
