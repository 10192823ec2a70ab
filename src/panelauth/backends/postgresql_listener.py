"""The listening connection of a PostgreSQL store: LISTEN on its schema's channel, always.

One per store (so one per worker), beside the pool: a connection waiting for notices cannot
serve queries. It runs as a background task, hands each notice's payload to the store and
tells it whether it is listening; the store trusts its caches only while it is
(postgresql_base.py). A lost connection (a server restart, a killed backend, the network) is
opened again after a pause that grows from 0.1 s to 5 s; TCP keepalives
(postgresql_connect.py) find a connection that died silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

import psycopg
from psycopg import sql

from panelauth.backends.postgresql_connect import describe

FIRST_PAUSE_SECONDS: Final = 0.1
LAST_PAUSE_SECONDS: Final = 5.0

log = logging.getLogger(__name__)


class Listener:
    def __init__(
        self,
        conninfo: str,
        options: dict[str, Any],
        channel: str,
        *,
        on_notice: Callable[[str], None],
        on_listening: Callable[[bool], None],
    ) -> None:
        self._conninfo = conninfo
        self._options = options
        self._channel = channel
        self._on_notice = on_notice
        self._on_listening = on_listening
        self._task: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()  # set once the first attempt to listen ended either way
        self.backend_pid: int | None = None  # of the listening connection, while it listens

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"panelauth LISTEN {self._channel}"
        )

    async def first_attempt(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until the first attempt listens or fails."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while True:
            listened = False
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, **self._options
                ) as connection:
                    await connection.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(self._channel))
                    )
                    self.backend_pid = connection.info.backend_pid
                    listened = True
                    self._on_listening(True)
                    self._tried.set()
                    async for notice in connection.notifies():
                        self._on_notice(notice.payload)
            except (psycopg.Error, OSError) as error:
                log.warning("change notices lost (%s); caches are not used", describe(error))
            finally:
                self.backend_pid = None
                self._on_listening(False)
                self._tried.set()
            pause = FIRST_PAUSE_SECONDS if listened else min(pause * 2, LAST_PAUSE_SECONDS)
            await asyncio.sleep(pause)
