"""The panelauth worker stack plus a bare hello-world listener, in one process (benchmark only).

The benchmark baseline must be served by the same process, event loop, TLS context and aiohttp
low-level server (`CalmServer`) as the real endpoints, so that the ratio
"authenticated request ÷ hello-world" cancels out machine speed (../shared/perf, "Proposed
targets"). This script mirrors `panelauth.server.listeners` (bind once, optional pre-fork, one
store connection per worker opened after the fork) and adds one extra TLS port whose handler
answers `{"hello":"world"}` and does nothing else. The mirror is by hand: when `_worker` changes,
follow it here. Left out on purpose: the session sweeper task (first run 60 s after start, so
never during a benchmark round).

usage: python bench/hello_server.py --data-dir DIR [--port-offset K] [--hello-port P]
                                    [--workers N] [--host 127.0.0.1]

The data directory must already be initialised (`panelauth --data-dir DIR init`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiohttp import web

from panelauth.clock import SystemClock
from panelauth.protocol.services import Listener, standard_listeners
from panelauth.server.applog import configure_logging
from panelauth.server.datadir import DataDir
from panelauth.server.gateway import Gateway
from panelauth.server.logfiles import reopen_all
from panelauth.server.protocol_errors import CalmServer
from panelauth.server.state import ServerState, build_state
from panelauth.server.tls import server_context

LISTEN_BACKLOG = 1024


@dataclass(frozen=True)
class Options:
    data_dir: DataDir
    host: str
    port_offset: int
    hello_port: int
    workers: int


async def hello(_request: web.BaseRequest) -> web.StreamResponse:
    """The baseline: a JSON document serialised per request, no auth, no logging."""
    return web.json_response({"hello": "world"})


def bind(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket, bound the way `listeners.bind_sockets` binds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


async def _start(
    server: web.Server, sock: socket.socket, tls: ssl.SSLContext | None, grace: float
) -> web.BaseRunner:
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=grace)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=tls).start()
    return runner


async def _start_all(
    state: ServerState,
    tls: ssl.SSLContext,
    listeners: Sequence[Listener],
    sockets: Sequence[socket.socket],
    hello_socket: socket.socket,
) -> list[web.BaseRunner]:
    grace = state.settings.shutdown_grace_seconds
    runners = []
    for listener, sock in zip(listeners, sockets, strict=True):
        server = CalmServer(Gateway(listener, state))
        runners.append(await _start(server, sock, tls if listener.tls else None, grace))
    runners.append(await _start(CalmServer(hello), hello_socket, tls, grace))
    return runners


async def worker(
    options: Options,
    listeners: Sequence[Listener],
    sockets: Sequence[socket.socket],
    hello_socket: socket.socket,
) -> None:
    """One worker: the same steps as `listeners._worker`, plus the hello-world site."""
    data_dir = options.data_dir
    settings = data_dir.load_settings()
    configure_logging(data_dir.logs)
    state = build_state(data_dir, settings, SystemClock())
    tls = server_context(data_dir.cert, data_dir.key)
    runners = await _start_all(state, tls, listeners, sockets, hello_socket)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reopen_all)
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*(runner.cleanup() for runner in runners))
        state.close()


def _run_worker(
    options: Options,
    listeners: Sequence[Listener],
    sockets: Sequence[socket.socket],
    hello_socket: socket.socket,
) -> None:
    uvloop.run(worker(options, listeners, sockets, hello_socket))


def supervise(
    options: Options,
    listeners: Sequence[Listener],
    sockets: Sequence[socket.socket],
    hello_socket: socket.socket,
) -> int:
    """Fork `options.workers` workers sharing the sockets; forward signals; no respawn."""
    children: set[int] = set()
    for _ in range(options.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _run_worker(options, listeners, sockets, hello_socket)
            except BaseException:
                code = 1
            os._exit(code)
        children.add(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while children:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
    return 0


def serve(options: Options) -> int:
    """Bind the six panelauth ports and the hello port once, then run 1 or N workers."""
    listeners = standard_listeners(options.port_offset)
    sockets = [bind(options.host, listener.port) for listener in listeners]
    hello_socket = bind(options.host, options.hello_port)
    ports = ", ".join(f"{item.port}{'/tls' if item.tls else ''}" for item in listeners)
    print(
        f"hello_server listening on {options.host}: {ports}; hello {options.hello_port}/tls; "
        f"workers {options.workers}",
        flush=True,
    )
    if options.workers <= 1:
        _run_worker(options, listeners, sockets, hello_socket)
        return 0
    return supervise(options, listeners, sockets, hello_socket)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="panelauth plus a hello-world TLS port (benchmark)"
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-offset", type=int, default=0)
    parser.add_argument("--hello-port", type=int, default=None, help="default: 2100 + offset")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    hello_port = args.hello_port if args.hello_port is not None else 2100 + args.port_offset
    return Options(DataDir(args.data_dir), args.host, args.port_offset, hello_port, args.workers)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: check the data directory, then serve until SIGTERM/SIGINT."""
    options = parse_args(argv)
    if not options.data_dir.database.exists():
        print(f"{options.data_dir.root} is not initialised: run `panelauth init`", file=sys.stderr)
        return 2
    return serve(options)


if __name__ == "__main__":
    sys.exit(main())
