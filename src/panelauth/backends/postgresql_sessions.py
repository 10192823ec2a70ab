"""PostgreSQL table of browser sessions (the SQLite twin: sqlite_sessions.py).

Every conditional change (activation, rebinding, touching, counting a wrong token) is one
`UPDATE ... WHERE` on the row: PostgreSQL locks the row and checks the condition again on the
newest version, so of two workers racing for it one changes it and the other finds it changed.
"""

from __future__ import annotations

from panelauth.backends import records
from panelauth.backends.postgresql_base import PostgresqlBase
from panelauth.backends.postgresql_two_factor import use_step
from panelauth.core.sessions import Session
from panelauth.core.stores import StepUse

_COLUMNS = (
    "session_id, secret_hash, user_name, account, service, kind, state, security_token, "
    "creator, possessor, method, bound_address, created_at, last_seen, expires_at, "
    "wrong_tokens, credential_version, user_agent"
)
_INSERT = f"INSERT INTO sessions ({_COLUMNS}) VALUES ({', '.join(['%s'] * 18)})"


def _values(session: Session) -> tuple[object, ...]:
    return (
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
    )


class SessionTables(PostgresqlBase):
    async def insert_session(self, session: Session, *, spend: StepUse | None = None) -> bool:
        def forget() -> None:
            self._session_cache.evict(session.session_id)

        if spend is None:
            await self._change(_INSERT, _values(session), forget=forget)
            return True
        async with self._transaction(forget=forget) as connection:
            lock = self._lock_id("tfa", spend.user)
            if not await use_step(
                connection,
                lock,
                spend.user,
                spend.step,
                spend.context,
                spend.address,
                session.created_at,
            ):
                return False
            await connection.execute(_INSERT, _values(session))
        return True

    async def get_session(self, session_id: str) -> Session | None:
        async def load() -> Session | None:
            rows = await self._read(
                f"SELECT {_COLUMNS} FROM sessions WHERE session_id = %s", (session_id,)
            )
            return records.session(rows[0]) if rows else None

        return await self._cached(self._session_cache, session_id, load)

    async def _change_session(
        self, session_id: str, query: str, parameters: tuple[object, ...]
    ) -> bool:
        """An update of one session's row: only that cached session is dropped."""
        changed = await self._change(
            query, parameters, forget=lambda: self._session_cache.evict(session_id)
        )
        return changed > 0

    async def touch_session(self, session_id: str, last_seen: float) -> None:
        await self._change_session(
            session_id,
            "UPDATE sessions SET last_seen = %s WHERE session_id = %s AND last_seen < %s",
            (last_seen, session_id, last_seen),
        )

    async def activate_session(self, session_id: str, bound_address: str, now: float) -> bool:
        """`unused` -> `active`, bound to the first user's address; True only for that one."""
        return await self._change_session(
            session_id,
            "UPDATE sessions SET state = 'active', bound_address = %s, last_seen = %s "
            "WHERE session_id = %s AND state = 'unused'",
            (bound_address, now, session_id),
        )

    async def rebind_session(
        self, session_id: str, unused_since: float, bound_address: str, now: float
    ) -> bool:
        return await self._change_session(
            session_id,
            "UPDATE sessions SET bound_address = %s, last_seen = %s "
            "WHERE session_id = %s AND last_seen = %s",
            (bound_address, now, session_id, unused_since),
        )

    async def count_wrong_token(self, session_id: str) -> int:
        async with self._connection() as connection:
            try:
                cursor = await connection.execute(
                    "UPDATE sessions SET wrong_tokens = wrong_tokens + 1 WHERE session_id = %s "
                    "RETURNING wrong_tokens",
                    (session_id,),
                )
                row = await cursor.fetchone()
            finally:
                self._written(lambda: self._session_cache.evict(session_id))
        return int(row[0]) if row else 0

    async def delete_session(self, session_id: str) -> bool:
        return await self._change_session(
            session_id, "DELETE FROM sessions WHERE session_id = %s", (session_id,)
        )

    async def sessions_of(self, user: str) -> list[Session]:
        """Sessions whose identity is `user` or that belong to the account `user`."""
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM sessions WHERE user_name = %s OR account = %s "
            "ORDER BY created_at, session_id",
            (user, user),
        )
        return [records.session(row) for row in rows]

    async def expired_session_ids(self, before: float, limit: int) -> list[str]:
        rows = await self._read(
            "SELECT session_id FROM sessions WHERE expires_at <= %s LIMIT %s", (before, limit)
        )
        return [str(row[0]) for row in rows]
