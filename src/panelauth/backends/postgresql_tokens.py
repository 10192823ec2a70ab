"""PostgreSQL tables of API tokens and access hashes (the SQLite twin: sqlite_tokens.py)."""

from __future__ import annotations

from panelauth.backends import records
from panelauth.backends.postgresql_base import PostgresqlBase
from panelauth.core.stores import AccessHash
from panelauth.core.tokens import ApiToken, TokenKind

_TOKEN_COLUMNS = "owner, kind, name, digest, created_at, expires_at, acls, whitelist_ips"


class TokenTables(PostgresqlBase):
    async def insert_token(self, token: ApiToken) -> None:
        key = (token.owner, token.kind.value, token.digest)
        await self._change(
            f"INSERT INTO api_tokens ({_TOKEN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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
            forget=lambda: self._token_cache.evict(key),
        )

    async def find_token(self, owner: str, kind: TokenKind, token_digest: str) -> ApiToken | None:
        key = (owner, kind.value, token_digest)

        async def load() -> ApiToken | None:
            rows = await self._read(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens "
                "WHERE owner = %s AND kind = %s AND digest = %s",
                key,
            )
            return records.token(rows[0]) if rows else None

        return await self._cached(self._token_cache, key, load)

    async def get_token(self, owner: str, kind: TokenKind, name: str) -> ApiToken | None:
        rows = await self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE owner = %s AND kind = %s AND name = %s",
            (owner, kind.value, name),
        )
        return records.token(rows[0]) if rows else None

    async def list_tokens(self, owner: str, kind: TokenKind) -> list[ApiToken]:
        rows = await self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE owner = %s AND kind = %s ORDER BY name",
            (owner, kind.value),
        )
        return [records.token(row) for row in rows]

    async def list_all_tokens(self) -> list[ApiToken]:
        rows = await self._read(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY owner, kind, name"
        )
        return [records.token(row) for row in rows]

    async def replace_token(self, old_name: str, token: ApiToken) -> bool:
        changed = await self._change(
            "UPDATE api_tokens SET name = %s, expires_at = %s, acls = %s, whitelist_ips = %s "
            "WHERE owner = %s AND kind = %s AND name = %s",
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
        return changed > 0

    async def delete_token(self, owner: str, kind: TokenKind, name: str) -> bool:
        deleted = await self._change(
            "DELETE FROM api_tokens WHERE owner = %s AND kind = %s AND name = %s",
            (owner, kind.value, name),
        )
        return deleted > 0

    async def get_access_hash_digest(self, user: str) -> str | None:
        rows = await self._read("SELECT digest FROM access_hashes WHERE user_name = %s", (user,))
        return str(rows[0][0]) if rows else None

    async def set_access_hash_digest(self, user: str, hash_digest: str, created_at: int) -> None:
        await self._change(
            "INSERT INTO access_hashes (user_name, digest, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (user_name) DO UPDATE SET digest = excluded.digest, "
            "created_at = excluded.created_at",
            (user, hash_digest, created_at),
        )

    async def list_access_hashes(self) -> list[AccessHash]:
        rows = await self._read(
            "SELECT user_name, digest, created_at FROM access_hashes ORDER BY user_name"
        )
        return [AccessHash(str(row[0]), str(row[1]), int(row[2])) for row in rows]
