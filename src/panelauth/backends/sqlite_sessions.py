"""SQLite table of browser sessions."""

from __future__ import annotations

import sqlite3

from panelauth.backends import records
from panelauth.backends.sqlite_base import SqliteBase
from panelauth.backends.sqlite_cache import MISSING
from panelauth.backends.sqlite_two_factor import use_step
from panelauth.core.sessions import Session
from panelauth.core.stores import StepUse
from panelauth.errors import StoreUnavailable

_COLUMNS = (
    "session_id, secret_hash, user, account, service, kind, state, security_token, creator, "
    "possessor, method, bound_address, created_at, last_seen, expires_at, wrong_tokens, "
    "credential_version, user_agent"
)


class SessionTables(SqliteBase):
    async def insert_session(self, session: Session, *, spend: StepUse | None = None) -> bool:
        self._session_cache.evict(session.session_id)
        try:
            with self._write(flush=False) as db:
                if spend is not None and not use_step(
                    db, spend.user, spend.step, spend.context, spend.address, session.created_at
                ):
                    return False
                db.execute(
                    f"INSERT INTO sessions ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        session.session_id,
                        session.secret_hash,
                        session.user,
                        session.account,
                        session.service.value,
                        session.kind.value,
                        session.state.value,
                        session.security_token,
                        session.creator,
                        session.possessor,
                        session.method,
                        session.bound_address,
                        session.created_at,
                        session.last_seen,
                        session.expires_at,
                        session.wrong_tokens,
                        session.credential_version,
                        session.user_agent,
                    ),
                )
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        return True

    async def get_session(self, session_id: str) -> Session | None:
        self._fresh()
        cached = self._session_cache.get(session_id)
        if cached is not MISSING:
            return cached
        rows = self._read(f"SELECT {_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,))
        found = records.session(rows[0]) if rows else None
        self._session_cache.put(session_id, found)
        return found

    def _change_session(self, session_id: str, sql: str, parameters: tuple[object, ...]) -> bool:
        """An update of one session's row: only that cached session is dropped."""
        self._session_cache.evict(session_id)
        return self._change(sql, parameters, flush=False)

    async def touch_session(self, session_id: str, last_seen: float) -> None:
        self._change_session(
            session_id,
            "UPDATE sessions SET last_seen = ? WHERE session_id = ? AND last_seen < ?",
            (last_seen, session_id, last_seen),
        )

    async def activate_session(self, session_id: str, bound_address: str, now: float) -> bool:
        """`unused` -> `active`, bound to the first user's address; True only for that one."""
        return self._change_session(
            session_id,
            "UPDATE sessions SET state = 'active', bound_address = ?, last_seen = ? "
            "WHERE session_id = ? AND state = 'unused'",
            (bound_address, now, session_id),
        )

    async def rebind_session(
        self, session_id: str, unused_since: float, bound_address: str, now: float
    ) -> bool:
        return self._change_session(
            session_id,
            "UPDATE sessions SET bound_address = ?, last_seen = ? "
            "WHERE session_id = ? AND last_seen = ?",
            (bound_address, now, session_id, unused_since),
        )

    async def count_wrong_token(self, session_id: str) -> int:
        self._session_cache.evict(session_id)
        try:
            with self._write(flush=False) as db:
                db.execute(
                    "UPDATE sessions SET wrong_tokens = wrong_tokens + 1 WHERE session_id = ?",
                    (session_id,),
                )
                row = db.execute(
                    "SELECT wrong_tokens FROM sessions WHERE session_id = ?", (session_id,)
                ).fetchone()
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
        return int(row[0]) if row else 0

    async def delete_session(self, session_id: str) -> bool:
        return self._change_session(
            session_id, "DELETE FROM sessions WHERE session_id = ?", (session_id,)
        )

    async def sessions_of(self, user: str) -> list[Session]:
        """Sessions whose identity is `user` or that belong to the account `user`."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM sessions WHERE user = ? OR account = ? ORDER BY created_at",
            (user, user),
        )
        return [records.session(row) for row in rows]

    async def expired_session_ids(self, before: float, limit: int) -> list[str]:
        rows = self._read(
            "SELECT session_id FROM sessions WHERE expires_at <= ? LIMIT ?", (before, limit)
        )
        return [str(row[0]) for row in rows]
