"""SQLite tables of API tokens and access hashes."""

from __future__ import annotations

import sqlite3

from panelauth.backends import records
from panelauth.backends.sqlite_base import SqliteBase
from panelauth.backends.sqlite_cache import MISSING
from panelauth.core.stores import AccessHash
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.errors import StoreUnavailable

_TOKEN_COLUMNS = "owner, kind, name, digest, created_at, expires_at, acls, whitelist_ips"


class TokenTables(SqliteBase):
    async def insert_token(self, token: ApiToken) -> None:
        self._token_cache.evict((token.owner, token.kind.value, token.digest))
        try:
            with self._write(flush=False) as db:
                db.execute(
                    f"INSERT INTO api_tokens ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        token.owner,
                        token.kind.value,
                        token.name,
                        token.digest,
                        token.created_at,
                        token.expires_at,
                        records.json_or_null(token.acls),
                        records.json_or_null(token.whitelist_ips),
                    ),
                )
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def find_token(self, owner: str, kind: TokenKind, token_digest: str) -> ApiToken | None:
        self._fresh()
        key = (owner, kind.value, token_digest)
        cached = self._token_cache.get(key)
        if cached is not MISSING:
            return cached
        rows = self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE owner = ? AND kind = ? AND digest = ?",
            key,
        )
        found = records.token(rows[0]) if rows else None
        self._token_cache.put(key, found)
        return found

    async def get_token(self, owner: str, kind: TokenKind, name: str) -> ApiToken | None:
        rows = self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE owner = ? AND kind = ? AND name = ?",
            (owner, kind.value, name),
        )
        return records.token(rows[0]) if rows else None

    async def list_tokens(self, owner: str, kind: TokenKind) -> list[ApiToken]:
        rows = self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE owner = ? AND kind = ? ORDER BY name",
            (owner, kind.value),
        )
        return [records.token(row) for row in rows]

    async def list_all_tokens(self) -> list[ApiToken]:
        rows = self._read(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY owner, kind, name")
        return [records.token(row) for row in rows]

    async def replace_token(self, old_name: str, token: ApiToken) -> bool:
        try:
            with self._write() as db:
                cursor = db.execute(
                    "UPDATE api_tokens SET name = ?, expires_at = ?, acls = ?, whitelist_ips = ? "
                    "WHERE owner = ? AND kind = ? AND name = ?",
                    (
                        token.name,
                        token.expires_at,
                        records.json_or_null(token.acls),
                        records.json_or_null(token.whitelist_ips),
                        token.owner,
                        token.kind.value,
                        old_name,
                    ),
                )
                return cursor.rowcount > 0
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def delete_token(self, owner: str, kind: TokenKind, name: str) -> bool:
        return self._change(
            "DELETE FROM api_tokens WHERE owner = ? AND kind = ? AND name = ?",
            (owner, kind.value, name),
        )

    async def get_access_hash_digest(self, user: str) -> str | None:
        rows = self._read("SELECT digest FROM access_hashes WHERE user = ?", (user,))
        return str(rows[0][0]) if rows else None

    async def set_access_hash_digest(self, user: str, hash_digest: str, created_at: int) -> None:
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO access_hashes (user, digest, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (user) DO UPDATE SET digest = excluded.digest, "
                    "created_at = excluded.created_at",
                    (user, hash_digest, created_at),
                )
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def list_access_hashes(self) -> list[AccessHash]:
        rows = self._read("SELECT user, digest, created_at FROM access_hashes ORDER BY user")
        return [AccessHash(str(row[0]), str(row[1]), int(row[2])) for row in rows]
