"""Serving: six listeners in one process, optional pre-forked workers, graceful shutdown.

The supervisor binds the six sockets once, then forks N workers that each wrap them in aiohttp
sites (the pattern measured in docs/benchmarks.md). Each worker opens its own store connection
after the fork. SIGTERM/SIGINT: stop accepting, let in-flight requests finish within the
grace period, write the buffered log lines, close the store. SIGHUP: write the buffered log
lines, then reopen the log files (rotation). Each connection has a deadline for its request
head and counts against the worker's connection limits (server/connections.py). With
`proxy_protocol` on, each site reads the PROXY header of trusted proxies' connections before
TLS or HTTP start (server/proxy_protocol.py); off, the sites are exactly as without it.
Every minute each worker compares its clock with a shared store's and logs an error while the
skew is beyond `max_clock_skew_seconds` (FT-10, core/clock_skew.py; `panelauth serve` checked
it once before the workers were forked). When an enabled plugin provides certificates, the TLS
sites serve them by SNI from a per-worker cache of contexts (server/sni.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiohttp import web

from panelauth.core.clock_skew import SkewWatch
from panelauth.errors import PanelauthError
from panelauth.protocol.services import Listener, standard_listeners
from panelauth.server.applog import configure_logging
from panelauth.server.connections import ConnectionLimits, GuardedServer, GuardedSockSite
from panelauth.server.datadir import DataDir
from panelauth.server.effective_time import keep_persisted, last_checkpoint, open_clock
from panelauth.server.gateway import Gateway
from panelauth.server.health import Health
from panelauth.server.logfiles import FLUSH_INTERVAL, reopen_all
from panelauth.server.protocol_errors import CalmServer
from panelauth.server.proxy_protocol import ProxySockSite, TrustedProxies
from panelauth.server.sni import SniCache
from panelauth.server.state import ServerState, build_state
from panelauth.server.tls import server_context

log = logging.getLogger(__name__)


# An extra TLS site on a bound socket, e.g. the benchmark's hello-world baseline
ExtraSite = tuple[socket.socket, Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]]


@dataclass(frozen=True)
class ServeOptions:
    data_dir: DataDir
    host: str = "127.0.0.1"
    port_offset: int = 0
    workers: int = 1
    cert: Path | None = None
    key: Path | None = None
    extra_sites: tuple[ExtraSite, ...] = ()  # served with the same TLS context


class ListenError(OSError):
    """A port could not be bound; the message names the port and its service."""

    def __init__(self, host: str, listener: Listener, error: OSError) -> None:
        super().__init__(error.errno, error.strerror)
        kind = "TLS" if listener.tls else "plain"
        self.message = (
            f"cannot listen on {host} port {listener.port} "
            f"({listener.service.value}, {kind}): {error.strerror or error}"
        )

    def __str__(self) -> str:
        return self.message


def bind_sockets(host: str, listeners: tuple[Listener, ...]) -> list[socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound: list[socket.socket] = []
    for listener in listeners:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.bind((host, listener.port))
            sock.listen(1024)
        except OSError as error:
            for opened in (*bound, sock):
                opened.close()
            raise ListenError(host, listener, error) from error
        sock.setblocking(False)
        bound.append(sock)
    return bound


def serve(options: ServeOptions) -> int:
    listeners = standard_listeners(options.port_offset)
    sockets = bind_sockets(options.host, listeners)
    ports = ", ".join(f"{listener.port}{'/tls' if listener.tls else ''}" for listener in listeners)
    print(f"panelauth listening on {options.host}: {ports}", flush=True)
    if options.workers <= 1:
        uvloop.run(_worker(options, listeners, sockets))
        return 0
    return _supervise(options, listeners, sockets)


def _supervise(
    options: ServeOptions, listeners: tuple[Listener, ...], sockets: list[socket.socket]
) -> int:
    children: set[int] = set()
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                uvloop.run(_worker(options, listeners, sockets))
            except BaseException:
                code = 1
            os._exit(code)
        children.add(pid)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for _ in range(options.workers):
        spawn()
    while children:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        if not stopping:
            print(f"panelauth: worker {pid} exited; starting another", file=sys.stderr)
            spawn()
    return 0


async def _worker(
    options: ServeOptions, listeners: tuple[Listener, ...], sockets: list[socket.socket]
) -> None:
    data_dir = options.data_dir
    settings = data_dir.load_settings()
    configure_logging(data_dir.logs)
    clock = open_clock(data_dir)  # FT-9: expiry follows a time that never goes back
    proxies = TrustedProxies(settings.trusted_proxies) if settings.proxy_protocol else None
    # log lines are written in batches, at most FLUSH_INTERVAL apart (issue 9)
    state = await build_state(
        data_dir, settings, clock, wall_clock=clock.wall, log_flush_interval=FLUSH_INTERVAL
    )
    tls = _tls_context(options, state)
    _raise_open_files_limit(settings.max_connections)
    # one count for the six listeners: the limits are per worker (TR-6)
    limits = ConnectionLimits(settings.max_connections, settings.max_connections_per_address)
    runners: list[web.BaseRunner] = []
    for listener, sock in zip(listeners, sockets, strict=True):
        server = GuardedServer(
            Gateway(listener, state), limits=limits, head_timeout=settings.request_head_timeout
        )
        runner = web.ServerRunner(
            server, handle_signals=False, shutdown_timeout=settings.shutdown_grace_seconds
        )
        await runner.setup()
        site_tls = tls if listener.tls else None
        if proxies is None:
            site = GuardedSockSite(
                runner, sock, ssl_context=site_tls, handshake_timeout=settings.request_head_timeout
            )
        else:
            site = ProxySockSite(
                runner,
                sock,
                proxies=proxies,
                ssl_context=site_tls,
                handshake_timeout=settings.request_head_timeout,
            )
        await site.start()
        runners.append(runner)
    for sock, handler in options.extra_sites:
        runner = web.ServerRunner(CalmServer(handler), handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock, ssl_context=tls).start()
        runners.append(runner)

    sweeper = asyncio.create_task(_sweep_sessions(state))
    persister = asyncio.create_task(keep_persisted(clock))
    skew = SkewWatch(state.runtime.store, clock.wall, settings.max_clock_skew_seconds)
    skew_watch = asyncio.create_task(skew.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reopen_all)
    try:
        await stop.wait()
        # a balancer learns from /readyz to send nothing new while the ports still answer
        Health.for_store(state.runtime.store).drain()
        if settings.drain_seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_second(stop), settings.drain_seconds)
    finally:
        sweeper.cancel()
        persister.cancel()
        skew_watch.cancel()
        # stop accepting everywhere first, then let in-flight requests finish (FT-11)
        try:
            await asyncio.gather(*(runner.cleanup() for runner in runners))
        finally:
            await state.aclose()  # writes every buffered log line first
            last_checkpoint(clock)


def _tls_context(options: ServeOptions, state: ServerState) -> ssl.SSLContext:
    """panelauth's certificate, and the enabled plugins' by SNI (server/sni.py)."""
    data_dir = options.data_dir
    tls = server_context(options.cert or data_dir.cert, options.key or data_dir.key)
    if state.certificates is not None:
        SniCache(state.certificates).attach(tls)
    return tls


async def _second(stop: asyncio.Event) -> None:
    """Until a second SIGTERM or SIGINT: that one ends the drain early."""
    stop.clear()
    await stop.wait()


def _raise_open_files_limit(max_connections: int, spare: int = 256) -> None:
    """Make room for max_connections sockets plus the store, logs and listeners."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + spare
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open-files limit %d is below max_connections (%d) plus %d spare; raise ulimit -n",
            soft,
            max_connections,
            spare,
        )


async def _sweep_sessions(state: ServerState, interval: float = 60.0) -> None:
    """Purge sessions past their absolute expiry, so stale records do not pile up (SE-5)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await state.sessions.sweep()
        except PanelauthError:
            log.warning("session sweep failed; will retry", exc_info=True)
