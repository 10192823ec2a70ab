"""Strict validation of names that reach the store, logs and file paths (PW-5, CV-4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.core.validation import (
    RESERVED_USERNAMES,
    normalize_domain,
    normalize_email_address,
    validate_contact_email,
    validate_feature_list_name,
    validate_local_part,
    validate_plan_name,
    validate_username,
)
from panelauth.errors import InvalidArgument

# -- user names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["bob", "b", "a1", "abcdefghijklmnop", "x" + "0" * 15])
def test_accepts_cpanel_account_names(user: str) -> None:
    assert validate_username(user) == user


@pytest.mark.parametrize(
    "user",
    [
        "",
        "Bob",
        "1bob",
        "bob-smith",
        "bob_smith",
        "bob.smith",
        "abcdefghijklmnopq",  # 17 characters
        " bob",
        "bob ",
        "b\u00f6b",
        "bob\x00",
        "bo\nb",
        "bob@example.com",
        "../etc",
    ],
)
def test_rejects_malformed_account_names(user: str) -> None:
    with pytest.raises(InvalidArgument, match="1 to 16 lowercase"):
        validate_username(user)


@pytest.mark.parametrize(
    "user",
    [*sorted(n for n in RESERVED_USERNAMES if n.isalnum() and len(n) <= 16), "test", "testbob"],
)
def test_rejects_reserved_account_names(user: str) -> None:
    with pytest.raises(InvalidArgument, match="reserved"):
        validate_username(user)


def test_a_name_containing_test_elsewhere_is_allowed() -> None:
    assert validate_username("bobtest") == "bobtest"


@given(st.text(max_size=20))
def test_accepted_account_names_are_plain_lowercase_ascii(user: str) -> None:
    try:
        accepted = validate_username(user)
    except InvalidArgument:
        return
    assert accepted == user
    assert accepted.isascii() and accepted.isalnum() and accepted == accepted.lower()
    assert accepted[0].isalpha() and len(accepted) <= 16


# -- domains and addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("example.com", "example.com"),
        ("Bob.Example.", "bob.example"),
        ("SUB.bob.example", "sub.bob.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c0", "a-b.c0"),
        (("a" * 63 + ".") * 3 + "b" * 61, ("a" * 63 + ".") * 3 + "b" * 61),
    ],
)
def test_normalises_domains(domain: str, expected: str) -> None:
    assert normalize_domain(domain) == expected


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "localhost",
        "example..com",
        ".example.com",
        "-bob.example",
        "bob-.example",
        "b_b.example",
        "bob example.com",
        "b\u00fccher.example",
        "1.2.3.4",
        "bob.123",
        "a" * 64 + ".example",
        ("a" * 63 + ".") * 4 + "com",  # 256 characters
        "bob.example/x",
        "bob.example\x00",
        " bob.example",
        "bob.example ",
        "bob.example..",
    ],
)
def test_rejects_invalid_domains(domain: str) -> None:
    with pytest.raises(InvalidArgument, match="valid domain"):
        normalize_domain(domain)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("Bob@Bob.Example", "bob@bob.example"),
        ("INFO@bob.example", "info@bob.example"),
        ("first.last+tag@bob.example", "first.last+tag@bob.example"),
        ("o'brien@bob.example", "o'brien@bob.example"),
        ("x" * 64 + "@bob.example", "x" * 64 + "@bob.example"),
    ],
)
def test_normalises_email_addresses(address: str, expected: str) -> None:
    assert normalize_email_address(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "bob",
        "@bob.example",
        "bob@",
        "bob@localhost",
        "x" * 65 + "@bob.example",
        ".bob@bob.example",
        "bob.@bob.example",
        "bo..b@bob.example",
        "a@b@bob.example",
        "bob smith@bob.example",
        '"bob"@bob.example',
        "b\u00f6b@bob.example",
        " bob@bob.example",
        "bob@bob.example ",
    ],
)
def test_rejects_invalid_email_addresses(address: str) -> None:
    with pytest.raises(InvalidArgument):
        normalize_email_address(address)


def test_contact_email_may_be_empty() -> None:
    assert validate_contact_email("") == ""
    assert validate_contact_email("Admin@Bob.Example") == "admin@bob.example"
    with pytest.raises(InvalidArgument):
        validate_contact_email("not-an-address")


@pytest.mark.parametrize(
    ("local", "expected"), [("Info", "info"), ("SALES", "sales"), ("a.b-c_d", "a.b-c_d")]
)
def test_normalises_mailbox_local_parts(local: str, expected: str) -> None:
    assert validate_local_part(local) == expected


@pytest.mark.parametrize(
    "local", ["", "   ", " info", "info ", "a@b", "a b", ".a", "a.", "a..b", "x" * 65, "\u00e9"]
)
def test_rejects_invalid_local_parts(local: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid characters"):
        validate_local_part(local)


# -- feature lists and plans --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "Gold_1.0-x", "a" * 64])
def test_accepts_feature_list_names(name: str) -> None:
    assert validate_feature_list_name(name) == name


@pytest.mark.parametrize("name", ["", "a" * 65, "gold plan", "../x", "a/b", "gold\x00"])
def test_rejects_invalid_feature_list_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="feature list"):
        validate_feature_list_name(name)


@pytest.mark.parametrize("name", ["default", "Gold Plan 1.0", "a_b-c", "p" * 64])
def test_accepts_plan_names(name: str) -> None:
    assert validate_plan_name(name) == name


@pytest.mark.parametrize("name", ["", "p" * 65, "gold/plan", "gold\tplan", "gold\u00e9"])
def test_rejects_invalid_plan_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="package"):
        validate_plan_name(name)


# -- a trailing newline must not slip through `$` (CV-4) ----------------------------------------

VALIDATORS: list[tuple[Callable[[str], str], str]] = [
    (validate_username, "bob\n"),
    (normalize_domain, "bob\n.example"),
    (normalize_domain, "bob.example\n"),
    (validate_local_part, "info\n"),
    (normalize_email_address, "bob\n@bob.example"),
    (validate_contact_email, "bob\n@bob.example"),
    (validate_feature_list_name, "default\n"),
    (validate_plan_name, "gold\n"),
]


@pytest.mark.parametrize(("validator", "value"), VALIDATORS)
def test_rejects_a_trailing_newline(validator: Callable[[str], str], value: str) -> None:
    with pytest.raises(InvalidArgument):
        validator(value)


@given(st.text(max_size=30))
def test_validated_names_never_contain_control_characters(text: str) -> None:
    validators = (
        validate_username,
        normalize_domain,
        normalize_email_address,
        validate_local_part,
        validate_feature_list_name,
        validate_plan_name,
    )
    for validator in validators:
        try:
            accepted = validator(text)
        except InvalidArgument:
            continue
        assert all(0x20 <= ord(c) < 0x7F for c in accepted)
