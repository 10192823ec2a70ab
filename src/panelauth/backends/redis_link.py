"""One store's connections to a Redis server: a bounded pool, every call within one deadline,
every failure StoreUnavailable. The session store and the failure counters of the
`postgresql + redis` configuration share one (redis_sessions.py, redis_failures.py).

Scripts are sent and read directly on a pooled connection: redis-py's per-command layers
(retries, observability, argument checks) and BlockingConnectionPool's checkout cost the
session path a tenth of its time (docs/benchmarks.md), so the link bounds the connections in
use itself (a semaphore, nearly free while one is free) and bounds each whole call (a free
connection, the command, its reply) with one timer.
"""

from __future__ import annotations

import asyncio
import logging
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
        """One EVALSHA, sent and read directly. Redis not knowing the script (a restart,
        SCRIPT FLUSH) loads it and calls it again. A pooled connection that fails while
        sending (the server dropped it) connects again once; any other failure drops the
        connection and is the caller's."""
        connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                await connection.send_command("EVALSHA", script.sha, 0, *args)
            except RedisConnectionError:
                await connection.disconnect()  # dropped while pooled: once more, reconnected
                await connection.send_command("EVALSHA", script.sha, 0, *args)
            try:
                return await connection.read_response()
            except NoScriptError:
                return await _load_and_eval(connection, script, args)
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await self._pool.release(connection)

    async def ping(self) -> None:
        """Whether Redis answers (readiness, the migrate step); StoreUnavailable if not."""
        await self.command(self.client.ping)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.client.aclose()
            await self._pool.disconnect()
        except (RedisError, OSError) as error:
            log.debug("closing a Redis link: %s", type(error).__name__)


async def _load_and_eval(
    connection: AbstractConnection, script: AsyncScript, args: tuple[str, ...]
) -> Any:
    await connection.send_command("SCRIPT", "LOAD", script.script)
    await connection.read_response()
    await connection.send_command("EVALSHA", script.sha, 0, *args)
    return await connection.read_response()
