"""PostgreSQL tables of two-factor state: sealed secrets, used steps, failures, issuers,
settings (the SQLite twin: sqlite_two_factor.py).

Spending a step (TF-2) reads the user's used steps, then writes one: an advisory lock per user,
taken first in the transaction, makes that one step for every worker (two workers spending the
same code, or an older one beside a newer, are decided in turn, as SQLite's write lock does).
"""

from __future__ import annotations

from panelauth.backends.postgresql_base import Connection, PostgresqlBase, nothing_cached
from panelauth.core.stores import SealedSecret, UsedStep

KEEP_STEPS = 20  # used steps remembered per user, newest first


class TwoFactorTables(PostgresqlBase):
    async def get_tfa_secret(self, user: str) -> bytes | None:
        # cached: enrolment and removal are default writes, which drop every cached record
        async def load() -> bytes | None:
            rows = await self._read(
                "SELECT sealed_secret FROM tfa_configs WHERE user_name = %s", (user,)
            )
            return bytes(rows[0][0]) if rows else None

        return await self._cached(self._tfa_cache, user, load)

    async def set_tfa_secret(
        self, user: str, sealed: bytes, *, step: int, address: str, now: float
    ) -> bool:
        """Enrol atomically with spending the enrolment code's step; False if it was used."""
        async with self._transaction() as connection:
            if not await use_step(
                connection, self._lock_id("tfa", user), user, step, "enrol", address, now
            ):
                return False
            await connection.execute(
                "INSERT INTO tfa_configs (user_name, sealed_secret, created_at) "
                "VALUES (%s, %s, %s) ON CONFLICT (user_name) DO UPDATE SET "
                "sealed_secret = excluded.sealed_secret, created_at = excluded.created_at",
                (user, sealed, now),
            )
            return True

    async def list_tfa_secrets(self) -> list[SealedSecret]:
        rows = await self._read(
            "SELECT user_name, sealed_secret, created_at FROM tfa_configs ORDER BY user_name"
        )
        return [SealedSecret(str(row[0]), bytes(row[1]), float(row[2])) for row in rows]

    async def insert_tfa_secret(self, secret: SealedSecret) -> None:
        await self._change(
            "INSERT INTO tfa_configs (user_name, sealed_secret, created_at) VALUES (%s, %s, %s)",
            (secret.user, secret.sealed, secret.created_at),
            forget=lambda: self._tfa_cache.evict(secret.user),
        )

    async def delete_tfa_secret(self, user: str) -> bool:
        return await self._change("DELETE FROM tfa_configs WHERE user_name = %s", (user,)) > 0

    async def use_totp_step(
        self, user: str, step: int, context: str, address: str, now: float
    ) -> bool:
        async with self._transaction(
            forget=nothing_cached
        ) as connection:  # no cached record changes
            return await use_step(
                connection, self._lock_id("tfa", user), user, step, context, address, now
            )

    async def last_totp_step(self, user: str) -> int | None:
        rows = await self._read(
            "SELECT max(step) FROM tfa_used_steps WHERE user_name = %s", (user,)
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    async def list_used_steps(self) -> list[UsedStep]:
        rows = await self._read(
            "SELECT user_name, step, context, address, used_at FROM tfa_used_steps "
            "ORDER BY user_name, step"
        )
        return [
            UsedStep(str(row[0]), int(row[1]), str(row[2]), str(row[3]), float(row[4]))
            for row in rows
        ]

    async def record_tfa_failure(self, user: str, now: float) -> None:
        await self._change(
            "INSERT INTO tfa_failures (user_name, failed_at) VALUES (%s, %s)",
            (user, now),
            forget=nothing_cached,
        )

    async def tfa_failures_since(self, user: str, since: float) -> int:
        rows = await self._read(
            "SELECT count(*) FROM tfa_failures WHERE user_name = %s AND failed_at > %s",
            (user, since),
        )
        return int(rows[0][0])

    async def get_setting(self, key: str) -> str | None:
        rows = await self._read("SELECT value FROM settings WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    async def list_settings(self) -> dict[str, str]:
        rows = await self._read("SELECT key, value FROM settings ORDER BY key")
        return {str(row[0]): str(row[1]) for row in rows}

    async def set_setting(self, key: str, value: str) -> None:
        await self._change(
            "INSERT INTO settings (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def get_issuer(self, owner: str) -> str | None:
        rows = await self._read("SELECT issuer FROM tfa_issuers WHERE owner = %s", (owner,))
        return str(rows[0][0]) if rows else None

    async def list_issuers(self) -> dict[str, str]:
        rows = await self._read("SELECT owner, issuer FROM tfa_issuers ORDER BY owner")
        return {str(row[0]): str(row[1]) for row in rows}

    async def set_issuer(self, owner: str, issuer: str) -> None:
        await self._change(
            "INSERT INTO tfa_issuers (owner, issuer) VALUES (%s, %s) "
            "ON CONFLICT (owner) DO UPDATE SET issuer = excluded.issuer",
            (owner, issuer),
        )


async def use_step(
    connection: Connection, lock: int, user: str, step: int, context: str, address: str, now: float
) -> bool:
    """The replay rule of w§2.6 and w§13.3, inside the caller's transaction, under the user's
    advisory lock `lock` (taken here, held until that transaction ends)."""
    await connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
    cursor = await connection.execute(
        "SELECT max(step), max(context) FILTER (WHERE step = %(step)s), "
        "max(address) FILTER (WHERE step = %(step)s), bool_or(step = %(step)s) "
        "FROM tfa_used_steps WHERE user_name = %(user)s",
        {"user": user, "step": step},
    )
    newest, used_context, used_address, used = await cursor.fetchone() or (None,) * 4
    if newest is not None and step < newest:
        return False  # older than the newest used step
    if used:
        # only header requests of the same user from the same address may share a code
        return context == "header" and used_context == "header" and used_address == address
    await connection.execute(
        "WITH pruned AS (DELETE FROM tfa_used_steps WHERE user_name = %(user)s "
        "AND step < %(oldest)s) "
        "INSERT INTO tfa_used_steps (user_name, step, context, address, used_at) "
        "VALUES (%(user)s, %(step)s, %(context)s, %(address)s, %(now)s)",
        {
            "user": user,
            "step": step,
            "oldest": step - KEEP_STEPS,
            "context": context,
            "address": address,
            "now": now,
        },
    )
    return True
