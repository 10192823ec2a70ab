"""Operating brute-force protection: the use cases behind WHM API 1's cPHulk functions and
`panelauth hulk` (w§19.3). Root only; the callers check that.

Every change is a store write, so every worker and the command line see it at their next
request (the change signal, core/stores.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from panelauth.clock import Clock
from panelauth.core.hulk import (
    CONFIG_SETTING,
    MAX_USER_CHARS,
    Block,
    Failure,
    HulkConfig,
    ListEntry,
    ListName,
    address_key,
    parse_network,
    user_key,
)
from panelauth.core.stores import BruteForceStore
from panelauth.errors import InvalidArgument
from panelauth.protocol.addresses import parse_address

MAX_COMMENT_CHARS = 255
MAX_ENTRIES_PER_CALL = 1000


@dataclass
class ListChange:
    """What an add or remove did, entry by entry (cPanel's ips_added / ips_failed shape)."""

    done: list[str] = field(default_factory=list)  # normalised networks
    failed: dict[str, str] = field(default_factory=dict)  # as given -> why
    records_removed: int = 0  # failures and blocks forgotten (adding to the allow list)
    blocks_removed: int = 0  # of which address blocks (cPanel's ip_blocks_removed)


class BruteForceAdmin:
    def __init__(self, store: BruteForceStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # -- configuration ----------------------------------------------------------------------

    async def config(self) -> HulkConfig:
        return HulkConfig.from_json(await self._store.get_setting(CONFIG_SETTING))

    async def update(self, changes: dict[str, object]) -> HulkConfig:
        """Apply every change or none (InvalidArgument names the first bad key)."""
        config = await self.config()
        for key, value in changes.items():
            config = config.with_value(key, value)
        await self._store.set_setting(CONFIG_SETTING, config.to_json())
        return config

    async def set_enabled(self, enabled: bool) -> HulkConfig:
        return await self.update({"is_enabled": int(enabled)})

    # -- allow and deny lists ------------------------------------------------------------------

    async def entries(self, list_name: ListName) -> list[ListEntry]:
        view = await self._store.hulk_view()
        return [entry for entry in view.entries if entry.list_name is list_name]

    async def add(self, list_name: ListName, entries: Sequence[tuple[str, str]]) -> ListChange:
        """Add (network, comment) entries; those that do not parse are reported, not added.
        Adding to the allow list forgets the failures and blocks of what it covers (BF-5)."""
        _bounded(entries)
        for _, comment in entries:
            _comment(comment)  # a bad comment refuses the whole call, before anything is added
        change = ListChange()
        valid: list[tuple[str, str]] = []
        for given, comment in entries:
            try:
                network = str(parse_network(given))
                valid.append((network, comment))
                change.done.append(network)
            except InvalidArgument as invalid:
                change.failed[_shown(given)] = invalid.message
        if valid:
            await self._store.add_list_entries(list_name, valid, self._clock.now())
        if list_name is ListName.WHITE and valid:
            change.records_removed, change.blocks_removed = await self._forget_networks(
                network for network, _ in valid
            )
        return change

    async def remove(self, list_name: ListName, networks: Sequence[str]) -> ListChange:
        _bounded(networks)
        change = ListChange()
        normalised: list[str] = []
        for given in networks:
            try:
                normalised.append(str(parse_network(given)))
            except InvalidArgument as invalid:
                change.failed[_shown(given)] = invalid.message
        present = {entry.network for entry in await self.entries(list_name)}
        for network in normalised:
            if network in present:
                change.done.append(network)
            else:
                change.failed[network] = "The IP address is not on the list."
        if change.done:
            await self._store.delete_list_entries(list_name, change.done)
        return change

    async def is_allow_listed(self, address: str) -> bool:
        parsed = parse_address(address)
        if parsed is None:
            return False
        for entry in await self.entries(ListName.WHITE):
            network = ipaddress.ip_network(entry.network)
            if parsed.version == network.version and parsed in network:
                return True
        return False

    # -- blocks and history -------------------------------------------------------------------

    async def blocks(self) -> list[Block]:
        return await self._store.list_blocks(self._clock.now())

    async def history(self, *, limit: int = 1000) -> list[Failure]:
        """Remembered failures, newest first."""
        config = await self.config()
        since = self._clock.now() - config.lookback_period_min * 60.0
        return await self._store.failures_since(since, limit=limit)

    async def unblock(self, targets: Sequence[str]) -> int:
        """Lift the blocks of addresses (or CIDRs) and locks of user names, forgetting their
        failures; the number of records removed."""
        _bounded(targets)
        networks: list[str] = []
        users: list[str] = []
        for target in targets:
            text = target.strip()
            if _looks_like_address(text):
                networks.append(str(parse_network(text)))  # or a clear error, never a user
            else:
                users.append(user_key(_user_name(text)))
        removed, _ = await self._forget_networks(networks)
        if users:
            removed += await self._store.unblock((), users)
        return removed

    async def flush(self) -> int:
        return await self._store.flush_failures()

    async def _forget_networks(self, networks: Iterable[str]) -> tuple[int, int]:
        """Forget failures and blocks of every recorded address within `networks`: (records
        removed, of which address blocks)."""
        parsed = [ipaddress.ip_network(network) for network in networks]
        if not parsed:
            return 0, 0
        config = await self.config()
        keys: set[str] = set()
        for key, address in await self._store.recorded_address_keys():
            host = parse_address(address)
            if host is not None and any(
                host.version == net.version and host in net for net in parsed
            ):
                keys.add(key)
        # the key of each network's own address, for a block recorded under it
        for net in parsed:
            keys.add(address_key(str(net.network_address), config.ipv6_prefix_length))
        blocks = await self._store.list_blocks(self._clock.now())
        blocked = sum(1 for block in blocks if block.kind == "address" and block.key in keys)
        return await self._store.unblock(sorted(keys), ()), blocked


def _bounded(items: Sequence[object]) -> None:
    if not items:
        raise InvalidArgument("At least one IP address is required.")
    if len(items) > MAX_ENTRIES_PER_CALL:
        raise InvalidArgument(f"At most {MAX_ENTRIES_PER_CALL} entries at once.")


def _looks_like_address(text: str) -> bool:
    """An address or CIDR, however malformed (`127.000.000.001`, `300.1.1.1`, `fe80::1%eth0`):
    digits, dots and slashes only, or any colon (no user name has one)."""
    return ":" in text or (bool(text) and all(char.isdigit() or char in "./" for char in text))


def _user_name(text: str) -> str:
    if not text:
        raise InvalidArgument("An address or user name is required.")
    if len(text) > MAX_USER_CHARS or not text.isprintable() or any(c.isspace() for c in text):
        raise InvalidArgument("A user name is one word of at most 255 printable characters.")
    return text


def _comment(comment: str) -> str:
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidArgument(f"A comment has at most {MAX_COMMENT_CHARS} characters.")
    if any(not char.isprintable() for char in comment):
        raise InvalidArgument("A comment is one line of printable text.")
    return comment


def _shown(given: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in given[:64])
