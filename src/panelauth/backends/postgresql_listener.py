"""The listening connection of a PostgreSQL store: LISTEN on its schema's channel, always.

One per store (so one per worker), beside the pool: a connection waiting for notices cannot
serve queries. It runs as a background task, hands each notice's payload to the store and
tells it whether it is listening; the store trusts its caches only while it is
(postgresql_base.py). A lost connection (a server restart, a killed backend, the network) is
opened again after a pause that grows from 0.1 s to 5 s.

Proofs of life: a connection can also stay open and go silent (a server or a network that
takes bytes and never answers: TCP keepalives see nothing wrong). So the listener proves every
`PROOF_SECONDS` that it still hears the server: a `SELECT 1` round trip on its own connection
(within the store's deadline, else the connection is cut and opened again). A reply proves
that every notice committed before the query was sent has arrived (the server sends a
session's notices in order, before its replies), so the store is told the time the query was
sent (`on_proof`) and trusts its caches only while the last proof is recent. Notices are read
as they come (the socket turns readable: no round trip); those that arrive with a reply reach
the store through the connection's notify handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from time import monotonic
from typing import Any, Final

import psycopg
from psycopg import sql

from panelauth.backends.postgresql_connect import Deadline, cut, describe

FIRST_PAUSE_SECONDS: Final = 0.1
LAST_PAUSE_SECONDS: Final = 5.0
PROOF_SECONDS: Final = 0.5  # how often the listening connection proves it still hears the server
STOP_SECONDS: Final = 1.0  # what stop() waits for a round trip it cut to end, before cancelling

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[Any]


class Listener:
    def __init__(
        self,
        conninfo: str,
        options: dict[str, Any],
        channel: str,
        *,
        on_notice: Callable[[str], None],
        on_listening: Callable[[bool], None],
        on_proof: Callable[[float], None],
        deadline_seconds: float,
    ) -> None:
        self._conninfo = conninfo
        self._options = options
        self._channel = channel
        self._on_notice = on_notice
        self._on_listening = on_listening
        self._on_proof = on_proof
        self._deadline_seconds = deadline_seconds
        self._task: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()  # set once the first attempt to listen ended either way
        self._connection: Connection | None = None
        self._stopping = False
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
        """End the task. Its connection is cut first: a round trip in flight ends at once (as
        a failure the task expects) rather than through psycopg's cancel request, which a
        silent server would keep waiting."""
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        if self._connection is not None:
            cut(self._connection)
            await asyncio.wait({task}, timeout=STOP_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while not self._stopping:
            listened = False
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, **self._options
                ) as connection:
                    self._connection = connection
                    connection.add_notify_handler(lambda notice: self._on_notice(notice.payload))
                    listen = sql.SQL("LISTEN {}").format(sql.Identifier(self._channel))
                    proven = await self._round_trip(connection, listen)
                    self.backend_pid = connection.info.backend_pid
                    listened = True
                    self._on_proof(proven)
                    self._on_listening(True)
                    self._tried.set()
                    await self._listen(connection, proven)
            except (psycopg.Error, OSError) as error:
                if not self._stopping:
                    log.warning("change notices lost (%s); caches are not used", describe(error))
            finally:
                self._connection = None
                self.backend_pid = None
                self._on_listening(False)
                self._tried.set()
            if self._stopping:
                return
            pause = FIRST_PAUSE_SECONDS if listened else min(pause * 2, LAST_PAUSE_SECONDS)
            await asyncio.sleep(pause)

    async def _listen(self, connection: Connection, proven: float) -> None:
        """Hand on notices as they arrive; prove the connection every PROOF_SECONDS."""
        while not self._stopping:
            wait = proven + PROOF_SECONDS - monotonic()
            if wait <= 0:
                proven = await self._round_trip(connection, "SELECT 1")
                self._on_proof(proven)
                continue
            await self._readable(connection, wait)
            self._drain(connection)

    async def _round_trip(self, connection: Connection, query: sql.Composed | str) -> float:
        """Run `query` within the deadline (else the connection is cut and this fails): the
        time it was sent, which its reply proves."""
        sent = monotonic()
        deadline = Deadline(self._deadline_seconds)
        timer = deadline.arm(connection)
        try:
            await connection.execute(query)
        except psycopg.OperationalError as error:
            if deadline.expired:
                raise psycopg.OperationalError(
                    f"no answer within {deadline.seconds:g} s"
                ) from error
            raise
        finally:
            timer.cancel()
        return sent

    @staticmethod
    async def _readable(connection: Connection, timeout: float) -> None:
        """Wait until the connection's socket has something to read, or `timeout` passed."""
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        descriptor = connection.pgconn.socket
        loop.add_reader(descriptor, wake)
        timer = loop.call_later(timeout, wake)
        try:
            await woken
        finally:
            timer.cancel()
            loop.remove_reader(descriptor)

    def _drain(self, connection: Connection) -> None:
        """Read what arrived (without blocking) and hand on its notices; a connection the
        server closed fails here (OperationalError)."""
        pgconn = connection.pgconn
        pgconn.consume_input()
        encoding = connection.info.encoding
        while (notice := pgconn.notifies()) is not None:
            self._on_notice(notice.extra.decode(encoding))
