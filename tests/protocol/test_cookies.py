"""Session cookies: names, `<id>,<secret>` values, parsing, Set-Cookie (w§4, CV-5, SE-2, SE-10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.protocol.cookies import (
    COOKIE_NAMES,
    MAX_COOKIE_VALUE,
    CookieCredential,
    clear_cookie_header,
    cookie_values,
    encode_cookie_value,
    parse_cookie_value,
    set_cookie_header,
)
from panelauth.protocol.services import Service

SESSION_ID = "bob:Ab3_xY9zQw2ErT5u"
SECRET = "0123456789abcdef0123456789abcdef"
ENCODED = "bob%3aAb3_xY9zQw2ErT5u%2c0123456789abcdef0123456789abcdef"


def test_cookie_names_are_cpanels() -> None:
    assert COOKIE_NAMES == {
        Service.CPANEL: "cpsession",
        Service.WHM: "whostmgrsession",
        Service.WEBMAIL: "webmailsession",
    }


def test_encodes_with_cpanels_lowercase_escapes() -> None:
    assert encode_cookie_value(SESSION_ID, SECRET) == ENCODED
    tagged = encode_cookie_value("info@bob.example:Ab3_xY9zQw2ErT5u:create_user_session", SECRET)
    assert tagged == ("info%40bob.example%3aAb3_xY9zQw2ErT5u%3acreate_user_session%2c" + SECRET)


@pytest.mark.parametrize(
    "value",
    [ENCODED, ENCODED.replace("%3a", "%3A").replace("%2c", "%2C"), f"{SESSION_ID},{SECRET}"],
)
def test_parses_encoded_and_plain_values(value: str) -> None:
    assert parse_cookie_value(value) == CookieCredential(SESSION_ID, SECRET)


@pytest.mark.parametrize(
    "value",
    [
        "",
        SESSION_ID,  # CV-5: an id without its secret is refused before any lookup
        f"{SESSION_ID},",
        f"{SESSION_ID},{SECRET[:-1]}",
        f"{SESSION_ID},{SECRET}0",
        f"{SESSION_ID},{SECRET.upper()}",
        f",{SECRET}",
        f"bob,{SECRET}",
        f"bob:short,{SECRET}",
        f"bob:Ab3_xY9zQw2ErT5u:tag9,{SECRET}",  # tags are letters and underscores
        f"b ob:Ab3_xY9zQw2ErT5u,{SECRET}",
        f"bob:Ab3-xY9zQw2ErT5u,{SECRET}",
        f"{'u' * 256}:Ab3_xY9zQw2ErT5u,{SECRET}",
    ],
)
def test_refuses_values_that_are_not_an_id_and_a_secret(value: str) -> None:
    assert parse_cookie_value(value) is None


def test_refuses_overlong_values_before_decoding_them() -> None:
    session_id = "é" * 255 + ":Ab3_xY9zQw2ErT5u"  # a valid id: 255 characters before the colon
    plain = f"{session_id},{SECRET}"
    encoded = encode_cookie_value(session_id, SECRET)
    assert len(plain) <= MAX_COOKIE_VALUE < len(encoded)
    assert parse_cookie_value(plain) == CookieCredential(session_id, SECRET)
    # the limit is on what the client sent, so no oversized value is ever decoded
    assert parse_cookie_value(encoded) is None
    assert parse_cookie_value("x" * (MAX_COOKIE_VALUE + 1)) is None


def test_refuses_a_value_whose_escapes_are_not_utf8() -> None:
    assert parse_cookie_value(ENCODED + "%ff") is None


@given(
    user=st.text(
        alphabet=st.characters(blacklist_characters=",:", blacklist_categories=("Cs", "Z", "Cc")),
        min_size=1,
        max_size=40,
    ).filter(lambda u: not any(c.isspace() for c in u)),
    random_part=st.text(alphabet="abcXYZ019_", min_size=16, max_size=16),
    secret=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
)
def test_encoded_values_parse_back(user: str, random_part: str, secret: str) -> None:
    session_id = f"{user}:{random_part}"
    encoded = encode_cookie_value(session_id, secret)
    assert "," not in encoded and ";" not in encoded and " " not in encoded
    assert parse_cookie_value(encoded) == CookieCredential(session_id, secret)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("cpsession=a", ["a"]),
        ("other=1; cpsession=a;cpsession=b ;  cpsession= c ", ["a", "b", "c"]),
        ("cpsession=a=b", ["a=b"]),  # the value runs to the next semicolon
        ("cpsession=", [""]),
        # SE-10: names match exactly: no prefix, suffix, case or inner-space games
        ("xcpsession=a; cpsessionx=b; CPSESSION=c; cpsession =d", []),
        ("cpsession", []),
        ("whostmgrsession=w; cpsession=a", ["a"]),
    ],
)
def test_cookie_values_returns_every_value_of_the_exact_name(
    header: str | None, expected: list[str]
) -> None:
    assert cookie_values(header, "cpsession") == expected


@pytest.mark.parametrize("service", list(COOKIE_NAMES))
def test_session_cookie_is_httponly_secure_lax_and_without_expiry(service: Service) -> None:
    header = set_cookie_header(service, ENCODED)
    name = COOKIE_NAMES[service]
    assert header == f"{name}={ENCODED}; HttpOnly; Path=/; Secure; SameSite=Lax"
    # SE-2: no Domain (host-only) and no Expires/Max-Age (gone with the browser)
    assert "Domain" not in header and "Expires" not in header and "Max-Age" not in header
    plain = set_cookie_header(service, ENCODED, secure=False)
    assert plain == f"{name}={ENCODED}; HttpOnly; Path=/; SameSite=Lax"


@pytest.mark.parametrize("service", list(COOKIE_NAMES))
def test_clearing_a_cookie_expires_it_at_once(service: Service) -> None:
    name = COOKIE_NAMES[service]
    assert clear_cookie_header(service) == (
        f"{name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    )
    assert clear_cookie_header(service, secure=False) == (
        f"{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    )
