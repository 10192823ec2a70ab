"""The client address: TCP peer, or X-Forwarded-For from trusted proxies only (w§1.5, TR-4)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.protocol.addresses import (
    IPNetwork,
    client_address,
    normalize_address,
    parse_address,
)

PROXIES: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("2001:db8:ffff::/48"),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::FFFF:c000:0201", "192.0.2.1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::1", "::1"),
    ],
)
def test_parse_address_normalises(text: str, expected: str) -> None:
    assert str(parse_address(text)) == expected


def test_ipv4_mapped_address_becomes_an_ipv4_address() -> None:
    assert isinstance(parse_address("::ffff:203.0.113.7"), ipaddress.IPv4Address)


@pytest.mark.parametrize(
    "text", ["", "unknown", "203.0.113.7:443", "[2001:db8::1]", "256.0.0.1", "1.2.3", "a b"]
)
def test_parse_address_rejects_non_addresses(text: str) -> None:
    assert parse_address(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("::ffff:198.51.100.4", "198.51.100.4"), ("2001:0db8::0001", "2001:db8::1"), ("x y", "x y")],
)
def test_normalize_address_falls_back_to_the_text(text: str, expected: str) -> None:
    assert normalize_address(text) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # not a proxy: the header is ignored, whatever it says
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        ("203.0.113.7", None, "203.0.113.7"),
        ("::ffff:203.0.113.7", "10.0.0.9", "203.0.113.7"),
        # a trusted proxy without the header
        ("10.0.0.1", None, "10.0.0.1"),
        ("10.0.0.1", "", "10.0.0.1"),
        # a trusted proxy: the right-most untrusted hop
        ("10.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "6.6.6.6,198.51.100.1, 10.0.0.2 ,10.1.2.3", "198.51.100.1"),
        ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all trusted: the left-most
        ("::ffff:10.0.0.1", "198.51.100.1", "198.51.100.1"),  # mapped peer is normalised first
        ("10.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "2001:DB8::5", "2001:db8::5"),
        ("2001:db8:ffff::1", "198.51.100.1", "198.51.100.1"),
        ("2001:db8:ffff::1", "2001:db8:ffff::2, 2001:db8::9", "2001:db8::9"),
        # garbage stops the walk at the last address we can vouch for
        ("10.0.0.1", "198.51.100.1, garbage", "10.0.0.1"),
        ("10.0.0.1", "198.51.100.1, 10.0.0.2, 1.2.3.4:80", "10.0.0.1"),
        ("10.0.0.1", "garbage, 10.0.0.2", "10.0.0.2"),
        ("10.0.0.1", "garbage, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "198.51.100.1,", "10.0.0.1"),
    ],
)
def test_client_address_table(peer: str, forwarded_for: str | None, expected: str) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == expected


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    assert client_address("10.0.0.1", "198.51.100.1", ()) == "10.0.0.1"


@pytest.mark.parametrize(("peer", "expected"), [("", "unknown"), ("unix:/run/s", "unix:/run/s")])
def test_unparseable_peer_is_kept_and_the_header_ignored(peer: str, expected: str) -> None:
    assert client_address(peer, "198.51.100.1", PROXIES) == expected


def test_ipv6_network_never_matches_an_ipv4_hop() -> None:
    proxies: tuple[IPNetwork, ...] = (ipaddress.ip_network("::/0"),)
    assert client_address("10.0.0.1", "198.51.100.1", proxies) == "10.0.0.1"
    assert client_address("2001:db8::1", "198.51.100.1", proxies) == "198.51.100.1"


_UNTRUSTED = st.ip_addresses(v=4).filter(lambda a: a not in PROXIES[0])


@given(peer=_UNTRUSTED, header=st.text(max_size=60) | st.none())
def test_untrusted_peer_is_always_the_answer(
    peer: ipaddress.IPv4Address, header: str | None
) -> None:
    assert client_address(str(peer), header, PROXIES) == str(peer)


@given(
    hops=st.lists(st.ip_addresses().map(str) | st.text(max_size=8), max_size=6),
)
def test_trusted_peer_answer_is_the_peer_or_a_hop(hops: list[str]) -> None:
    answer = client_address("10.0.0.1", ",".join(hops), PROXIES)
    candidates = {"10.0.0.1"} | {normalize_address(hop) for hop in hops}
    assert answer in candidates
    assert parse_address(answer) is not None


@given(spoofed=st.lists(st.ip_addresses(v=4).map(str), max_size=4), real=_UNTRUSTED)
def test_hops_left_of_the_real_client_cannot_change_the_answer(
    spoofed: list[str], real: ipaddress.IPv4Address
) -> None:
    header = ", ".join([*spoofed, str(real), "10.9.9.9"])
    assert client_address("10.0.0.1", header, PROXIES) == str(real)
