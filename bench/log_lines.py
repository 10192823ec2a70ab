"""Per-line cost of the log lines a request writes (docs/benchmarks.md, "Log lines").

    .venv/bin/python bench/log_lines.py [--number N] [--repeat R]

Prints the best-of-R mean µs per line for each formatter alone, for each writer class of
`server/state.py` (formatting, clock and keyword arguments, the line handed to a sink that keeps
it), and for `LogFile.write_line` to a real file in a temp directory, with and without the
buffer (the buffered figure includes the batched writes; it runs inside an event loop, so a
timed loop of N lines fills and flushes 64 KiB batches).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from panelauth.clock import SystemClock
from panelauth.protocol import logformat
from panelauth.protocol.services import Service
from panelauth.server import logfiles
from panelauth.server.logfiles import JsonLinesLog, LogFile
from panelauth.server.state import AccessLog, AuditLog, LoginLog

ACCESS = {
    "address": "203.0.113.7",
    "user": "root",
    "request": "GET /json-api/version?api.version=1 HTTP/1.1",
    "status": 200,
    "size": 123,
    "user_agent": "curl/8.5.0",
    "port": 2087,
}
AUDIT = {
    "event": "auth",
    "outcome": "success",
    "user": "root",
    "factor": "api_token",
    "service": "whostmgrd",
    "address": "203.0.113.7",
}

# the audit record of a header-authenticated request: AUDIT's fields after event and outcome
AUTHENTICATED = {key: value for key, value in AUDIT.items() if key not in ("event", "outcome")}


class Sink:
    """Stands in for a LogFile: keeps the last line."""

    line = ""

    def write_line(self, line: str) -> None:
        self.line = line


def measure(name: str, call: Callable[[], object], number: int, repeat: int) -> None:
    best = min(timeit.repeat(call, number=number, repeat=repeat))
    print(f"{name:<44} {best / number * 1e6:6.2f} µs")


def buffered_log(path: Path) -> LogFile:
    if "flush_interval" in inspect.signature(LogFile).parameters:
        return LogFile(path, flush_interval=logfiles.FLUSH_INTERVAL)
    return LogFile(path)  # before the buffer: one write per line


async def main(number: int, repeat: int) -> None:
    clock = SystemClock()
    now = clock.now()
    measure("access_line", lambda: logformat.access_line(at=now, **ACCESS), number, repeat)  # type: ignore[arg-type]
    measure(
        "login_success_line",
        lambda: logformat.login_success_line(
            at=now, address="203.0.113.7", user="root", service="whostmgrd"
        ),
        number,
        repeat,
    )
    measure(
        "json_line (audit document)",
        lambda: logformat.json_line({"time": 1.5, **AUDIT}),
        number,
        repeat,
    )

    sink = Sink()
    access, login = AccessLog(sink, clock), LoginLog(sink, clock)  # type: ignore[arg-type]
    audit_log = JsonLinesLog.__new__(JsonLinesLog)
    audit_log._file = sink  # type: ignore[assignment]
    audit = AuditLog(audit_log, clock)
    measure(
        "AccessLog.write (to a sink)",
        lambda: access.write(at=clock.now(), **ACCESS),  # type: ignore[arg-type]
        number,
        repeat,
    )
    measure(
        "LoginLog.success (to a sink)",
        lambda: login.success(address="203.0.113.7", user="root", service=Service.WHM),
        number,
        repeat,
    )
    measure("AuditLog.write (to a sink)", lambda: audit.write(**AUDIT), number, repeat)
    measure(
        "AuditLog.authenticated_at (to a sink)",
        lambda: audit.authenticated_at(clock.now(), **AUTHENTICATED),
        number,
        repeat,
    )

    line = logformat.access_line(at=now, **ACCESS)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as directory:
        direct = LogFile(Path(directory) / "direct_log")
        measure(
            "LogFile.write_line, one write per line",
            lambda: direct.write_line(line),
            number,
            repeat,
        )
        direct.close()
        buffered = buffered_log(Path(directory) / "buffered_log")
        measure("LogFile.write_line, buffered", lambda: buffered.write_line(line), number, repeat)
        buffered.close()
        files = [buffered_log(Path(directory) / name) for name in ("a", "l", "j")]
        access, login = AccessLog(files[0], clock), LoginLog(files[1], clock)
        audit_file = JsonLinesLog.__new__(JsonLinesLog)
        audit_file._file = files[2]
        audit = AuditLog(audit_file, clock)

        def request() -> None:
            access.write(at=clock.now(), **ACCESS)  # type: ignore[arg-type]
            at = clock.now()
            login.success(address="203.0.113.7", user="root", service=Service.WHM, at=at)
            audit.authenticated_at(at, **AUTHENTICATED)  # what the gateway writes

        measure("a request's three lines, to files", request, number, repeat)
        for file in files:
            file.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.number, arguments.repeat))
