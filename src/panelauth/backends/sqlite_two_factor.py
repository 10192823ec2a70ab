"""SQLite tables of two-factor state: sealed secrets, used steps, failures, issuers, settings."""

from __future__ import annotations

import sqlite3

from panelauth.backends.sqlite_base import SqliteBase
from panelauth.backends.sqlite_cache import MISSING
from panelauth.core.stores import SealedSecret, UsedStep
from panelauth.errors import StoreUnavailable

KEEP_STEPS = 20  # used steps remembered per user, newest first


class TwoFactorTables(SqliteBase):
    async def get_tfa_secret(self, user: str) -> bytes | None:
        # cached: enrolment and removal are default writes, which drop every cached record
        self._fresh()
        cached = self._tfa_cache.get(user)
        if cached is not MISSING:
            return cached
        rows = self._read("SELECT sealed_secret FROM tfa_configs WHERE user = ?", (user,))
        found = bytes(rows[0][0]) if rows else None
        self._tfa_cache.put(user, found)
        return found

    async def set_tfa_secret(
        self, user: str, sealed: bytes, *, step: int, address: str, now: float
    ) -> bool:
        """Enrol atomically with spending the enrolment code's step; False if it was used."""
        try:
            with self._write() as db:
                if not use_step(db, user, step, "enrol", address, now):
                    return False
                db.execute(
                    "INSERT INTO tfa_configs (user, sealed_secret, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (user) DO UPDATE SET sealed_secret = excluded.sealed_secret, "
                    "created_at = excluded.created_at",
                    (user, sealed, now),
                )
                return True
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def list_tfa_secrets(self) -> list[SealedSecret]:
        rows = self._read("SELECT user, sealed_secret, created_at FROM tfa_configs ORDER BY user")
        return [SealedSecret(str(row[0]), bytes(row[1]), float(row[2])) for row in rows]

    async def insert_tfa_secret(self, secret: SealedSecret) -> None:
        self._tfa_cache.evict(secret.user)
        self._change(
            "INSERT INTO tfa_configs (user, sealed_secret, created_at) VALUES (?, ?, ?)",
            (secret.user, secret.sealed, secret.created_at),
            flush=False,
        )

    async def delete_tfa_secret(self, user: str) -> bool:
        return self._change("DELETE FROM tfa_configs WHERE user = ?", (user,))

    async def use_totp_step(
        self, user: str, step: int, context: str, address: str, now: float
    ) -> bool:
        try:
            with self._write(flush=False) as db:  # no cached record changes
                return use_step(db, user, step, context, address, now)
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def last_totp_step(self, user: str) -> int | None:
        rows = self._read("SELECT max(step) FROM tfa_used_steps WHERE user = ?", (user,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    async def list_used_steps(self) -> list[UsedStep]:
        rows = self._read(
            "SELECT user, step, context, address, used_at FROM tfa_used_steps ORDER BY user, step"
        )
        return [
            UsedStep(str(row[0]), int(row[1]), str(row[2]), str(row[3]), float(row[4]))
            for row in rows
        ]

    async def record_tfa_failure(self, user: str, now: float) -> None:
        self._change(
            "INSERT INTO tfa_failures (user, failed_at) VALUES (?, ?)", (user, now), flush=False
        )

    async def tfa_failures_since(self, user: str, since: float) -> int:
        rows = self._read(
            "SELECT count(*) FROM tfa_failures WHERE user = ? AND failed_at > ?", (user, since)
        )
        return int(rows[0][0])

    async def get_setting(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def list_settings(self) -> dict[str, str]:
        rows = self._read("SELECT key, value FROM settings ORDER BY key")
        return {str(row[0]): str(row[1]) for row in rows}

    async def set_setting(self, key: str, value: str) -> None:
        self._change(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def get_issuer(self, owner: str) -> str | None:
        rows = self._read("SELECT issuer FROM tfa_issuers WHERE owner = ?", (owner,))
        return str(rows[0][0]) if rows else None

    async def list_issuers(self) -> dict[str, str]:
        rows = self._read("SELECT owner, issuer FROM tfa_issuers ORDER BY owner")
        return {str(row[0]): str(row[1]) for row in rows}

    async def set_issuer(self, owner: str, issuer: str) -> None:
        self._change(
            "INSERT INTO tfa_issuers (owner, issuer) VALUES (?, ?) "
            "ON CONFLICT (owner) DO UPDATE SET issuer = excluded.issuer",
            (owner, issuer),
        )


def use_step(
    db: sqlite3.Connection, user: str, step: int, context: str, address: str, now: float
) -> bool:
    """The replay rule of w§2.6 and w§13.3, inside the caller's immediate transaction."""
    newest = db.execute("SELECT max(step) FROM tfa_used_steps WHERE user = ?", (user,)).fetchone()[
        0
    ]
    if newest is not None and step < newest:
        return False  # older than the newest used step
    row = db.execute(
        "SELECT context, address FROM tfa_used_steps WHERE user = ? AND step = ?", (user, step)
    ).fetchone()
    if row is not None:
        # only header requests of the same user from the same address may share a code
        return context == "header" and row[0] == "header" and row[1] == address
    db.execute(
        "INSERT INTO tfa_used_steps (user, step, context, address, used_at) VALUES (?, ?, ?, ?, ?)",
        (user, step, context, address, now),
    )
    db.execute("DELETE FROM tfa_used_steps WHERE user = ? AND step < ?", (user, step - KEEP_STEPS))
    return True
