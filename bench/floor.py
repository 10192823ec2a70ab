"""What a microsecond of panelauth's own work costs under load: the floor, a calibrated
pure-Python load, and ablations of the token path (docs/benchmarks.md, "The cost model").

    .venv/bin/python bench/floor.py [--rounds 2] [--duration 5] [--spins 0,500,1000,2000,4000]
                                    [--ablations none,logs,auth,auth+logs]

Each round and ablation starts one server process (`floor.py serve`, pinned to core 0 like
bench/run.py's) that serves the six panelauth ports and two extra TLS ports with the same
`SSLContext`: hello (`{"hello": "world"}`, as bench/hello_server.py) and the floor, which
answers the exact bytes and headers of a `version` call and, with `?spin=N`, first runs a
pure-Python loop of N additions (a known amount of interpreter work that touches almost no
memory). wrk (core 1) then loads hello, the floor at each N, and the real `whm` token call.

Printed per case: req/s, µs per request, and µs added to hello's; for the spins also the loop's
own µs measured in this process, so the ratio "added under load ÷ in-process" is the price of
one microsecond of work on this machine and harness.

Ablations (measurement only, never for use: they switch off security and logging in the
server process, by patching classes before it starts serving):
* `logs`: the token call writes no access_log, login_log or audit line;
* `guard`: no brute-force protection (the chain is built without its guard);
* `auth`: the authenticator chain answers a header it authenticated before from a plain dict
  keyed by the header (no brute-force checks, no store reads, no digest).
What the token call gains from each bounds what making that step cheaper can give.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from hello_server import bind, hello
from run import (
    SERVER_CORE,
    Case,
    Config,
    _hello_ok,
    check_ports_free,
    init_data_dir,
    load,
    pin,
    server_ports,
    stop_server,
    verify,
    wait_ready,
)

from panelauth.core.authentication import AuthenticatorChain
from panelauth.core.models import Identity
from panelauth.server.datadir import DataDir
from panelauth.server.gateway import Gateway
from panelauth.server.listeners import ServeOptions, serve
from panelauth.server.responses import BASE_HEADERS, JSON

PORT_OFFSET = 10000
HELLO_PORT, FLOOR_PORT = 2100 + PORT_OFFSET, 2101 + PORT_OFFSET
WHM_TLS = 2087 + PORT_OFFSET
# the body of `GET /json-api/version?api.version=1`: each round checks the real answer is it
VERSION_BODY = (
    b'{"metadata":{"command":"version","reason":"OK","result":1,"version":1},'
    b'"data":{"version":"11.132.0.10","panelauth":"0.1.0.dev0"}}'
)
ABLATIONS = ("none", "logs", "guard", "auth", "auth+logs")


def _is_version_body(status: int, body: bytes) -> bool:
    return status == 200 and body == VERSION_BODY


def spin(count: int) -> int:
    """Interpreter work with (almost) no memory traffic: `count` integer additions."""
    total = 0
    for number in range(count):
        total += number
    return total


def spin_us(count: int, repeat: int = 2000) -> float:
    """The loop's own µs in this process, best of five."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            spin(count)
        best = min(best, (time.perf_counter() - start) / repeat)
    return best * 1e6


async def floor(request: web.BaseRequest) -> web.StreamResponse:
    """The `version` answer's bytes and headers, after `?spin=N` additions."""
    count = request.query.get("spin")
    if count:
        spin(int(count))
    return web.Response(body=VERSION_BODY, headers={**BASE_HEADERS, "Content-Type": JSON})


def ablate(names: set[str]) -> None:
    """Switch steps of the token path off, in this (server) process only."""
    if "logs" in names:

        def no_log(*_args: object, **_kwargs: object) -> None:
            return None

        Gateway._logged_in = no_log  # type: ignore[method-assign]
        Gateway._log_access = no_log  # type: ignore[method-assign]
    if "guard" in names:
        chain_init = AuthenticatorChain.__init__

        def unguarded(
            self: AuthenticatorChain, authenticators: Any, guard: Any = None, **_: Any
        ) -> None:
            chain_init(self, authenticators, None)  # no guard: no memo of verified headers

        AuthenticatorChain.__init__ = unguarded  # type: ignore[method-assign]
    if "auth" in names:
        real = AuthenticatorChain.authenticate
        known: dict[str | None, Identity] = {}

        async def remembered(self: AuthenticatorChain, attempt: object) -> Identity:
            key = getattr(attempt, "authorization", None)
            identity = known.get(key)
            if identity is None:
                identity = known[key] = await real(self, attempt)  # type: ignore[arg-type]
            return identity

        AuthenticatorChain.authenticate = remembered  # type: ignore[method-assign]


def serve_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="floor.py serve")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--ablate", default="none")
    args = parser.parse_args(argv)
    ablate(set(args.ablate.split("+")) - {"none"})
    options = ServeOptions(
        data_dir=DataDir(args.data_dir),
        host="127.0.0.1",
        port_offset=PORT_OFFSET,
        workers=1,
        extra_sites=(
            (bind("127.0.0.1", HELLO_PORT), hello),
            (bind("127.0.0.1", FLOOR_PORT), floor),
        ),
    )
    return serve(options)


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        return serve_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--spins", default="0,500,1000,2000,4000")
    parser.add_argument("--ablations", default=",".join(ABLATIONS))
    args = parser.parse_args()
    spins = [int(value) for value in args.spins.split(",") if value]
    ablations = [value for value in args.ablations.split(",") if value]
    config = Config(
        rounds=args.rounds,
        duration=args.duration,
        warmup=args.warmup,
        connections=64,
        threads=2,
        port_offset=PORT_OFFSET,
        hello_port=HELLO_PORT,
        workers=1,
        loadgen="wrk",
        pinned=True,
        keep_data=False,
        max_busy=0.1,
        wait_quiet=0.0,
        retries=0,
    )
    in_process = {count: spin_us(count) for count in spins}
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="panelauth-floor-") as temp:
        data_dir = Path(temp) / "data"
        credentials = init_data_dir(data_dir)
        token = Case(
            "token",
            f"https://127.0.0.1:{WHM_TLS}/json-api/version?api.version=1",
            (f"Authorization: whm root:{credentials.token}",),
            # the floor must send what the real call sends (a new version string changes it)
            _is_version_body,
        )
        hello_case = Case("hello", f"https://127.0.0.1:{HELLO_PORT}/", (), _hello_ok)
        for _ in range(args.rounds):
            for ablation in ablations:
                cases = [hello_case, token]
                if ablation == "none":
                    cases += [
                        Case(
                            f"floor spin={count}",
                            f"https://127.0.0.1:{FLOOR_PORT}/?spin={count}",
                            (f"Authorization: whm root:{credentials.token}",),
                            _is_version_body,
                        )
                        for count in spins
                    ]
                measured = _round(config, data_dir, ablation, cases, Path(temp) / "server.log")
                for name, rps in measured.items():
                    row = name if name.startswith("floor") else f"{name} [{ablation}]"
                    rows.setdefault(row, []).append(rps)
    _report(rows, in_process)
    return 0


def _round(
    config: Config, data_dir: Path, ablation: str, cases: list[Case], log: Path
) -> dict[str, float]:
    """One server process with `ablation`; each case warmed, then measured once."""
    check_ports_free([*server_ports(config), HELLO_PORT, FLOOR_PORT])
    command = [*pin(SERVER_CORE, config), sys.executable, __file__, "serve"]
    command += ["--data-dir", str(data_dir), "--ablate", ablation]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_ready(process, cases[0], log)
        measured = {}
        for case in cases:
            verify(case)
            load(case, config, config.warmup)
            measured[case.name] = load(case, config, config.duration).rps
        return measured
    finally:
        stop_server(process)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _report(rows: dict[str, list[float]], in_process: dict[int, float]) -> None:
    hello_us = 1e6 / _median(rows["hello [none]"])
    print(f"{'case':<22} {'req/s':>9} {'µs/req':>8} {'+µs':>7} {'in-process µs':>14} {'ratio':>6}")
    for name, values in rows.items():
        rps = _median(values)
        per_request = 1e6 / rps
        base = 1e6 / _median(rows[name.replace("token", "hello")]) if "[" in name else hello_us
        added = per_request - base
        line = f"{name:<22} {rps:>9,.0f} {per_request:>8.1f} {added:>7.1f}"
        if name.startswith("floor spin="):
            own = in_process[int(name.split("=")[1])]
            line += f" {own:>14.1f} {added / own if own > 1 else float('nan'):>6.2f}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
