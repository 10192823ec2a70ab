"""Slow and stalled clients: a deadline for the request head and connection limits (TR-6).

aiohttp bounds an idle keep-alive connection only loosely (`keepalive_timeout`) and the body is
bounded where it is read (`RequestInfo.body`), but nothing bounds how long a client may take to
send a request head, nor how many connections one address may hold. `GuardedServer` gives every
connection a `GuardedRequestHandler`, aiohttp's protocol with three additions, all made through
its public methods (`connection_made`, `connection_lost`, `finish_response`) and the request
handler it calls:

* **Head deadline.** A connection records when it became ready for a request: when it opens
  (after the TLS handshake) and when a response has been written; a complete head reaching the
  handler clears it. A sweep of the server's connections (no timer per request: the hot path
  pays two attribute writes) closes those that waited longer than the deadline, without an
  answer: a 408 on a keep-alive connection could be read as the answer to a request the client
  is just sending (RFC 9112 §9.5 lets a server close an idle connection at any time). So
  `request_head_timeout` is also the idle limit of keep-alive connections, and a partial head
  pipelined behind another request gets no more time than any other head.
* **TLS handshake deadline.** `GuardedSockSite` gives the handshake the same bound (asyncio's
  default is 60 s); connections still in the handshake are not yet counted below.
* **Connection limits.** At most `max_connections` per worker and `max_connections_per_address`
  per client address: the TCP peer, or with the PROXY protocol on the client its trusted proxy
  names (server/proxy_protocol.py gives the handler a transport whose `peername` is that
  client); behind a proxy that sends no such header every client shares the proxy's address.
  The excess is accepted and closed at once, before anything is read or answered: a 503 written
  before the request is read is often lost to the reset that closing with unread data causes.
  Every open connection is released exactly once in `connection_lost`, whatever closed it.
  Refusals are reported in the app log at most once a minute, with a count, never a traceback
  (`ThrottledReport`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from panelauth.protocol.addresses import normalize_address
from panelauth.server.protocol_errors import CalmRequestHandler, CalmServer

log = logging.getLogger(__name__)

_Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
_Guarded = TypeVar("_Guarded", bound="GuardedRequestHandler")


class ThrottledReport:
    """A warning written at most once per `interval`, with how many events it stands for.

    `add(*args)` counts an event; the message (a %-format whose first field is the count) is
    written with the latest event's arguments when the interval since the last line is over.
    """

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        *,
        interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._message = message
        self._interval = interval
        self._monotonic = monotonic
        self._next = 0.0
        self._unreported = 0

    def add(self, *args: object) -> None:
        self._unreported += 1
        now = self._monotonic()
        if now < self._next:
            return
        self._next = now + self._interval
        self._logger.warning(self._message, self._unreported, *args)
        self._unreported = 0


class ConnectionLimits:
    """A worker's open connections, in total and per client address; shared by its listeners."""

    def __init__(
        self,
        max_connections: int,
        max_per_address: int,
        *,
        report_interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.total = 0
        self.by_address: dict[str, int] = {}
        self._report = ThrottledReport(
            log,
            "refused %d connection(s) over the %s, the last from %s",
            interval=report_interval,
            monotonic=monotonic,
        )

    def acquire(self, address: str) -> bool:
        """Count a new connection from `address`, or refuse it (False) if a limit is reached."""
        held = self.by_address.get(address, 0)
        if self.total >= self.max_connections:
            self._refused(address, f"per-worker limit ({self.max_connections})")
            return False
        if held >= self.max_per_address:
            self._refused(address, f"per-address limit ({self.max_per_address})")
            return False
        self.total += 1
        self.by_address[address] = held + 1
        return True

    def release(self, address: str) -> None:
        self.total -= 1
        held = self.by_address[address] - 1
        if held:
            self.by_address[address] = held
        else:
            del self.by_address[address]

    def _refused(self, address: str, limit: str) -> None:
        self._report.add(limit, address)


class GuardedRequestHandler(CalmRequestHandler):
    """aiohttp's connection protocol with a head deadline and connection limits."""

    def __init__(self, manager: GuardedServer, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager
        self._limits = limits
        self._counted_address: str | None = None
        # when the connection became ready for a request head; None while a request is served
        self.waiting_since: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = _peer_address(transport)
        if not self._limits.acquire(address):
            transport.close()  # refused: nothing is read, nothing is answered
            return
        self._counted_address = address
        super().connection_made(transport)
        self.waiting_since = self._loop.time()
        self._guard.watch(self)

    def data_received(self, data: bytes) -> None:
        if self._counted_address is not None:  # a refused TLS connection may still deliver
            super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.waiting_since = None
        if self._counted_address is None:
            return  # a refused connection: aiohttp never saw it
        self._guard.unwatch(self)
        self._limits.release(self._counted_address)
        self._counted_address = None
        super().connection_lost(exc)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        timed_out = resp.status == 408
        if timed_out:
            resp.force_close()
        result = await super().finish_response(request, resp, start_time)
        if timed_out:
            # the body is still arriving: close now rather than linger reading it
            self.force_close()
        else:
            self.waiting_since = self._loop.time()  # ready for the next head
        return result

    def head_timed_out(self) -> None:
        self.waiting_since = None
        log.debug("no request head in time from %s", self.peername)
        self.force_close()


class GuardedServer(CalmServer):
    """A CalmServer whose connections are GuardedRequestHandlers sharing one ConnectionLimits.

    The head deadline costs a request two attribute writes, not a timer: one periodic sweep per
    server, running only while connections are open, closes every connection that has waited
    for a head longer than `head_timeout` (so a deadline fires up to a quarter of it late).
    """

    def __init__(
        self, handler: _Handler, *, limits: ConnectionLimits, head_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(_stopping_head_deadline(handler), **kwargs)
        self._limits = limits
        self.head_timeout = head_timeout
        self._sweep_interval = min(1.0, max(0.05, head_timeout / 4))
        self._watched: set[GuardedRequestHandler] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, limits=self._limits, loop=self._loop, **self._kwargs)

    def handler(self, cls: type[_Guarded], **extra: Any) -> _Guarded:
        """A connection protocol of class `cls`, made as `__call__` makes the default one."""
        return cls(self, limits=self._limits, loop=self._loop, **self._kwargs, **extra)

    def watch(self, connection: GuardedRequestHandler) -> None:
        self._watched.add(connection)
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(self._sweep_interval, self._sweep)

    def unwatch(self, connection: GuardedRequestHandler) -> None:
        self._watched.discard(connection)

    def _sweep(self) -> None:
        self._sweeper = None
        deadline = self._loop.time() - self.head_timeout
        for connection in [c for c in self._watched if c.waiting_since is not None]:
            if connection.waiting_since is not None and connection.waiting_since <= deadline:
                connection.head_timed_out()
        if self._watched:
            self._sweeper = self._loop.call_later(self._sweep_interval, self._sweep)


class GuardedSockSite(web.SockSite):
    """A SockSite whose TLS handshakes are bounded by `handshake_timeout` seconds."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        *,
        handshake_timeout: float,
        ssl_context: Any = None,
    ) -> None:
        super().__init__(runner, sock, ssl_context=ssl_context)
        self.handshake_timeout = handshake_timeout

    async def start(self) -> None:
        # SockSite.start with the one argument it does not pass: ssl_handshake_timeout
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server,
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=self.handshake_timeout if self._ssl_context else None,
        )


def _stopping_head_deadline(handler: _Handler) -> _Handler:
    def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        # a whole head has arrived: the deadline stops until the answer is written
        cast(GuardedRequestHandler, request.protocol).waiting_since = None
        return handler(request)

    return handle


def _peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) and peer else ""
    return normalize_address(str(host))
