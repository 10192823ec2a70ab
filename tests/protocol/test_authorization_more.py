"""Login-form credentials are held to the same rules as a Basic header (CV-4)."""

from __future__ import annotations

import pytest

from panelauth.protocol.authorization import (
    MAX_PASSWORD_BYTES,
    MAX_USER_BYTES,
    MalformedCredentials,
    Scheme,
    form_credentials,
    header_scheme,
)

CONTROL_CHARACTERS = [chr(c) for c in range(0x20)] + ["\x7f"]


def form_rejection(user: str, password: str) -> MalformedCredentials:
    with pytest.raises(MalformedCredentials) as raised:
        form_credentials(user, password)
    return raised.value


def test_accepts_a_form_login() -> None:
    credentials = form_credentials("info@bob.example", "pä ss:wörd!")
    assert credentials.user == "info@bob.example"
    assert credentials.password.reveal() == "pä ss:wörd!"
    assert "wörd" not in repr(credentials)


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_rejects_control_characters_in_a_form_password_naming_the_user(control: str) -> None:
    # the CRLF of CVE-2026-41940 arrives through the form as easily as through a header
    rejected = form_rejection("bob", f"pass{control}word")
    assert (rejected.reason, rejected.claimed_user) == ("control character in password", "bob")


def test_rejects_a_form_password_over_4096_bytes() -> None:
    assert form_credentials("bob", "é" * (MAX_PASSWORD_BYTES // 2)).password
    rejected = form_rejection("bob", "é" * (MAX_PASSWORD_BYTES // 2) + "x")
    assert (rejected.reason, rejected.claimed_user) == ("password too long", "bob")


def test_a_lone_surrogate_in_a_form_password_is_measured_not_crashed_on() -> None:
    # a form decoded with surrogateescape can carry lone surrogates; they are not control bytes
    credentials = form_credentials("bob", "pass\udcffword")
    assert credentials.password.reveal() == "pass\udcffword"


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("", "user name not provided"),
        (" bob", "invalid character in user name"),
        ("bob\r\n", "invalid character in user name"),
        ("b\x00ob", "invalid character in user name"),
        ("b" * (MAX_USER_BYTES + 1), "user name too long"),
    ],
)
def test_rejects_form_user_names_a_header_would_reject(user: str, reason: str) -> None:
    rejected = form_rejection(user, "secret")
    assert rejected.reason == reason
    assert rejected.claimed_user == ""  # a malformed name is never logged as the claimed user


# -- the scheme alone (w§2.4: a cPanel token on a page is refused without a lookup) ------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("cpanel bob:U7HMR63FGY292DQZ4H5BFH16JLYMO01M", Scheme.CPANEL),
        ("CPANEL bob:x", Scheme.CPANEL),
        ("cPanel", Scheme.CPANEL),
        ("  cpanel   bob:x\r\n", Scheme.CPANEL),
        ("whm root:abc", Scheme.WHM),
        ("Basic Ym9iOnB3", Scheme.BASIC),
        ("Bearer abc", None),
        ("cpanelx bob:x", None),
        ("", None),
    ],
)
def test_header_scheme_reads_only_the_scheme(value: str, expected: Scheme | None) -> None:
    assert header_scheme(value) is expected
