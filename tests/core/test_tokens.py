"""API tokens and access hashes: formats, digests, whitelists, expiry and rights (w§11, w§12)."""

from __future__ import annotations

import hashlib

import pytest

from panelauth.core.tokens import (
    ACCESS_HASH_LINE_HEX,
    ACCESS_HASH_LINES,
    MAX_WHITELIST_ENTRIES,
    TOKEN_FORMAT,
    ApiToken,
    TokenKind,
    digest,
    effective_acls,
    generate_access_hash,
    generate_token,
    parse_expires_at,
    parse_whitelist,
    restricts,
    validate_token_name,
)
from panelauth.errors import InvalidArgument

NOW = 1_767_225_600.0


def token(
    *,
    expires_at: int | None = None,
    acls: frozenset[str] | None = None,
    whitelist_ips: tuple[str, ...] | None = None,
) -> ApiToken:
    return ApiToken(
        "res",
        TokenKind.WHM,
        "ci",
        digest("X" * 32),
        int(NOW),
        expires_at=expires_at,
        acls=acls,
        whitelist_ips=whitelist_ips,
    )


# -- formats and digests ------------------------------------------------------------------------


def test_generated_tokens_have_the_cpanel_format_and_differ() -> None:
    tokens = {generate_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(TOKEN_FORMAT.fullmatch(t) for t in tokens)


def test_digest_is_sha512_hex_of_the_secret_without_whitespace() -> None:
    secret = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    expected = hashlib.sha512(secret.encode()).hexdigest()
    assert digest(secret) == expected
    # w§2.2: CR, LF, spaces and tabs inside the sent value are not part of the secret
    assert digest(" ABCDEFGH\r\nIJKLMNOP\tQRSTUVWX YZ012345\n") == expected
    assert digest(secret.lower()) != expected


def test_access_hash_is_30_lines_of_32_hex_and_its_digest_ignores_the_newlines() -> None:
    text = generate_access_hash()
    lines = text.split("\n")
    assert lines[-1] == ""  # every line ends in a newline
    assert len(lines[:-1]) == ACCESS_HASH_LINES
    assert all(len(line) == ACCESS_HASH_LINE_HEX for line in lines[:-1])
    assert all(set(line) <= set("0123456789abcdef") for line in lines[:-1])
    assert digest(text) == digest(text.replace("\n", "")) == digest(text.replace("\n", "\r\n"))
    assert generate_access_hash() != text


# -- the token record ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("acls", "full"),
    [
        (None, True),
        (frozenset({"all"}), True),
        (frozenset({"all", "list-accts"}), True),
        (frozenset({"list-accts"}), False),
        (frozenset(), False),
    ],
)
def test_full_access_means_no_acl_list_or_all(acls: frozenset[str] | None, full: bool) -> None:
    assert token(acls=acls).has_full_access is full


@pytest.mark.parametrize(
    ("expires_at", "expired"),
    [(None, False), (int(NOW) + 1, False), (int(NOW), True), (int(NOW) - 1, True)],
)
def test_a_token_expires_at_its_expiry_second(expires_at: int | None, expired: bool) -> None:
    assert token(expires_at=expires_at).expired(NOW) is expired


@pytest.mark.parametrize(
    ("whitelist", "address", "allowed"),
    [
        (None, "203.0.113.9", True),
        ((), "203.0.113.9", True),
        (("192.0.2.0/24",), "192.0.2.77", True),
        (("192.0.2.0/24",), "192.0.3.1", False),
        (("192.0.2.5",), "192.0.2.5", True),
        (("192.0.2.5",), "192.0.2.6", False),
        # an IPv4 client seen through a dual-stack socket still matches its IPv4 entry
        (("192.0.2.0/24",), "::ffff:192.0.2.77", True),
        (("192.0.2.0/24",), "::ffff:198.51.100.1", False),
        (("2001:db8::/32",), "2001:db8:1::1", True),
        (("2001:db8::/32",), "2001:db9::1", False),
        # families never match each other, even for "any address" ranges
        (("0.0.0.0/0",), "2001:db8::1", False),
        (("::/0",), "192.0.2.1", False),
        (("192.0.2.0/24", "2001:db8::/32"), "2001:db8::5", True),
        # an address that cannot be parsed is never inside a whitelist (TK-3)
        (("192.0.2.0/24",), "not-an-address", False),
        (("192.0.2.0/24",), "", False),
        (("192.0.2.0/24",), "192.0.2.1:443", False),
    ],
)
def test_whitelist_admits_only_listed_client_addresses(
    whitelist: tuple[str, ...] | None, address: str, allowed: bool
) -> None:
    assert token(whitelist_ips=whitelist).allows_address(address) is allowed


# -- effective rights ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "token_acls", "effective"),
    [
        ({"list-accts", "passwd"}, None, {"list-accts", "passwd"}),
        ({"list-accts", "passwd"}, {"all"}, {"list-accts", "passwd"}),
        ({"all"}, {"list-accts"}, {"list-accts"}),
        ({"all"}, None, {"all"}),
        # TK-4: a token never grants what its owner lost
        ({"list-accts", "passwd"}, {"passwd", "create-acct"}, {"passwd"}),
        ({"list-accts"}, {"create-acct"}, set()),
        (set(), {"list-accts"}, set()),
    ],
)
def test_effective_acls_are_the_tokens_within_the_owners(
    owner: set[str], token_acls: set[str] | None, effective: set[str]
) -> None:
    given = None if token_acls is None else frozenset(token_acls)
    assert effective_acls(frozenset(owner), given) == frozenset(effective)


@pytest.mark.parametrize(
    ("owner", "token_acls", "restricted"),
    [
        ({"all"}, None, False),
        ({"all"}, {"all"}, False),
        ({"all"}, {"list-accts"}, True),
        ({"list-accts", "passwd"}, None, False),
        ({"list-accts", "passwd"}, {"all"}, False),
        ({"list-accts", "passwd"}, {"passwd", "list-accts"}, False),
        # a list wider than the owner's set grants exactly the owner's set
        ({"list-accts", "passwd"}, {"passwd", "list-accts", "cpanel-api"}, False),
        ({"list-accts", "passwd"}, {"passwd"}, True),
        ({"list-accts", "passwd"}, {"cpanel-api"}, True),
    ],
)
def test_a_token_restricts_when_it_grants_less_than_its_owner(
    owner: set[str], token_acls: set[str] | None, restricted: bool
) -> None:
    given = None if token_acls is None else frozenset(token_acls)
    assert restricts(frozenset(owner), given) is restricted


# -- validation of API arguments ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "ci", "deploy_key-2", "x" * 50, "UPPER_lower-09"])
def test_accepts_token_names_of_the_documented_alphabet(name: str) -> None:
    assert validate_token_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 51, "with space", "dot.name", "a:b", "é", "a\tb"])
def test_refuses_other_token_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="token name"):
        validate_token_name(name)


def test_refuses_a_token_name_with_a_trailing_newline() -> None:
    with pytest.raises(InvalidArgument):
        validate_token_name("ci\n")


@pytest.mark.parametrize("text", ["", "0"])
def test_empty_or_zero_expiry_means_never(text: str) -> None:
    assert parse_expires_at(text, NOW) is None


def test_a_future_unix_time_is_the_expiry() -> None:
    assert parse_expires_at(str(int(NOW) + 3600), NOW) == int(NOW) + 3600


@pytest.mark.parametrize("text", [str(int(NOW)), str(int(NOW) - 1), "1"])
def test_refuses_an_expiry_that_is_not_in_the_future(text: str) -> None:
    with pytest.raises(InvalidArgument, match="in the future"):
        parse_expires_at(text, NOW)


@pytest.mark.parametrize("text", ["-5", "1e10", "17672256000.5", " 1767229200", "9" * 13, "soon"])
def test_refuses_an_expiry_that_is_not_a_unix_time(text: str) -> None:
    with pytest.raises(InvalidArgument, match="Unix timestamp"):
        parse_expires_at(text, NOW)


def test_refuses_an_expiry_with_superscript_digits() -> None:
    with pytest.raises(InvalidArgument):
        parse_expires_at("9²", NOW)


def test_empty_whitelist_means_any_address() -> None:
    assert parse_whitelist([]) is None


def test_whitelist_entries_are_normalised_in_order_without_duplicates() -> None:
    entries = [
        " 192.0.2.7 ",
        "192.0.2.9/24",  # host bits dropped
        "192.0.2.0/24",  # the same range again
        "192.0.2.7",  # the same address again
        "2001:DB8::1",
        "::ffff:198.51.100.4",  # an IPv4-mapped address is stored as plain IPv4
        "::ffff:203.0.113.0/120",  # and a mapped range as the IPv4 range
    ]
    assert parse_whitelist(entries) == (
        "192.0.2.7",
        "192.0.2.0/24",
        "2001:db8::1",
        "198.51.100.4",
        "203.0.113.0/24",
    )


def test_a_normalised_mapped_entry_admits_the_ipv4_client() -> None:
    whitelist = parse_whitelist(["::ffff:203.0.113.0/120"])
    assert token(whitelist_ips=whitelist).allows_address("203.0.113.50")
    assert not token(whitelist_ips=whitelist).allows_address("203.0.114.50")


@pytest.mark.parametrize("entry", ["", "192.0.2.256", "example.com", "192.0.2.0/33", "any"])
def test_refuses_entries_that_are_not_addresses(entry: str) -> None:
    with pytest.raises(InvalidArgument, match="not an IP address or CIDR range"):
        parse_whitelist(["192.0.2.1", entry])


def test_refuses_more_than_100_whitelist_entries() -> None:
    exactly = [f"10.0.{i // 256}.{i % 256}" for i in range(MAX_WHITELIST_ENTRIES)]
    accepted = parse_whitelist(exactly)
    assert accepted is not None and len(accepted) == MAX_WHITELIST_ENTRIES
    with pytest.raises(InvalidArgument, match="At most 100"):
        parse_whitelist([*exactly, "10.1.0.0"])
