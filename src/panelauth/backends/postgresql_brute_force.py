"""PostgreSQL tables of brute-force protection (w§19): failures, blocks, lists, root's
addresses (the SQLite twin: sqlite_brute_force.py).

Counting and blocking happen in one transaction that first takes advisory locks: the address
key's and the account key's (exclusive: two workers counting the same address or account
take turns, so none slips past a limit, BF-4) and, shared, the lock of the whole history,
which the operator's bulk writes (unblock, flush) take exclusively. Forgetting what no window
counts any more skips rows another transaction holds (`FOR UPDATE SKIP LOCKED`): it never
waits, so it can never deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from panelauth.backends import records
from panelauth.backends.postgresql_base import Connection, PostgresqlBase
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

_FAILURE_COLUMNS = "address_key, address, user_key, user_name, service, method, at"


class BruteForceTables(PostgresqlBase):
    async def hulk_view(self) -> HulkView:
        async def load() -> HulkView:
            config = await self._read(
                "SELECT value FROM settings WHERE key = %s", (CONFIG_SETTING,)
            )
            rows = await self._read(
                "SELECT list_name, network, comment, created_at FROM hulk_lists "
                "ORDER BY list_name, network"
            )
            return HulkView(
                config_json=str(config[0][0]) if config else None,
                entries=tuple(ListEntry(ListName(r[0]), r[1], r[2], r[3]) for r in rows),
            )

        return await self._cached(self._view_cache, None, load)

    async def address_standing(
        self, address_key: str, now: float, lookback: float
    ) -> AddressStanding:
        async def load() -> AddressStanding:
            row = (
                await self._read(
                    "SELECT "
                    "(SELECT max(until) FROM hulk_blocks "
                    "WHERE kind = 'address' AND key = %(key)s), "
                    "(SELECT count(*) FROM hulk_failures "
                    "WHERE address_key = %(key)s AND at > %(since)s), "
                    "(SELECT seen_at FROM hulk_root_addresses WHERE address_key = %(key)s), "
                    "ARRAY(SELECT DISTINCT user_key FROM hulk_failures "
                    "WHERE address_key = %(key)s AND at > %(since)s LIMIT %(shown)s)",
                    {"key": address_key, "since": now - lookback, "shown": FAILING_USERS_SHOWN + 1},
                )
            )[0]
            users: frozenset[str] | None = frozenset(row[3])
            if len(row[3]) > FAILING_USERS_SHOWN:
                users = None  # too many to list: every success clears its own pair
            return AddressStanding(
                blocked_until=float(row[0] or 0.0),
                failures=int(row[1]),
                root_seen_at=float(row[2] or 0.0),
                failing_users=users,
            )

        return await self._cached(self._standing_cache, address_key, load)

    async def user_locked_until(self, user_key: str) -> float:
        async def load() -> float:
            rows = await self._read(
                "SELECT until FROM hulk_blocks WHERE kind = 'user' AND key = %s", (user_key,)
            )
            return float(rows[0][0]) if rows else 0.0

        return await self._cached(self._lock_cache, user_key, load)

    async def reserve_attempt(self, failure: Failure, limits: Limits, *, per_user: bool) -> bool:
        per_user = per_user and bool(limits.user_limit)
        async with self._transaction(forget=self._forgetter(failure)) as db:
            keys = [("address", failure.address_key)]
            if per_user:
                keys.append(("user", failure.user_key))
            await self._lock(db, keys)
            now = failure.at
            if await _blocked(db, "address", failure.address_key, now):
                return False
            if (
                limits.address_limit
                and await _count(
                    db, "address_key", failure.address_key, now - limits.address_window
                )
                >= limits.address_limit
            ):
                return False
            if per_user:
                if await _blocked(db, "user", failure.user_key, now):
                    return False
                since = now - limits.user_window
                if await _count(db, "user_key", failure.user_key, since) >= limits.user_limit:
                    return False
            await _insert(db, failure)
            return True

    async def record_failure(self, failure: Failure, limits: Limits, *, recorded: bool) -> None:
        async with self._transaction(forget=self._forgetter(failure)) as db:
            await self._lock(db, [("address", failure.address_key), ("user", failure.user_key)])
            now = failure.at
            if not recorded:
                await _insert(db, failure)
            key = failure.address_key
            orders = blocks_due(
                limits,
                now,
                recent=await _count(db, "address_key", key, now - limits.address_window),
                remembered=await _count(db, "address_key", key, now - limits.brute_window),
                user_failures=(
                    await _count(db, "user_key", failure.user_key, now - limits.user_window)
                    if limits.user_limit
                    else 0
                ),
            )
            await _settle(db, failure, orders)
            # what no window can count any more is forgotten
            horizon = now - max(limits.brute_window, limits.address_window, limits.user_window)
            await db.execute(
                "DELETE FROM hulk_failures WHERE id IN (SELECT id FROM hulk_failures "
                "WHERE at <= %s FOR UPDATE SKIP LOCKED)",
                (horizon,),
            )

    async def settle_blocks(self, failure: Failure, orders: Sequence[BlockOrder]) -> None:
        """Forget ended blocks, then impose `orders` (failures counted elsewhere: Redis)."""
        async with self._transaction(forget=self._forgetter(failure)) as db:
            await self._lock(db, [("address", failure.address_key), ("user", failure.user_key)])
            await _settle(db, failure, orders)

    async def clear_failures(self, address_key: str, user_key: str) -> None:
        async with self._transaction(forget=lambda: self._standing_cache.evict(address_key)) as db:
            await self._lock(db, [("address", address_key), ("user", user_key)])
            await db.execute(
                "DELETE FROM hulk_failures WHERE address_key = %s AND user_key = %s",
                (address_key, user_key),
            )

    async def remember_root_address(self, address_key: str, at: float) -> None:
        await self._change(
            "INSERT INTO hulk_root_addresses (address_key, seen_at) VALUES (%s, %s) "
            "ON CONFLICT (address_key) DO UPDATE SET seen_at = excluded.seen_at",
            (address_key, at),
            forget=lambda: self._standing_cache.evict(address_key),
        )

    # -- operating it -----------------------------------------------------------------------

    async def list_blocks(self, now: float) -> list[Block]:
        rows = await self._read(
            "SELECT kind, key, shown, blocked_at, until, excessive, service, method, notes "
            "FROM hulk_blocks WHERE until > %s ORDER BY kind, shown",
            (now,),
        )
        return [
            Block(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], row[8])
            for row in rows
        ]

    async def insert_block(self, block: Block) -> None:
        def forget() -> None:
            if block.kind == "address":
                self._standing_cache.evict(block.key)
            else:
                self._lock_cache.evict(block.key)

        await self._change(
            "INSERT INTO hulk_blocks (kind, key, shown, blocked_at, until, excessive, service, "
            "method, notes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                block.kind,
                block.key,
                block.shown,
                block.blocked_at,
                block.until,
                block.excessive,
                block.service,
                block.method,
                block.notes,
            ),
            forget=forget,
        )

    async def failures_since(self, since: float, *, limit: int) -> list[Failure]:
        rows = await self._read(
            f"SELECT {_FAILURE_COLUMNS} FROM hulk_failures WHERE at > %s "
            "ORDER BY at DESC, id DESC LIMIT %s",
            (since, limit),
        )
        return [
            Failure(row[0], row[1], row[2], row[3], row[4], records.method(row[5]), row[6])
            for row in rows
        ]

    async def unblock(self, address_keys: Sequence[str], user_keys: Sequence[str]) -> int:
        removed = 0
        async with self._transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id("hulk"),))
            for column, kind, keys in (
                ("address_key", "address", address_keys),
                ("user_key", "user", user_keys),
            ):
                for key in keys:
                    # `column` is one of two literals above, never input
                    cursor = await db.execute(
                        f"DELETE FROM hulk_failures WHERE {column} = %s", (key,)
                    )
                    removed += cursor.rowcount
                    cursor = await db.execute(
                        "DELETE FROM hulk_blocks WHERE kind = %s AND key = %s", (kind, key)
                    )
                    removed += cursor.rowcount
        return removed

    async def recorded_address_keys(self) -> list[tuple[str, str]]:
        """(address key, address) of every address with failures or a block."""
        rows = await self._read(
            "SELECT DISTINCT address_key, address FROM hulk_failures "
            "UNION SELECT key, shown FROM hulk_blocks WHERE kind = 'address'"
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def flush_failures(self) -> int:
        async with self._transaction() as db:
            await db.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id("hulk"),))
            removed = (await db.execute("DELETE FROM hulk_failures")).rowcount
            removed += (await db.execute("DELETE FROM hulk_blocks")).rowcount
        return removed

    async def add_list_entries(
        self, list_name: ListName, entries: Sequence[tuple[str, str]], now: float
    ) -> None:
        async with self._transaction() as db, db.cursor() as cursor:
            # in one order, so two operators' overlapping changes never deadlock
            await cursor.executemany(
                "INSERT INTO hulk_lists (list_name, network, comment, created_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (list_name, network) DO UPDATE SET "
                "comment = excluded.comment",
                [
                    (list_name.value, network, comment, now)
                    for network, comment in sorted(entries, key=lambda entry: entry[0])
                ],
            )

    async def delete_list_entries(self, list_name: ListName, networks: Sequence[str]) -> int:
        removed = 0
        async with self._transaction() as db:
            for network in sorted(networks):
                cursor = await db.execute(
                    "DELETE FROM hulk_lists WHERE list_name = %s AND network = %s",
                    (list_name.value, network),
                )
                removed += cursor.rowcount
        return removed

    async def _lock(self, db: Connection, keys: list[tuple[str, str]]) -> None:
        """Hold the whole history's lock (shared), then these keys' (exclusive, in one order
        for every worker), until the transaction ends."""
        ids = sorted(self._lock_id("hulk", kind, key) for kind, key in keys)
        await db.execute(
            "SELECT pg_advisory_xact_lock_shared(%s) "
            "UNION ALL SELECT pg_advisory_xact_lock(id) FROM unnest(%s::bigint[]) AS id",
            (self._lock_id("hulk"), ids),
        )

    def _forgetter(self, failure: Failure) -> Callable[[], None]:
        """What a failure can change in this worker's cache (others see the notice)."""

        def forget() -> None:
            self._standing_cache.evict(failure.address_key)
            self._lock_cache.evict(failure.user_key)

        return forget


async def _count(db: Connection, column: str, key: str, since: float) -> int:
    # `column` is one of two literals chosen by the callers above, never input
    cursor = await db.execute(
        f"SELECT count(*) FROM hulk_failures WHERE {column} = %s AND at > %s", (key, since)
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _blocked(db: Connection, kind: str, key: str, now: float) -> bool:
    cursor = await db.execute(
        "SELECT 1 FROM hulk_blocks WHERE kind = %s AND key = %s AND until > %s", (kind, key, now)
    )
    return await cursor.fetchone() is not None


async def _insert(db: Connection, failure: Failure) -> None:
    await db.execute(
        f"INSERT INTO hulk_failures ({_FAILURE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
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


async def _settle(db: Connection, failure: Failure, orders: Sequence[BlockOrder]) -> None:
    """Ended blocks go first: this failure's pair's (under its locks), then any nobody holds;
    then each order blocks (or extends a block): a shorter block never shortens a longer one."""
    await db.execute(
        "DELETE FROM hulk_blocks WHERE until <= %(now)s AND ("
        "(kind = 'address' AND key = %(address)s) OR (kind = 'user' AND key = %(user)s))",
        {"now": failure.at, "address": failure.address_key, "user": failure.user_key},
    )
    await db.execute(
        "DELETE FROM hulk_blocks WHERE (kind, key) IN (SELECT kind, key FROM hulk_blocks "
        "WHERE until <= %s FOR UPDATE SKIP LOCKED)",
        (failure.at,),
    )
    for order in orders:
        await db.execute(
            "INSERT INTO hulk_blocks (kind, key, shown, blocked_at, until, excessive, service, "
            "method, notes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (kind, key) DO UPDATE SET "
            "until = greatest(hulk_blocks.until, excluded.until), "
            "excessive = hulk_blocks.excessive OR excluded.excessive, "
            "notes = CASE WHEN excluded.until > hulk_blocks.until THEN excluded.notes "
            "ELSE hulk_blocks.notes END",
            (
                order.kind,
                order.key(failure),
                order.shown(failure),
                failure.at,
                order.until,
                order.excessive,
                failure.service,
                failure.method.value,
                order.notes,
            ),
        )
