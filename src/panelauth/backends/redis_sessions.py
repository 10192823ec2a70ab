"""Browser sessions on Redis (redis-py's asyncio client, hiredis parsing): the session store of
the `postgresql + redis` configuration (split_store.py puts it beside the durable store).

Why this shape: sessions, SSO and hand-off tokens are short-lived and read at every request;
Redis keeps them in memory with native expiry. Nothing is cached here: every read is one script
call, so a session made on one node works on every other. Every write is published on the
change channel (redis_scripts.py), which the memo of verified credentials above the store
listens to through the failure counters' listener (core/verified_headers.py): a logout, purge or
kill on one node is refused on every other within a second. Each primitive is one Lua script
(redis_scripts.py, which also lists the keys): a conditional change (activation, rebinding,
touching, counting a wrong token) checks and writes in one step, so of two racing callers
exactly one wins. A failure of the connection, a timeout or a reply that cannot be read becomes
StoreUnavailable (503, logged by class, never with values): the store fails closed.

Expiry: a session's hash expires natively at its absolute expiry plus EXPIRY_MARGIN, which
leaves the sweep (SessionManager.sweep, every minute) time to find it in the expiry index,
delete it and write its PURGE line. The index sets expire with the longest-lived session they
name; an id whose hash expired (no sweep ran for the margin) leaves an index when a script meets
it there.

Never revive a session (the generation guard): a Redis restarted from an old snapshot (RDB or
AOF), a promoted replica that missed the latest writes, or keys written back from elsewhere
could bring back sessions that were logged out or killed since. Every session records the
generation it was made under; the generation is a random token kept durably (the durable
store's setting GENERATION_SETTING) and mirrored in Redis as the marker
"<generation>:<run id of the Redis process>". Every script checks the marker first, in the same
step as its read or write: a marker that is missing (data lost), names another Redis process
(a restart, a failover: the run id changes with every process) or another generation than the
node holds (data written back) stops the script, and the node renews: under a lock in Redis it
compares the marker with the durable generation; when they disagree it writes a new random
generation durably, then the marker. Every session of an earlier generation is refused from
then on (and deleted where met): users are logged out, never let back in. The check costs the
hot path nothing but the script's INFO call (a few microseconds inside Redis); the durable
store is read only when a renewal is due. A random token rather than a counter: the durable
store has no compare-and-set, and two nodes renewing at once must never reuse a value.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, Final, TypeVar

from redis.commands.core import AsyncScript

from panelauth.backends import redis_scripts
from panelauth.backends.redis_connect import number as _number
from panelauth.backends.redis_connect import parse_url, unavailable
from panelauth.backends.redis_link import RedisLink
from panelauth.clock import Clock
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.stores import SettingStore
from panelauth.errors import AlreadyExists, StoreUnavailable
from panelauth.protocol.services import Service

EXPIRY_MARGIN: Final = 3600.0  # seconds a session's hash outlives its absolute expiry
GENERATION_SETTING: Final = "session_generation"  # the durable store's copy of the generation
LOCK_MS: Final = 5000  # how long a node may hold the renewal lock (if it dies holding it)
RENEWALS: Final = 3  # renewals one call may need before the store is called unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

_OPTIONAL = ("account", "possessor", "bound_address")  # absent from the hash when None


def _fields(session: Session) -> list[str]:
    """The hash's field/value pairs, flat."""
    values: dict[str, str | None] = {
        "session_id": session.session_id,
        "secret_hash": session.secret_hash,
        "user": session.user,
        "account": session.account,
        "service": session.service.value,
        "kind": session.kind.value,
        "state": session.state.value,
        "security_token": session.security_token,
        "creator": session.creator,
        "possessor": session.possessor,
        "method": session.method,
        "bound_address": session.bound_address,
        "created_at": _number(session.created_at),
        "last_seen": _number(session.last_seen),
        "expires_at": _number(session.expires_at),
        "wrong_tokens": str(int(session.wrong_tokens)),
        "credential_version": str(int(session.credential_version)),
        "user_agent": session.user_agent,
    }
    flat: list[str] = []
    for name, value in values.items():
        if value is not None:
            flat += (name, value)
    return flat


def _session(flat: Any) -> Session:
    """A Session from a hash's flat field/value list; ValueError for anything else."""
    if not isinstance(flat, list) or len(flat) % 2:
        raise ValueError("not a session hash")
    return _built(tuple(flat))


@lru_cache(maxsize=4096)
def _built(flat: tuple[str, ...]) -> Session:
    """Identical hashes give the same immutable record, built once."""
    record = dict(zip(flat[::2], flat[1::2], strict=True))
    try:
        return Session(
            session_id=record["session_id"],
            secret_hash=record["secret_hash"],
            user=record["user"],
            account=record.get("account"),
            service=Service(record["service"]),
            kind=SessionKind(record["kind"]),
            state=SessionState(record["state"]),
            security_token=record["security_token"],
            creator=record["creator"],
            possessor=record.get("possessor"),
            method=record["method"],
            bound_address=record.get("bound_address"),
            created_at=float(record["created_at"]),
            last_seen=float(record["last_seen"]),
            expires_at=float(record["expires_at"]),
            wrong_tokens=int(record["wrong_tokens"]),
            credential_version=int(record["credential_version"]),
            user_agent=record["user_agent"],
        )
    except KeyError as missing:
        raise ValueError(f"a session hash without {missing}") from None


class RedisSessionStore:
    """The SessionStore contract on one Redis server, under one key prefix; `generations` is
    where the session generation is kept durably (the durable store beside it)."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        generations: SettingStore,
        busy_timeout_ms: int | None = None,
        expiry_margin: float = EXPIRY_MARGIN,
        link: RedisLink | None = None,
    ) -> None:
        self.link = (
            link if link is not None else RedisLink(parse_url(url), busy_timeout_ms=busy_timeout_ms)
        )
        self._location = self.link.location
        self._namespace = self._location.namespace
        self._clock = clock
        self._generations = generations
        self._expiry_margin = max(0.0, expiry_margin)
        self._wait_seconds = self.link.wait_seconds
        self._scripts: dict[str, AsyncScript] = {
            name: self.link.script(getattr(redis_scripts, name))
            for name in (
                "INSERT",
                "GET",
                "TOUCH",
                "ACTIVATE",
                "REBIND",
                "WRONG_TOKEN",
                "DELETE",
                "SESSIONS_OF",
                "EXPIRED",
                "CHECK",
                "MARK",
                "UNLOCK",
            )
        }
        self._generation: str | None = None  # the generation this store holds (None: not yet)
        self._renewing = asyncio.Lock()

    @property
    def prefix(self) -> str:
        return self._location.prefix

    def key(self, *parts: str) -> str:
        """A key of this store: `<prefix>:<part>:<part>...`."""
        return self._namespace + ":".join(parts)

    # -- the contract ------------------------------------------------------------------------

    async def insert_session(self, session: Session) -> bool:
        """Create the session (AlreadyExists if its id is taken); True."""
        now = self._clock.now()
        ttl = max(1, math.ceil((max(0.0, session.expires_at - now) + self._expiry_margin) * 1000))
        created = await self._one(
            "INSERT",
            session.session_id,
            str(ttl),
            _number(session.expires_at),
            session.user,
            session.account or "",
            *_fields(session),
        )
        if created != 1:
            raise AlreadyExists()
        return True

    async def get_session(self, session_id: str) -> Session | None:
        found = await self._run("GET", session_id)
        return self._read(lambda: _session(found[0])) if found else None

    async def touch_session(self, session_id: str, last_seen: float) -> None:
        await self._run("TOUCH", session_id, _number(last_seen))

    async def activate_session(self, session_id: str, bound_address: str, now: float) -> bool:
        return bool(await self._one("ACTIVATE", session_id, bound_address, _number(now)) == 1)

    async def rebind_session(
        self, session_id: str, unused_since: float, bound_address: str, now: float
    ) -> bool:
        changed = await self._one(
            "REBIND", session_id, _number(unused_since), bound_address, _number(now)
        )
        return bool(changed == 1)

    async def count_wrong_token(self, session_id: str) -> int:
        count = await self._one("WRONG_TOKEN", session_id)
        return self._read(lambda: int(count))

    async def delete_session(self, session_id: str) -> bool:
        return bool(await self._one("DELETE", session_id) == 1)

    async def sessions_of(self, user: str) -> list[Session]:
        """Sessions whose identity is `user` or that belong to the account `user`."""
        found = await self._run("SESSIONS_OF", user)
        sessions = self._read(lambda: [_session(flat) for flat in found])
        return sorted(sessions, key=lambda session: (session.created_at, session.session_id))

    async def expired_session_ids(self, before: float, limit: int) -> list[str]:
        if limit <= 0:
            return []
        found = await self._run("EXPIRED", _number(before), str(int(limit)))
        return self._read(lambda: [str(session_id) for session_id in found])

    def begin_request(self) -> None:
        """Nothing to do: nothing is cached, every read asks Redis."""

    async def ping(self) -> None:
        """Whether Redis answers (readiness, the migrate step); StoreUnavailable if not."""
        await self.link.ping()

    async def aclose(self) -> None:
        await self.link.aclose()

    # -- plumbing ----------------------------------------------------------------------------

    async def _run(self, script: str, *args: str) -> list[Any]:
        """A script's answer after its status, under the generation this store holds; a stale
        marker renews the generation first, then the script runs again."""
        for _ in range(RENEWALS):
            held = self._generation
            if held is None:
                await self._renew(None)
                continue
            reply = await self._eval(script, held, *args)
            if reply[0] == 1:
                return reply[1:]
            await self._renew(held)
        raise unavailable(RuntimeError("the session generation keeps changing"))

    async def _one(self, script: str, *args: str) -> Any:
        """The one value a script answers after its status."""
        found = await self._run(script, *args)

        def single() -> Any:
            (value,) = found
            return value

        return self._read(single)

    async def _eval(self, script: str, generation: str, *args: str) -> list[Any]:
        reply = await self.link.evalsha(self._scripts[script], self._namespace, generation, *args)
        if not isinstance(reply, list) or not reply or reply[0] not in (0, 1):
            raise unavailable(ValueError("an unexpected reply"))
        return reply

    @staticmethod
    def _read(decode: Callable[[], T]) -> T:
        """`decode()`, a reply that cannot be read being StoreUnavailable."""
        try:
            return decode()
        except (ValueError, TypeError, LookupError) as error:
            raise unavailable(error) from None

    # -- the generation guard ----------------------------------------------------------------

    async def _renew(self, held: str | None) -> None:
        """The marker did not hold `held`: adopt the durable generation if Redis holds it, else
        write a new one (durably first, then the marker)."""
        async with self._renewing:
            if self._generation != held:
                return  # another call of this worker renewed meanwhile
            if await self._adopt():
                return
            async with self._renewal_lock():
                if await self._adopt():
                    return  # another node renewed meanwhile
                previous = await self._generations.get_setting(GENERATION_SETTING)
                fresh = secrets.token_hex(16)
                await self._generations.set_setting(GENERATION_SETTING, fresh)
                await self._eval("MARK", fresh)
                self._generation = fresh
                if previous is not None:
                    log.warning(
                        "the session store restarted, lost or restored data: a new session "
                        "generation, every session made before it is refused"
                    )

    async def _adopt(self) -> bool:
        """Take the durable generation if the marker holds it for this Redis process."""
        durable = await self._generations.get_setting(GENERATION_SETTING)
        if durable is None or (await self._eval("CHECK", durable))[0] != 1:
            return False
        self._generation = durable
        return True

    @asynccontextmanager
    async def _renewal_lock(self) -> AsyncIterator[None]:
        """One node at a time renews (SET NX PX); waits `busy_timeout` at most."""
        key, token = self.key("generation", "lock"), secrets.token_hex(8)
        deadline = time.monotonic() + self._wait_seconds
        while not await self.link.command(
            lambda: self.link.client.set(key, token, nx=True, px=LOCK_MS)
        ):
            if time.monotonic() > deadline:
                raise StoreUnavailable("another node is renewing the session generation")
            await asyncio.sleep(0.01)
        try:
            yield
        finally:
            unlock = self._scripts["UNLOCK"]
            await self.link.command(lambda: unlock(keys=(key,), args=(token,)))
