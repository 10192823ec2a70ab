"""The client address: the TCP peer, or X-Forwarded-For from a trusted proxy only (w§1.5, TR-4).

With the PROXY protocol on, the client a trusted proxy names in its header stands for the TCP
peer, and X-Forwarded-For is not believed (server/proxy_protocol.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=4096)
def parse_address(text: str) -> IPAddress | None:
    """An IP address with IPv4-mapped IPv6 normalised to IPv4; None if not an address."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize_address(text: str) -> str:
    address = parse_address(text)
    return str(address) if address is not None else text


def client_address(
    peer: str, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]
) -> str:
    """The right-most untrusted hop, trusting X-Forwarded-For only when the peer is a proxy."""
    address = parse_address(peer)
    if address is None:
        return peer or "unknown"
    if not forwarded_for or not _trusted(address, trusted_proxies):
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        hop_address = parse_address(hop)
        if hop_address is None:
            break  # garbage in the chain: stop at the last address we can vouch for
        address = hop_address
        if not _trusted(hop_address, trusted_proxies):
            break
    return str(address)


def is_trusted(peer: str, networks: Sequence[IPNetwork]) -> bool:
    """`peer` (a TCP peer's address) is in one of `networks` (the trusted proxies)."""
    address = parse_address(peer)
    return address is not None and _trusted(address, networks)


def _trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in networks)
