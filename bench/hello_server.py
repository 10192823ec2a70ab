"""`panelauth serve` plus a bare hello-world TLS port, in the same worker (benchmark only).

The benchmark baseline must be served by the same process, event loop, TLS context and aiohttp
low-level server (`CalmServer`) as the real endpoints, so that the ratio
"authenticated request ÷ hello-world" cancels out machine speed (docs/benchmarks.md,
"Measurements behind design choices"). This script binds the hello socket, then runs the
production entry point
`panelauth.server.listeners.serve` with `ServeOptions.extra_sites`: the real worker (store
opened after the fork, session sweeper, signal handling, optional pre-fork supervisor) serves the
six panelauth ports and, with the same `SSLContext`, the hello port, whose handler answers
`{"hello":"world"}` and does nothing else.

usage: python bench/hello_server.py --data-dir DIR [--port-offset K] [--hello-port P]
                                    [--workers N] [--host 127.0.0.1]

The data directory must already be initialised (`panelauth --data-dir DIR init`).
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from panelauth.server.datadir import DataDir
from panelauth.server.listeners import ServeOptions, serve

LISTEN_BACKLOG = 1024


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: check the data directory, bind the hello port, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        description="panelauth plus a hello-world TLS port (benchmark)"
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-offset", type=int, default=0)
    parser.add_argument("--hello-port", type=int, default=None, help="default: 2100 + offset")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    data_dir = DataDir(args.data_dir)
    if not data_dir.config.exists():  # init writes it, whichever store the directory uses
        print(f"{data_dir.root} is not initialised: run `panelauth init`", file=sys.stderr)
        return 2
    hello_port = args.hello_port if args.hello_port is not None else 2100 + args.port_offset
    hello_socket = bind(args.host, hello_port)
    print(f"hello_server: hello {hello_port}/tls; workers {args.workers}", flush=True)
    options = ServeOptions(
        data_dir=data_dir,
        host=args.host,
        port_offset=args.port_offset,
        workers=args.workers,
        extra_sites=((hello_socket, hello),),
    )
    return serve(options)


if __name__ == "__main__":
    sys.exit(main())
