"""SQLite tables of brute-force protection (w§19): failures, blocks, lists, root's addresses.

Counting and blocking happen inside one `BEGIN IMMEDIATE` transaction, so parallel attempts of
every worker are serialised by SQLite's write lock: none is lost at a window's edge and none
slips past a limit (BF-4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from panelauth.backends import records
from panelauth.backends.sqlite_base import SqliteBase
from panelauth.backends.sqlite_cache import MISSING
from panelauth.core.hulk import (
    CONFIG_SETTING,
    FAILING_USERS_SHOWN,
    AddressStanding,
    Block,
    BlockOrder,
    Failure,
    HulkView,
    Limits,
    ListEntry,
    ListName,
    blocks_due,
)

_FAILURE_COLUMNS = "address_key, address, user_key, user, service, method, at"


class BruteForceTables(SqliteBase):
    async def hulk_view(self) -> HulkView:
        self._fresh()
        view = self._hulk_view
        if view is not None:
            return view
        config = self._read("SELECT value FROM settings WHERE key = ?", (CONFIG_SETTING,))
        rows = self._read(
            "SELECT list_name, network, comment, created_at FROM hulk_lists "
            "ORDER BY list_name, network"
        )
        view = HulkView(
            config_json=str(config[0][0]) if config else None,
            entries=tuple(ListEntry(ListName(row[0]), row[1], row[2], row[3]) for row in rows),
        )
        if self._caching:
            self._hulk_view = view
        return view

    async def address_standing(
        self, address_key: str, now: float, lookback: float
    ) -> AddressStanding:
        self._fresh()
        cached = self._standing_cache.get(address_key)
        if cached is not MISSING:
            return cached
        row = self._read(
            "SELECT "
            "(SELECT max(until) FROM hulk_blocks WHERE kind = 'address' AND key = ?1), "
            "(SELECT count(*) FROM hulk_failures WHERE address_key = ?1 AND at > ?2), "
            "(SELECT seen_at FROM hulk_root_addresses WHERE address_key = ?1)",
            (address_key, now - lookback),
        )[0]
        failures = int(row[1])
        users: frozenset[str] | None = frozenset()
        if failures:
            found = self._read(
                "SELECT DISTINCT user_key FROM hulk_failures WHERE address_key = ? AND at > ? "
                "LIMIT ?",
                (address_key, now - lookback, FAILING_USERS_SHOWN + 1),
            )
            users = frozenset(str(r[0]) for r in found)
            if len(users) > FAILING_USERS_SHOWN:
                users = None  # too many to list: every success clears its own pair
        standing = AddressStanding(
            blocked_until=float(row[0] or 0.0),
            failures=failures,
            root_seen_at=float(row[2] or 0.0),
            failing_users=users,
        )
        self._standing_cache.put(address_key, standing)
        return standing

    async def user_locked_until(self, user_key: str) -> float:
        self._fresh()
        cached = self._lock_cache.get(user_key)
        if cached is not MISSING:
            return cached
        rows = self._read(
            "SELECT until FROM hulk_blocks WHERE kind = 'user' AND key = ?", (user_key,)
        )
        until = float(rows[0][0]) if rows else 0.0
        self._lock_cache.put(user_key, until)
        return until

    async def reserve_attempt(self, failure: Failure, limits: Limits, *, per_user: bool) -> bool:
        self._forget(failure)
        with self._write(flush=False) as db:
            now = failure.at
            if _blocked(db, "address", failure.address_key, now):
                return False
            if (
                limits.address_limit
                and _count(db, "address_key", failure.address_key, now - limits.address_window)
                >= limits.address_limit
            ):
                return False
            if per_user and limits.user_limit:
                if _blocked(db, "user", failure.user_key, now):
                    return False
                since = now - limits.user_window
                if _count(db, "user_key", failure.user_key, since) >= limits.user_limit:
                    return False
            _insert(db, failure)
            return True

    async def record_failure(self, failure: Failure, limits: Limits, *, recorded: bool) -> None:
        self._forget(failure)
        with self._write(flush=False) as db:
            now = failure.at
            if not recorded:
                _insert(db, failure)
            key = failure.address_key
            orders = blocks_due(
                limits,
                now,
                recent=_count(db, "address_key", key, now - limits.address_window),
                remembered=_count(db, "address_key", key, now - limits.brute_window),
                user_failures=(
                    _count(db, "user_key", failure.user_key, now - limits.user_window)
                    if limits.user_limit
                    else 0
                ),
            )
            _settle(db, failure, orders)
            # what no window can count any more is forgotten
            horizon = now - max(limits.brute_window, limits.address_window, limits.user_window)
            db.execute("DELETE FROM hulk_failures WHERE at <= ?", (horizon,))

    async def settle_blocks(self, failure: Failure, orders: Sequence[BlockOrder]) -> None:
        """Forget ended blocks, then impose `orders` (failures counted elsewhere: Redis)."""
        self._forget(failure)
        with self._write(flush=False) as db:
            _settle(db, failure, orders)

    async def clear_failures(self, address_key: str, user_key: str) -> None:
        self._standing_cache.evict(address_key)
        self._change(
            "DELETE FROM hulk_failures WHERE address_key = ? AND user_key = ?",
            (address_key, user_key),
            flush=False,
        )

    async def remember_root_address(self, address_key: str, at: float) -> None:
        self._standing_cache.evict(address_key)
        self._change(
            "INSERT INTO hulk_root_addresses (address_key, seen_at) VALUES (?, ?) "
            "ON CONFLICT (address_key) DO UPDATE SET seen_at = excluded.seen_at",
            (address_key, at),
            flush=False,
        )

    # -- operating it -----------------------------------------------------------------------

    async def list_blocks(self, now: float) -> list[Block]:
        rows = self._read(
            "SELECT kind, key, shown, blocked_at, until, excessive, service, method, notes "
            "FROM hulk_blocks WHERE until > ? ORDER BY kind, shown",
            (now,),
        )
        return [
            Block(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], row[8])
            for row in rows
        ]

    async def insert_block(self, block: Block) -> None:
        if block.kind == "address":
            self._standing_cache.evict(block.key)
        else:
            self._lock_cache.evict(block.key)
        with self._write(flush=False) as db:
            db.execute(
                "INSERT INTO hulk_blocks (kind, key, shown, blocked_at, until, excessive, service, "
                "method, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    block.kind,
                    block.key,
                    block.shown,
                    block.blocked_at,
                    block.until,
                    int(block.excessive),
                    block.service,
                    block.method,
                    block.notes,
                ),
            )

    async def failures_since(self, since: float, *, limit: int) -> list[Failure]:
        rows = self._read(
            f"SELECT {_FAILURE_COLUMNS} FROM hulk_failures WHERE at > ? ORDER BY at DESC, id DESC "
            "LIMIT ?",
            (since, limit),
        )
        return [
            Failure(row[0], row[1], row[2], row[3], row[4], records.method(row[5]), row[6])
            for row in rows
        ]

    async def unblock(self, address_keys: Sequence[str], user_keys: Sequence[str]) -> int:
        removed = 0
        with self._write() as db:
            for key in address_keys:
                removed += db.execute(
                    "DELETE FROM hulk_failures WHERE address_key = ?", (key,)
                ).rowcount
                removed += db.execute(
                    "DELETE FROM hulk_blocks WHERE kind = 'address' AND key = ?", (key,)
                ).rowcount
            for key in user_keys:
                removed += db.execute(
                    "DELETE FROM hulk_failures WHERE user_key = ?", (key,)
                ).rowcount
                removed += db.execute(
                    "DELETE FROM hulk_blocks WHERE kind = 'user' AND key = ?", (key,)
                ).rowcount
        return removed

    async def recorded_address_keys(self) -> list[tuple[str, str]]:
        """(address key, address) of every address with failures or a block."""
        rows = self._read(
            "SELECT DISTINCT address_key, address FROM hulk_failures "
            "UNION SELECT key, shown FROM hulk_blocks WHERE kind = 'address'"
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def flush_failures(self) -> int:
        with self._write() as db:
            removed = db.execute("DELETE FROM hulk_failures").rowcount
            removed += db.execute("DELETE FROM hulk_blocks").rowcount
        return int(removed)

    async def add_list_entries(
        self, list_name: ListName, entries: Sequence[tuple[str, str]], now: float
    ) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT INTO hulk_lists (list_name, network, comment, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (list_name, network) DO UPDATE SET "
                "comment = excluded.comment",
                [(list_name.value, network, comment, now) for network, comment in entries],
            )

    async def delete_list_entries(self, list_name: ListName, networks: Sequence[str]) -> int:
        removed = 0
        with self._write() as db:
            for network in networks:
                removed += db.execute(
                    "DELETE FROM hulk_lists WHERE list_name = ? AND network = ?",
                    (list_name.value, network),
                ).rowcount
        return removed

    def _forget(self, failure: Failure) -> None:
        """Evict what a failure can change in this worker's cache (others see the signal)."""
        self._standing_cache.evict(failure.address_key)
        self._lock_cache.evict(failure.user_key)


def _count(db: sqlite3.Connection, column: str, key: str, since: float) -> int:
    # `column` is one of two literals chosen by the callers above, never input
    sql = f"SELECT count(*) FROM hulk_failures WHERE {column} = ? AND at > ?"
    return int(db.execute(sql, (key, since)).fetchone()[0])


def _blocked(db: sqlite3.Connection, kind: str, key: str, now: float) -> bool:
    row = db.execute(
        "SELECT 1 FROM hulk_blocks WHERE kind = ? AND key = ? AND until > ?", (kind, key, now)
    ).fetchone()
    return row is not None


def _insert(db: sqlite3.Connection, failure: Failure) -> None:
    db.execute(
        f"INSERT INTO hulk_failures ({_FAILURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            failure.address_key,
            failure.address,
            failure.user_key,
            failure.user,
            failure.service,
            failure.method.value,
            failure.at,
        ),
    )


def _settle(db: sqlite3.Connection, failure: Failure, orders: Sequence[BlockOrder]) -> None:
    """Ended blocks go first; then each order blocks (or extends a block): a shorter block
    never shortens a longer one."""
    db.execute("DELETE FROM hulk_blocks WHERE until <= ?", (failure.at,))
    for order in orders:
        db.execute(
            "INSERT INTO hulk_blocks (kind, key, shown, blocked_at, until, excessive, service, "
            "method, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE "
            "SET until = max(until, excluded.until), "
            "excessive = max(excessive, excluded.excessive), "
            "notes = CASE WHEN excluded.until > until THEN excluded.notes ELSE notes END",
            (
                order.kind,
                order.key(failure),
                order.shown(failure),
                failure.at,
                order.until,
                int(order.excessive),
                failure.service,
                failure.method.value,
                order.notes,
            ),
        )
