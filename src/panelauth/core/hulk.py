"""The records of brute-force protection (w§19): cPHulk's configuration under its own key
names, the keys failures are counted under (BF-10), list entries, blocks and failures.

Plain data and pure functions; the guard that uses them is core/bruteforce.py.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import json
import re
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any, Final

from panelauth.errors import InvalidArgument
from panelauth.protocol.addresses import IPNetwork, parse_address

DAY: Final = 86_400.0
MAX_USER_CHARS: Final = 255  # longer claimed names are shown cut (the key hashes all of it)
CONFIG_SETTING: Final = "cphulk_config"  # the store setting that holds the configuration


class Method(enum.Enum):
    """How an attempt tried to authenticate (the failed-login history's `authservice`)."""

    PASSWORD = "password"
    API_TOKEN = "api_token"
    ACCESS_HASH = "access_hash"
    OTP = "otp"
    SESSION = "session"


class ListName(enum.Enum):
    WHITE = "white"  # never blocked or locked
    BLACK = "black"  # always refused


@dataclass(frozen=True)
class HulkConfig:
    """The configuration, under cPanel's key names (w§19.1); panelauth's defaults."""

    is_enabled: int = 1
    ip_based_protection: int = 1
    max_failures_byip: int = 5
    ip_brute_force_period_mins: int = 15
    mark_as_brute: int = 30
    username_based_protection: int = 1
    max_failures: int = 15
    brute_force_period_mins: int = 5
    username_based_protection_for_root: int = 1
    lookback_period_min: int = 360
    # panelauth's own: IPv6 addresses are counted per this prefix (BF-10)
    ipv6_prefix_length: int = 64
    # accepted and kept for compatibility; panelauth has no firewall hook or notifications
    block_brute_force_with_firewall: int = 0
    block_excessive_brute_force_with_firewall: int = 0
    notify_on_brute: int = 0
    notify_on_root_login: int = 0
    notify_on_root_login_for_known_netblock: int = 0
    username_based_protection_local_origin: int = 1
    command_to_run_on_brute_force: str = ""
    command_to_run_on_excessive_brute_force: str = ""

    @classmethod
    def from_json(cls, text: str | None) -> HulkConfig:
        """The stored configuration; unknown or invalid stored keys fall back to defaults."""
        if not text:
            return cls()
        try:
            stored = json.loads(text)
        except ValueError:
            return cls()
        config = cls()
        if isinstance(stored, dict):
            for key, value in stored.items():
                try:
                    config = config.with_value(str(key), value)
                except InvalidArgument:
                    continue
        return config

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def with_value(self, key: str, value: object) -> HulkConfig:
        """This configuration with `key` set, or InvalidArgument naming what is wrong."""
        key, value = config_value(key, value)
        if key not in _FIELDS:
            raise InvalidArgument(f"“{shown_user(key)[:64]}” is not a cPHulk configuration key.")
        if key in _TEXT_KEYS:
            text = str(value)
            if not text.isprintable() or len(text) > 1024:
                raise InvalidArgument(f"The value of “{key}” is not a single line of text.")
            changed: dict[str, Any] = {key: text}
            return replace(self, **changed)
        number = _integer(key, value)
        if key in _SWITCHES and number not in (0, 1):
            raise InvalidArgument(f"The value of “{key}” must be 0 or 1.")
        low, high = _RANGES.get(key, (0, 1_000_000))
        if not low <= number <= high:
            raise InvalidArgument(f"The value of “{key}” must be between {low} and {high}.")
        changed = {key: number}
        return replace(self, **changed)

    def for_api(self) -> dict[str, Any]:
        """`cphulk_config` as load_cphulk_config answers it (the `_sec` twins included)."""
        shown = asdict(self)  # panelauth's own ipv6_prefix_length included: it can be saved
        shown["brute_force_period_sec"] = self.brute_force_period_mins * 60
        shown["ip_brute_force_period_sec"] = self.ip_brute_force_period_mins * 60
        shown["lookback_time"] = self.lookback_period_min * 60
        shown["can_temp_ban_firewall"] = 0
        return dict(sorted(shown.items()))


_FIELDS = frozenset(field.name for field in fields(HulkConfig))
_TEXT_KEYS = frozenset({"command_to_run_on_brute_force", "command_to_run_on_excessive_brute_force"})
_SWITCHES = frozenset(
    {
        "is_enabled",
        "ip_based_protection",
        "username_based_protection",
        "username_based_protection_for_root",
        "block_brute_force_with_firewall",
        "block_excessive_brute_force_with_firewall",
        "notify_on_brute",
        "notify_on_root_login",
        "notify_on_root_login_for_known_netblock",
        "username_based_protection_local_origin",
    }
)
# BF-3: an account never takes more than 100 consecutive failures
_RANGES = {
    "max_failures": (1, 100),
    "max_failures_byip": (1, 100),
    "mark_as_brute": (1, 10_000),
    "brute_force_period_mins": (1, 1440),
    "ip_brute_force_period_mins": (1, 1440),
    "lookback_period_min": (1, 43_200),
    "ipv6_prefix_length": (32, 128),
}
# the seconds forms set_cphulk_config_key also takes: (minutes key, seconds per unit)
_CONFIG_ALIASES = {
    "brute_force_period_sec": ("brute_force_period_mins", 60),
    "ip_brute_force_period_sec": ("ip_brute_force_period_mins", 60),
    "lookback_time": ("lookback_period_min", 60),
}


def config_value(key: str, value: object) -> tuple[str, object]:
    """(the stored key, value) for an API key, converting the seconds forms to minutes."""
    alias = _CONFIG_ALIASES.get(key)
    if alias is None:
        return key, value
    minutes_key, unit = alias
    seconds = _integer(key, value)
    if seconds % unit:
        raise InvalidArgument(f"The value of “{key}” must be a whole number of minutes.")
    return minutes_key, seconds // unit


def _integer(key: str, value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        raise InvalidArgument(f"The value of “{key}” must be a whole number.")
    return int(text)


_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")


# -- keys and addresses (BF-10) ---------------------------------------------------------------


@lru_cache(maxsize=8192)
def address_key(address: str, ipv6_prefix: int = 64) -> str:
    """The key failures of `address` are counted under: `ip4:a.b.c.d` or `ip6:<net>/<prefix>`
    (IPv4-mapped IPv6 counts as IPv4); anything else is hashed under `raw:`."""
    parsed = parse_address(address)
    if parsed is None:
        return "raw:" + hashlib.sha256(address.encode("utf-8", "replace")).hexdigest()[:32]
    if parsed.version == 4:
        return f"ip4:{parsed}"
    network = ipaddress.IPv6Network((int(parsed), 128)).supernet(new_prefix=ipv6_prefix)
    return f"ip6:{network}"


@lru_cache(maxsize=8192)
def user_key(user: str) -> str:
    """The key an account's failures are counted under: its name folded, hashed and namespaced,
    so an unknown name is counted exactly like a real one (BF-8) and no name collides with
    another kind of key (BF-10)."""
    folded = user.strip().lower().encode("utf-8", "replace")
    return "user:" + hashlib.sha256(folded).hexdigest()[:40]


def shown_user(user: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in user[:MAX_USER_CHARS])


def shown_network(network: str) -> str:
    """A stored network as panelauth shows it: a single address without /32 or /128."""
    try:
        parsed = ipaddress.ip_network(network)
    except ValueError:
        return network
    if parsed.prefixlen == parsed.max_prefixlen:
        return str(parsed.network_address)
    return str(parsed)


_PREFIX = re.compile(r"0|[1-9][0-9]{0,2}")


def parse_network(text: str) -> IPNetwork:
    """An allow/deny list entry: an IPv4 or IPv6 address or CIDR, or InvalidArgument.

    Zero-padded IPv4 (ambiguous: octal to some parsers) and host bits set under a prefix are
    refused rather than guessed; an IPv4-mapped IPv6 address is its IPv4 address.
    """
    raw = text.strip()
    invalid = InvalidArgument(f"Invalid IP address or range: “{shown_user(raw)[:64]}”")
    if not raw or len(raw) > 64 or not raw.isascii() or not raw.isprintable():
        raise invalid
    host, slash, prefix = raw.partition("/")
    address = parse_address(host) if "%" not in host else None
    if address is None:
        raise invalid
    if not slash:
        return ipaddress.ip_network(address)
    if not _PREFIX.fullmatch(prefix):  # digits only, no zero padding
        raise invalid
    try:
        return ipaddress.ip_network(f"{address}/{int(prefix)}", strict=True)
    except ValueError:
        raise invalid from None


# -- what the store keeps -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListEntry:
    list_name: ListName
    network: str  # the normalised CIDR, e.g. 192.0.2.0/24, 2001:db8::1/128
    comment: str
    created_at: float


@dataclass(frozen=True, slots=True)
class HulkView:
    """Everything the guard needs on every request, served as one cached object."""

    config_json: str | None
    entries: tuple[ListEntry, ...]


@dataclass(frozen=True, slots=True)
class AddressStanding:
    """What is recorded against one address key (an ip4 address or an ip6 /64)."""

    blocked_until: float = 0.0
    failures: int = 0  # failures remembered (the lookback window), any user
    root_seen_at: float = 0.0  # the last root success from this address
    # the user keys those failures were for; None when there are more than FAILING_USERS_SHOWN
    failing_users: frozenset[str] | None = frozenset()

    def has_failures_of(self, user_key: str) -> bool:
        """Whether a success of `user_key` has failures to clear (BF-6): a success of anyone
        else from the same address writes nothing."""
        return self.failures > 0 and (self.failing_users is None or user_key in self.failing_users)


FAILING_USERS_SHOWN: Final = 64


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed (or reserved) attempt, as the history shows it."""

    address_key: str
    address: str
    user_key: str
    user: str
    service: str
    method: Method
    at: float


@dataclass(frozen=True, slots=True)
class Limits:
    """The thresholds of one decision, in seconds and counts, from the configuration."""

    address_window: float  # ip_brute_force_period_mins
    address_limit: int  # max_failures_byip; 0 = not counted per address
    address_block: float
    brute_window: float  # lookback_period_min
    brute_limit: int  # mark_as_brute
    brute_block: float  # one day
    user_window: float  # brute_force_period_mins
    user_limit: int  # max_failures; 0 = not counted per account
    user_lock: float  # 15 minutes


@dataclass(frozen=True, slots=True)
class BlockOrder:
    """A block or lock that counted failures call for (`blocks_due`)."""

    kind: str  # "address" or "user"
    until: float
    excessive: bool  # mark_as_brute: the one-day block

    def key(self, failure: Failure) -> str:
        return failure.address_key if self.kind == "address" else failure.user_key

    def shown(self, failure: Failure) -> str:
        return failure.address if self.kind == "address" else failure.user

    @property
    def notes(self) -> str:
        if self.excessive:
            return "excessive failures from this address"
        return (
            "too many failures from this address" if self.kind == "address" else "too many failures"
        )


def blocks_due(
    limits: Limits, now: float, *, recent: int, remembered: int, user_failures: int
) -> tuple[BlockOrder, ...]:
    """What a failure at `now` leads to, given the address's failures within its window
    (`recent`) and within the lookback (`remembered`), and the account's within its window."""
    orders = []
    if limits.address_limit and recent >= limits.address_limit:
        orders.append(BlockOrder("address", now + limits.address_block, False))
    if limits.brute_limit and remembered >= limits.brute_limit:
        orders.append(BlockOrder("address", now + limits.brute_block, True))
    if limits.user_limit and user_failures >= limits.user_limit:
        orders.append(BlockOrder("user", now + limits.user_lock, False))
    return tuple(orders)


@dataclass(frozen=True, slots=True)
class Block:
    kind: str  # "address" or "user"
    key: str
    shown: str  # the address or user name as recorded
    blocked_at: float
    until: float
    excessive: bool  # mark_as_brute: the one-day block
    service: str
    method: str
    notes: str
