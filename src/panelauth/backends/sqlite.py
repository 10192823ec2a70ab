"""The embedded default store: SQLite in WAL mode, called inline on the event loop."""

from __future__ import annotations

import json
import sqlite3

from panelauth.backends import records
from panelauth.backends.sqlite_base import BUSY_TIMEOUT_MS
from panelauth.backends.sqlite_brute_force import BruteForceTables
from panelauth.backends.sqlite_cache import MISSING
from panelauth.backends.sqlite_plugins import PluginTables
from panelauth.backends.sqlite_sessions import SessionTables
from panelauth.backends.sqlite_tokens import TokenTables
from panelauth.backends.sqlite_two_factor import TwoFactorTables
from panelauth.core.models import Account, Mailbox
from panelauth.errors import StoreUnavailable

__all__ = ["BUSY_TIMEOUT_MS", "SqliteStore"]

_ACCOUNT_COLUMNS = (
    "user, domain, owner, password_hash, plan, feature_list, contact_email, suspended, "
    "suspend_reason, is_reseller, acls, created_at, credential_version"
)
_MAILBOX_COLUMNS = (
    "address, account, password_hash, quota_mb, suspended_login, created_at, credential_version"
)


class SqliteStore(TokenTables, SessionTables, TwoFactorTables, BruteForceTables, PluginTables):
    """Every store contract on one SQLite database (see sqlite_base for the plumbing)."""

    # -- accounts ---------------------------------------------------------------------------

    async def get_account(self, user: str) -> Account | None:
        self._fresh()
        cached = self._account_cache.get(user)
        if cached is not MISSING:
            return cached
        rows = self._read(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user = ?", (user,))
        found = records.account(rows[0]) if rows else None
        self._account_cache.put(user, found)
        return found

    async def list_accounts(self, *, owner: str | None = None) -> list[Account]:
        if owner is None:
            sql = f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user != 'root' ORDER BY user"
            rows = self._read(sql)
        else:
            sql = (
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user != 'root' AND owner = ? "
                "ORDER BY user"
            )
            rows = self._read(sql, (owner,))
        return [records.account(row) for row in rows]

    async def insert_account(self, account: Account) -> None:
        self._account_cache.evict(account.user)
        try:
            with self._write(flush=False) as db:
                db.execute(
                    f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        account.user,
                        account.domain,
                        account.owner,
                        account.password_hash,
                        account.plan,
                        account.feature_list,
                        account.contact_email,
                        int(account.suspended),
                        account.suspend_reason,
                        int(account.is_reseller),
                        json.dumps(sorted(account.acls)),
                        account.created_at or self._clock.now(),
                        account.credential_version,
                    ),
                )
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def delete_account(self, user: str) -> bool:
        return self._change("DELETE FROM accounts WHERE user = ?", (user,))

    def _change_account(self, user: str, sql: str, parameters: tuple[object, ...]) -> bool:
        """An update of one account's row: only that cached account is dropped."""
        self._account_cache.evict(user)
        return self._change(sql, parameters, flush=False)

    async def set_password_hash(self, user: str, password_hash: str, *, rotate: bool) -> bool:
        return self._change_account(
            user,
            "UPDATE accounts SET password_hash = ?, credential_version = credential_version + ? "
            "WHERE user = ?",
            (password_hash, int(rotate), user),
        )

    async def set_suspended(self, user: str, suspended: bool, reason: str) -> bool:
        return self._change_account(
            user,
            "UPDATE accounts SET suspended = ?, suspend_reason = ? WHERE user = ?",
            (int(suspended), reason if suspended else "", user),
        )

    async def set_reseller(self, user: str, is_reseller: bool, acls: frozenset[str]) -> bool:
        return self._change_account(
            user,
            "UPDATE accounts SET is_reseller = ?, acls = ? WHERE user = ?",
            (int(is_reseller), json.dumps(sorted(acls)), user),
        )

    async def set_owner(self, user: str, owner: str) -> bool:
        return self._change_account(
            user, "UPDATE accounts SET owner = ? WHERE user = ?", (owner, user)
        )

    async def domain_owner(self, domain: str) -> str | None:
        rows = self._read("SELECT user FROM accounts WHERE domain = ?", (domain,))
        return str(rows[0][0]) if rows else None

    # -- mailboxes --------------------------------------------------------------------------

    async def get_mailbox(self, address: str) -> Mailbox | None:
        rows = self._read(f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE address = ?", (address,))
        return records.mailbox(rows[0]) if rows else None

    async def list_mailboxes(self, account: str) -> list[Mailbox]:
        rows = self._read(
            f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account = ? ORDER BY address",
            (account,),
        )
        return [records.mailbox(row) for row in rows]

    async def insert_mailbox(self, mailbox: Mailbox) -> None:
        try:
            with self._write() as db:
                db.execute(
                    f"INSERT INTO mailboxes ({_MAILBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        mailbox.address,
                        mailbox.account,
                        mailbox.password_hash,
                        mailbox.quota_mb,
                        int(mailbox.suspended_login),
                        mailbox.created_at or self._clock.now(),
                        mailbox.credential_version,
                    ),
                )
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def delete_mailbox(self, address: str) -> bool:
        return self._change("DELETE FROM mailboxes WHERE address = ?", (address,))

    async def set_mailbox_password_hash(
        self, address: str, password_hash: str, *, rotate: bool
    ) -> bool:
        return self._change(
            "UPDATE mailboxes SET password_hash = ?, credential_version = credential_version + ? "
            "WHERE address = ?",
            (password_hash, int(rotate), address),
        )

    # -- feature lists ----------------------------------------------------------------------

    async def get_feature_list(self, name: str) -> dict[str, bool] | None:
        if not self._read("SELECT 1 FROM feature_list_names WHERE name = ?", (name,)):
            return None
        rows = self._read("SELECT feature, enabled FROM feature_lists WHERE name = ?", (name,))
        return {str(row[0]): bool(row[1]) for row in rows}

    async def save_feature_list(self, name: str, settings: dict[str, bool]) -> None:
        try:
            with self._write() as db:
                db.execute("INSERT OR IGNORE INTO feature_list_names (name) VALUES (?)", (name,))
                db.executemany(
                    "INSERT INTO feature_lists (name, feature, enabled) VALUES (?, ?, ?) "
                    "ON CONFLICT (name, feature) DO UPDATE SET enabled = excluded.enabled",
                    [(name, feature, int(enabled)) for feature, enabled in settings.items()],
                )
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error

    async def list_feature_lists(self) -> list[str]:
        return [
            str(row[0]) for row in self._read("SELECT name FROM feature_list_names ORDER BY name")
        ]

    async def delete_feature_list(self, name: str) -> bool:
        try:
            with self._write() as db:
                db.execute("DELETE FROM feature_lists WHERE name = ?", (name,))
                return (
                    db.execute("DELETE FROM feature_list_names WHERE name = ?", (name,)).rowcount
                    > 0
                )
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
