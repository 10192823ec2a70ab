"""One store's connections to a Redis server: a bounded pool, every call within one deadline,
every failure StoreUnavailable. The session store and the failure counters of the
`postgresql + redis` configuration share one (redis_sessions.py, redis_failures.py).

Scripts, the hot path, are sent and read directly on connections the link keeps itself:
redis-py's per-command layers (retries, observability, argument checks) and its pools' checkout
(a lock and a readiness probe of the socket per call) cost the session path a fifth of its
time (docs/benchmarks.md). The link bounds the connections in use (a semaphore, nearly free
while one is free) and each whole call (a free connection, the command, its reply) with one
timer; a connection that fails is dropped and the call tried once more on a new one (a
connection a restarted server dropped while it was idle), as redis-py's own retry does. Other
commands (PING, the renewal lock, reads of the failure history) go through redis-py's client.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from panelauth.backends.redis_connect import POOL_SIZE, Location, connection_pool, unavailable
from panelauth.errors import StoreUnavailable

WAIT_TIMEOUT_MS: Final = 2000  # for a connection, a reply, a pooled connection

log = logging.getLogger(__name__)


class RedisLink:
    def __init__(self, location: Location, *, busy_timeout_ms: int | None = None) -> None:
        self.location = location
        wait_ms = WAIT_TIMEOUT_MS if busy_timeout_ms is None else max(0, int(busy_timeout_ms))
        self.wait_seconds = max(wait_ms, 100) / 1000
        self._pool = connection_pool(location, wait_seconds=self.wait_seconds)
        self._free = asyncio.Semaphore(POOL_SIZE)
        self._idle: deque[AbstractConnection] = (
            deque()
        )  # the scripts' connections, POOL_SIZE at most
        self.client: Redis = Redis(connection_pool=self._pool)
        self._closed = False

    def script(self, source: str) -> AsyncScript:
        return self.client.register_script(source)

    async def command(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Make and await a redis-py call within the wait (a free connection, the command and
        its reply: one timer); every failure becomes StoreUnavailable. A call cut short drops
        its connection (`_evalsha`, redis-py), so no late reply is read as another's."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._free.acquire()  # returns at once while a connection is free
                try:
                    return await call()
                finally:
                    self._free.release()
        except (RedisError, OSError, UnicodeError) as error:
            raise unavailable(error) from error

    async def evalsha(self, script: AsyncScript, *args: str) -> Any:
        """Run `script` with `args` (no keys: the scripts derive theirs from the prefix)."""
        return await self.command(lambda: self._evalsha(script, args))

    async def _evalsha(self, script: AsyncScript, args: tuple[str, ...]) -> Any:
        """One EVALSHA on one of the link's connections (one is free: `command` holds a slot)."""
        connection = self._idle.pop() if self._idle else self._new_connection()
        try:
            try:
                return await _round_trip(connection, script, args)
            except RedisConnectionError:
                await connection.disconnect()  # dropped: once more, reconnected
                return await _round_trip(connection, script, args)
        except BaseException:
            await connection.disconnect()  # never read a late reply as another call's
            raise
        finally:
            self._idle.append(connection)

    def _new_connection(self) -> AbstractConnection:
        """Connected at its first command (redis-py connects when it sends)."""
        made: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
        return made

    async def ping(self) -> None:
        """Whether Redis answers (readiness, the migrate step); StoreUnavailable if not."""
        await self.command(self.client.ping)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            while self._idle:
                await self._idle.pop().disconnect()
            await self.client.aclose()
            await self._pool.disconnect()
        except (RedisError, OSError) as error:
            log.debug("closing a Redis link: %s", type(error).__name__)


async def _round_trip(
    connection: AbstractConnection, script: AsyncScript, args: tuple[str, ...]
) -> Any:
    """EVALSHA (connecting first if needed); a script Redis does not know (a restart, SCRIPT
    FLUSH) is loaded and called again."""
    await connection.send_command("EVALSHA", script.sha, 0, *args)
    try:
        return await connection.read_response()
    except NoScriptError:
        await connection.send_command("SCRIPT", "LOAD", script.script)
        await connection.read_response()
        await connection.send_command("EVALSHA", script.sha, 0, *args)
        return await connection.read_response()
