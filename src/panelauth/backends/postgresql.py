"""The shared-server store: PostgreSQL through psycopg 3 (async) and a pool per worker.

For installations with several nodes (or many workers) on one database, where SQLite's single
file cannot be shared. Same tables, same semantics, same contract suite as the SQLite store
(tests/backends); see postgresql_base for the plumbing and the change signal (LISTEN/NOTIFY).
"""

from __future__ import annotations

import json

from panelauth.backends import records
from panelauth.backends.postgresql_base import WAIT_TIMEOUT_MS
from panelauth.backends.postgresql_brute_force import BruteForceTables
from panelauth.backends.postgresql_plugins import PluginTables
from panelauth.backends.postgresql_sessions import SessionTables
from panelauth.backends.postgresql_tokens import TokenTables
from panelauth.backends.postgresql_two_factor import TwoFactorTables
from panelauth.core.models import Account, Mailbox

__all__ = ["WAIT_TIMEOUT_MS", "PostgresqlStore"]

_ACCOUNT_COLUMNS = (
    "user_name, domain, owner, password_hash, plan, feature_list, contact_email, suspended, "
    "suspend_reason, is_reseller, acls, created_at, credential_version"
)
_MAILBOX_COLUMNS = (
    "address, account, password_hash, quota_mb, suspended_login, created_at, credential_version"
)


class PostgresqlStore(TokenTables, SessionTables, TwoFactorTables, BruteForceTables, PluginTables):
    """Every store contract on one PostgreSQL schema (see postgresql_base for the plumbing)."""

    # -- accounts ---------------------------------------------------------------------------

    async def get_account(self, user: str) -> Account | None:
        async def load() -> Account | None:
            rows = await self._read(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user_name = %s", (user,)
            )
            return records.account(rows[0]) if rows else None

        return await self._cached(self._account_cache, user, load)

    async def list_accounts(self, *, owner: str | None = None) -> list[Account]:
        if owner is None:
            rows = await self._read(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user_name != 'root' "
                "ORDER BY user_name"
            )
        else:
            rows = await self._read(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user_name != 'root' "
                "AND owner = %s ORDER BY user_name",
                (owner,),
            )
        return [records.account(row) for row in rows]

    async def insert_account(self, account: Account) -> None:
        await self._change(
            f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                account.user,
                account.domain,
                account.owner,
                account.password_hash,
                account.plan,
                account.feature_list,
                account.contact_email,
                account.suspended,
                account.suspend_reason,
                account.is_reseller,
                json.dumps(sorted(account.acls)),
                account.created_at or self._clock.now(),
                account.credential_version,
            ),
            forget=lambda: self._account_cache.evict(account.user),
        )

    async def delete_account(self, user: str) -> bool:
        # everything it owns goes too (tokens, mailboxes): every cached record is dropped
        return await self._change("DELETE FROM accounts WHERE user_name = %s", (user,)) > 0

    async def _change_account(self, user: str, query: str, parameters: tuple[object, ...]) -> bool:
        """An update of one account's row: only that cached account is dropped."""
        changed = await self._change(
            query, parameters, forget=lambda: self._account_cache.evict(user)
        )
        return changed > 0

    async def set_password_hash(self, user: str, password_hash: str, *, rotate: bool) -> bool:
        return await self._change_account(
            user,
            "UPDATE accounts SET password_hash = %s, "
            "credential_version = credential_version + %s WHERE user_name = %s",
            (password_hash, int(rotate), user),
        )

    async def set_suspended(self, user: str, suspended: bool, reason: str) -> bool:
        return await self._change_account(
            user,
            "UPDATE accounts SET suspended = %s, suspend_reason = %s WHERE user_name = %s",
            (suspended, reason if suspended else "", user),
        )

    async def set_reseller(self, user: str, is_reseller: bool, acls: frozenset[str]) -> bool:
        return await self._change_account(
            user,
            "UPDATE accounts SET is_reseller = %s, acls = %s WHERE user_name = %s",
            (is_reseller, json.dumps(sorted(acls)), user),
        )

    async def set_owner(self, user: str, owner: str) -> bool:
        return await self._change_account(
            user, "UPDATE accounts SET owner = %s WHERE user_name = %s", (owner, user)
        )

    async def domain_owner(self, domain: str) -> str | None:
        rows = await self._read("SELECT user_name FROM accounts WHERE domain = %s", (domain,))
        return str(rows[0][0]) if rows else None

    # -- mailboxes --------------------------------------------------------------------------

    async def get_mailbox(self, address: str) -> Mailbox | None:
        rows = await self._read(
            f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE address = %s", (address,)
        )
        return records.mailbox(rows[0]) if rows else None

    async def list_mailboxes(self, account: str) -> list[Mailbox]:
        rows = await self._read(
            f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account = %s ORDER BY address",
            (account,),
        )
        return [records.mailbox(row) for row in rows]

    async def insert_mailbox(self, mailbox: Mailbox) -> None:
        await self._change(
            f"INSERT INTO mailboxes ({_MAILBOX_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                mailbox.address,
                mailbox.account,
                mailbox.password_hash,
                mailbox.quota_mb,
                mailbox.suspended_login,
                mailbox.created_at or self._clock.now(),
                mailbox.credential_version,
            ),
        )

    async def delete_mailbox(self, address: str) -> bool:
        return await self._change("DELETE FROM mailboxes WHERE address = %s", (address,)) > 0

    async def set_mailbox_password_hash(
        self, address: str, password_hash: str, *, rotate: bool
    ) -> bool:
        changed = await self._change(
            "UPDATE mailboxes SET password_hash = %s, "
            "credential_version = credential_version + %s WHERE address = %s",
            (password_hash, int(rotate), address),
        )
        return changed > 0

    # -- feature lists ----------------------------------------------------------------------

    async def get_feature_list(self, name: str) -> dict[str, bool] | None:
        rows = await self._read(
            "SELECT n.name, f.feature, f.enabled FROM feature_list_names AS n "
            "LEFT JOIN feature_lists AS f ON f.name = n.name WHERE n.name = %s",
            (name,),
        )
        if not rows:
            return None
        return {str(row[1]): bool(row[2]) for row in rows if row[1] is not None}

    async def save_feature_list(self, name: str, settings: dict[str, bool]) -> None:
        async with self._transaction() as db, db.cursor() as cursor:
            await cursor.execute(
                "INSERT INTO feature_list_names (name) VALUES (%s) ON CONFLICT DO NOTHING",
                (name,),
            )
            await cursor.executemany(
                "INSERT INTO feature_lists (name, feature, enabled) VALUES (%s, %s, %s) "
                "ON CONFLICT (name, feature) DO UPDATE SET enabled = excluded.enabled",
                [(name, feature, enabled) for feature, enabled in sorted(settings.items())],
            )

    async def list_feature_lists(self) -> list[str]:
        rows = await self._read("SELECT name FROM feature_list_names ORDER BY name")
        return [str(row[0]) for row in rows]

    async def delete_feature_list(self, name: str) -> bool:
        async with self._transaction() as db:
            await db.execute("DELETE FROM feature_lists WHERE name = %s", (name,))
            cursor = await db.execute("DELETE FROM feature_list_names WHERE name = %s", (name,))
            return cursor.rowcount > 0
