"""Panelauth's own per-request cost: the Gateway called in-process, no sockets, no TLS.

    .venv/bin/python bench/gateway_micro.py [--number N] [--repeat R] [--profile CASE]

Initialises a temp data directory the way bench/run.py does (`panelauth init`, a WHM API token,
the account `bench`), builds the server state the way a worker does
(server/listeners.py `_worker`), and calls one `Gateway` per listener with requests made by
`aiohttp.test_utils.make_mocked_request` (with small stand-ins for the transport and protocol:
`unittest.mock` objects would be slow to read on the measured path) and cloned from one such
request per case (making each with `make_mocked_request` costs ~0.7 ms of mocks). The cases are
those of bench/run.py:

* hello: a handler returning `web.json_response({"hello": "world"})`, the baseline
* token_version: `GET /json-api/version?api.version=1`, `Authorization: whm root:TOKEN`, WHM TLS
* basic_version: the same with `Authorization: Basic` (the first call warms the credential cache)
* session_uapi: `GET /cpsessN/execute/DomainInfo/list_domains` on the cPanel TLS listener with
  the cookie of a `POST /login/?login_only=1` made through the gateway

N requests per case are built before the timed loop (fresh ones for each repeat: aiohttp caches
what it parsed on the request). Prints the best-of-R mean µs per request and the case's speed as
a share of hello's (hello µs ÷ case µs, the figure issue 9 sets a bound on); `--profile CASE`
prints a cProfile table of one more loop of that case, sorted by tottime.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import gc
import json
import pstats
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from run import (  # bench/run.py: the same data directory as the wrk benchmark
    BENCH_USER,
    Credentials,
    _hello_ok,
    _list_domains_ok,
    _whm_version_ok,
    init_data_dir,
)

from panelauth.protocol.services import Listener, Service
from panelauth.server.datadir import DataDir
from panelauth.server.effective_time import open_clock
from panelauth.server.gateway import Gateway
from panelauth.server.logfiles import FLUSH_INTERVAL
from panelauth.server.state import ServerState, build_state

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
CASES = ("hello", "token_version", "basic_version", "session_uapi")
PEER = ("127.0.0.1", 5555)
WHM = Listener(Service.WHM, True, Service.WHM.tls_port)
CPANEL = Listener(Service.CPANEL, True, Service.CPANEL.tls_port)
VERSION_PATH = "/json-api/version?api.version=1"


class Transport:
    """What the gateway asks of a transport."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return PEER if name == "peername" else default

    def is_closing(self) -> bool:
        return False


class Protocol:
    """What aiohttp's Request asks of its protocol: the transport and the writer."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.writer: Any = None
        self.peername = PEER
        self.sockname = ("127.0.0.1", 2087)
        self.ssl_context = None


TRANSPORT = Transport()


def mocked(
    method: str, path: str, headers: dict[str, str], payload: StreamReader | None = None
) -> web.BaseRequest:
    protocol = Protocol(TRANSPORT)
    extra: dict[str, Any] = {} if payload is None else {"payload": payload}
    return make_mocked_request(
        method, path, headers=headers, transport=TRANSPORT, protocol=protocol, **extra
    )


async def hello(_request: web.BaseRequest) -> web.StreamResponse:
    """The baseline of bench/hello_server.py."""
    return web.json_response({"hello": "world"})


async def login(gateway: Gateway, credentials: Credentials) -> tuple[str, str]:
    """`POST /login/?login_only=1` through the gateway: the cookie value and the /cpsess path."""
    form = {"user": credentials.user, "pass": credentials.user_password}
    body = urllib.parse.urlencode(form).encode("ascii")
    payload = StreamReader(BaseProtocol(asyncio.get_running_loop()), 2**16)
    payload.feed_data(body)
    payload.feed_eof()
    headers = {
        "Host": f"127.0.0.1:{CPANEL.port}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(body)),
    }
    response = await gateway(mocked("POST", "/login/?login_only=1", headers, payload))
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    document = json.loads(response.body)
    cookie = response.headers.get("Set-Cookie", "")
    if document.get("status") != 1 or not cookie.startswith("cpsession="):
        raise SystemExit(f"login failed: {response.status} {response.body!r}")
    return cookie.split(";", 1)[0].removeprefix("cpsession="), str(document["security_token"])


class Case:
    def __init__(
        self,
        handler: Handler,
        template: web.BaseRequest,
        check: Callable[[int, bytes], bool],
    ) -> None:
        self.handler, self.template, self.check = handler, template, check

    def make(self) -> web.BaseRequest:
        """A fresh request: aiohttp caches what it parsed on the request object."""
        return self.template.clone()

    async def verify(self) -> None:
        """One call, checked; it also warms what a first call fills (the credential cache)."""
        response = await self.handler(self.make())
        assert isinstance(response, web.Response) and isinstance(response.body, bytes)
        if not self.check(response.status, response.body):
            raise SystemExit(f"unexpected answer: {response.status} {response.body!r}")

    async def run(self, number: int, profile: cProfile.Profile | None = None) -> float:
        """Seconds for `number` fresh requests, handled one after the other."""
        requests = [self.make() for _ in range(number)]
        handler = self.handler
        gc.collect()
        gc.freeze()  # the prebuilt requests are never scanned by the collector in the loop
        try:
            if profile is not None:
                profile.enable()
            start = time.perf_counter()
            for request in requests:
                await handler(request)
            elapsed = time.perf_counter() - start
            if profile is not None:
                profile.disable()
        finally:
            gc.unfreeze()
        return elapsed


async def build_cases(state: ServerState, credentials: Credentials) -> dict[str, Case]:
    whm, cpanel = Gateway(WHM, state), Gateway(CPANEL, state)
    basic = base64.b64encode(f"root:{credentials.root_password}".encode()).decode("ascii")
    whm_host = f"127.0.0.1:{WHM.port}"
    token_headers = {
        "Host": whm_host,
        "Authorization": f"whm root:{credentials.token}",
        "User-Agent": "wrk",
    }
    basic_headers = {"Host": whm_host, "Authorization": f"Basic {basic}", "User-Agent": "wrk"}
    cookie, security_token = await login(cpanel, credentials)
    session_headers = {
        "Host": f"127.0.0.1:{CPANEL.port}",
        "Cookie": f"cpsession={cookie}",
        "User-Agent": "wrk",
    }
    uapi_path = f"{security_token}/execute/DomainInfo/list_domains"
    return {
        "hello": Case(hello, mocked("GET", "/", {"User-Agent": "wrk"}), _hello_ok),
        "token_version": Case(whm, mocked("GET", VERSION_PATH, token_headers), _whm_version_ok),
        "basic_version": Case(whm, mocked("GET", VERSION_PATH, basic_headers), _whm_version_ok),
        "session_uapi": Case(cpanel, mocked("GET", uapi_path, session_headers), _list_domains_ok),
    }


async def measure(data_dir: DataDir, credentials: Credentials, args: argparse.Namespace) -> None:
    settings = data_dir.load_settings()
    clock = open_clock(data_dir)
    state = await build_state(
        data_dir, settings, clock, wall_clock=clock.wall, log_flush_interval=FLUSH_INTERVAL
    )
    try:
        cases = await build_cases(state, credentials)
        for case in cases.values():
            await case.verify()
        best = dict.fromkeys(cases, float("inf"))
        for _ in range(args.repeat):
            for name, case in cases.items():
                best[name] = min(best[name], await case.run(args.number) / args.number)
        print(f"µs per request, best of {args.repeat} x {args.number} (share of hello's speed)")
        for name in cases:
            share = best["hello"] / best[name]
            print(f"  {name:<14} {best[name] * 1e6:7.2f} µs  {share:6.1%}")
        if args.profile:
            profile = cProfile.Profile()
            await cases[args.profile].run(args.number, profile)
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    finally:
        await state.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--number", type=int, default=20_000, help="requests per timed loop")
    parser.add_argument("--repeat", type=int, default=5, help="timed loops per case (best kept)")
    parser.add_argument("--profile", choices=CASES, help="print a cProfile table of this case")
    parser.add_argument("--top", type=int, default=35, help="rows of the profile table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="panelauth-micro-") as temp:
        root = Path(temp) / "data"
        credentials = init_data_dir(root)
        assert credentials.user == BENCH_USER
        uvloop.run(measure(DataDir(root), credentials, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
