"""API tokens and access hashes: formats, digests, validation and effective rights (w§11, w§12).

Tokens are 32 characters [A-Z0-9] from a CSPRNG (about 165 bits), shown once, stored only as
their SHA-512 hex digest and compared digest-to-digest in constant time (TK-1). Verification is
one SHA-512 and one indexed lookup: no slow hash, no store write per request.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import re
import secrets
import string
from dataclasses import dataclass

from panelauth.errors import InvalidArgument

TOKEN_ALPHABET = string.ascii_uppercase + string.digits
TOKEN_LENGTH = 32
# used with fullmatch: `$` would also accept a trailing newline
TOKEN_FORMAT = re.compile(r"[A-Z0-9]{32}")
TOKEN_NAME = re.compile(r"[A-Za-z0-9_-]{1,50}")
_UNIX_TIME = re.compile(r"[0-9]{1,12}")
MAX_WHITELIST_ENTRIES = 100

ACCESS_HASH_LINES = 30
ACCESS_HASH_LINE_HEX = 32
_WHITESPACE = re.compile(r"\s+")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TokenKind(enum.Enum):
    WHM = "whm"
    CPANEL = "cpanel"


@dataclass(frozen=True, slots=True)
class ApiToken:
    owner: str
    kind: TokenKind
    name: str
    digest: str
    created_at: int
    expires_at: int | None = None  # None: never expires
    acls: frozenset[str] | None = None  # None: the owner's full rights
    whitelist_ips: tuple[str, ...] | None = None  # None: any address

    @property
    def has_full_access(self) -> bool:
        return self.acls is None or "all" in self.acls

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def allows_address(self, address: str) -> bool:
        """Whether the real client address (w§1.5) falls inside the whitelist (TK-3)."""
        if not self.whitelist_ips:
            return True
        try:
            client = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
            client = client.ipv4_mapped
        for entry in self.whitelist_ips:
            network = ipaddress.ip_network(entry, strict=False)
            if network.version == client.version and client in network:
                return True
        return False


def generate_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def digest(secret: str) -> str:
    """SHA-512 hex of a token or access hash with all whitespace removed (w§2.2, w§12)."""
    if not (secret.isascii() and secret.isalnum()):  # a token's letters and digits: nothing to
        secret = _WHITESPACE.sub("", secret)  # remove, and the checks cost less than the regex
    return hashlib.sha512(secret.encode("utf-8", "surrogatepass")).hexdigest()


def generate_access_hash() -> str:
    """30 lines of 32 lowercase hex characters, each ending in a newline (w§12)."""
    return "".join(
        secrets.token_hex(ACCESS_HASH_LINE_HEX // 2) + "\n" for _ in range(ACCESS_HASH_LINES)
    )


def effective_acls(owner_acls: frozenset[str], token_acls: frozenset[str] | None) -> frozenset[str]:
    """The token's ACLs intersected with the owner's current ACLs (w§11.2, TK-4)."""
    if token_acls is None or "all" in token_acls:
        return owner_acls
    if "all" in owner_acls:
        return token_acls
    return owner_acls & token_acls


def restricts(owner_acls: frozenset[str], token_acls: frozenset[str] | None) -> bool:
    """Whether a token's ACL list narrows its owner's rights: neither `all` nor the owner's set.

    Compared on the effective rights (w§16.4), so a list that names every ACL the owner holds
    today is not restricted, and becomes so when the owner gains one the list lacks.
    """
    return effective_acls(owner_acls, token_acls) != owner_acls


def validate_token_name(name: str) -> str:
    if not TOKEN_NAME.fullmatch(name):
        raise InvalidArgument(
            "The token name must be 1 to 50 characters: letters, digits, “_” or “-”."
        )
    return name


def parse_expires_at(text: str, now: float) -> int | None:
    """`expires_at`: Unix time in the future, or 0/empty for never (w§11.1)."""
    if text in ("", "0"):
        return None
    if not _UNIX_TIME.fullmatch(text):  # ASCII digits only (str.isdigit takes "²" and "٣")
        raise InvalidArgument("The “expires_at” parameter must be a Unix timestamp.")
    value = int(text)
    if value <= now:
        raise InvalidArgument("The “expires_at” parameter must be in the future.")
    return value


def parse_whitelist(entries: list[str]) -> tuple[str, ...] | None:
    """IPv4, IPv6 or CIDR entries, normalised; None for an empty list."""
    if len(entries) > MAX_WHITELIST_ENTRIES:
        raise InvalidArgument(f"At most {MAX_WHITELIST_ENTRIES} IP addresses are allowed.")
    networks: list[str] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise InvalidArgument(f"“{entry[:64]}” is not an IP address or CIDR range.") from None
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
            mapped = network.network_address.ipv4_mapped
            network = ipaddress.ip_network(
                f"{mapped}/{max(network.prefixlen - 96, 0)}", strict=False
            )
        text = str(network) if "/" in entry else str(network.network_address)
        if text not in networks:
            networks.append(text)
    return tuple(networks) or None
