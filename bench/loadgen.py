"""A small keep-alive HTTPS load generator: the fallback when `wrk` is not installed.

It is one Python process (run it pinned to its own core), so it saturates well below wrk and its
absolute figures are NOT comparable with wrk's; the hello/auth ratios are still measured under
the same client. Install wrk for the real method: `apt-get install -y wrk`.

usage: python bench/loadgen.py URL --connections C --duration S [--header 'Name: value' ...]

Prints one JSON object: requests, rps, p50_ms, p99_ms, non2xx, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import uvloop

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: bool
    request: bytes


@dataclass
class Tally:
    latencies_s: list[float] = field(default_factory=list)
    non2xx: int = 0
    errors: int = 0


def build_target(url: str, headers: Sequence[str]) -> Target:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname or "127.0.0.1"
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    return Target(host, port, tls, "\r\n".join(lines).encode("latin-1"))


def _client_context() -> ssl.SSLContext:
    """No verification (the benchmark's own self-signed certificate), so no CA bundle to load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response with a Content-Length body; return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, rest = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    target: Target, context: ssl.SSLContext | None, deadline: float, tally: Tally
) -> None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port, ssl=context), CONNECT_TIMEOUT_S
        )
    except (OSError, TimeoutError):
        tally.errors += 1
        return
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(target.request)
            status = await _read_response(reader)
            tally.latencies_s.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                tally.non2xx += 1
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        tally.errors += 1
    finally:
        writer.close()


def _percentile_ms(sorted_s: Sequence[float], fraction: float) -> float:
    if not sorted_s:
        return float("nan")
    index = min(len(sorted_s) - 1, round(fraction * (len(sorted_s) - 1)))
    return sorted_s[index] * 1000.0


async def drive(target: Target, connections: int, duration: float) -> dict[str, float | int]:
    """Run `connections` keep-alive loops for `duration` seconds; summarise like wrk."""
    tally = Tally()
    context = _client_context() if target.tls else None  # one context: loading it is costly
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(
        *(_connection(target, context, deadline, tally) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(tally.latencies_s)
    return {
        "requests": len(ordered),
        "rps": len(ordered) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": _percentile_ms(ordered, 0.50),
        "p99_ms": _percentile_ms(ordered, 0.99),
        "non2xx": tally.non2xx,
        "errors": tally.errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: drive load at one URL and print the JSON summary."""
    parser = argparse.ArgumentParser(description="keep-alive HTTPS load generator (wrk fallback)")
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args(argv)
    target = build_target(args.url, args.header)
    coroutine = drive(target, args.connections, args.duration)
    summary = uvloop.run(coroutine)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
