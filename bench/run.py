"""Benchmark: authenticated panelauth requests vs hello-world, in the same panelauth process.

Method (docs/benchmarks.md, "Method"): one server worker pinned to core 0, the
load generator pinned to core 1, `wrk -t2 -c64 -d10s --latency` over TLS after a 2 s warm-up,
interleaved rounds (a fresh server per round, case order alternating), medians reported.

Cases, all served by `bench/hello_server.py` (`panelauth.server.listeners.serve` with the hello
port as an extra site of the real worker):

* hello: `GET /` on the hello port -> `{"hello":"world"}` (same loop, same TLS context)
* basic_version: `GET /json-api/version?api.version=1` on the WHM TLS port,
  `Authorization: Basic root:PW` (every measured request is a credential-cache hit)
* token_version: the same call with `Authorization: whm root:TOKEN` (an API token made with
  `whmapi1 api_token_create` before the rounds)
* session_uapi: `GET /cpsess.../execute/DomainInfo/list_domains` on the cPanel TLS port with
  `Cookie: cpsession=...`, from a `POST /login/?login_only=1` made in each round once the
  server is up (the account is made with `whmapi1 createacct` before the rounds)

Needs `wrk` (Debian: `apt-get install -y wrk`); without it a small Python load generator
(bench/loadgen.py) is used and its absolute figures are not comparable with wrk's.

With `--big-store` the data directory first gets 1,000,000 more sessions and 100,000 more
accounts, each with a WHM token (bench/big_store.py's `fill`), for issue 9's requirement that
every ratio on such a store stay within 90% of its value on a small one.

usage: .venv/bin/python bench/run.py [--rounds 3] [--duration 10] [--connections 64]
                                     [--big-store]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from big_store import fill  # bench/big_store.py: the same big store as its lookup benchmark

BENCH_DIR = Path(__file__).resolve().parent
HELLO_SERVER = BENCH_DIR / "hello_server.py"
LOADGEN = BENCH_DIR / "loadgen.py"
RESULTS_DIR = BENCH_DIR / "results"

CPANEL_TLS_PORT, WHM_TLS_PORT = 2083, 2087
DEFAULT_PORT_OFFSET = 10000
SERVER_CORE, CLIENT_CORE = 0, 1
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 40.0  # the server's shutdown grace is 30 s
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NOISY_OTHER_CPU = 0.10  # cores used by other processes during a run that make it suspect
BIG_SESSIONS, BIG_ACCOUNTS = 1_000_000, 100_000  # --big-store (issue 9)
WRK_INSTALL_HINT = "wrk is not installed: `apt-get install -y wrk` (Debian package `wrk`)"


# -- configuration and cases ----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    rounds: int
    duration: int
    warmup: int
    connections: int
    threads: int
    port_offset: int
    hello_port: int
    workers: int
    loadgen: str  # "wrk" or "python"
    pinned: bool
    keep_data: bool
    max_busy: float  # other processes' CPU share above which a run waits (or warns)
    wait_quiet: float  # seconds a run may wait for the machine to be quiet
    retries: int  # times a run flagged noisy is measured again (the last one is kept)
    big_store: bool = False  # 1,000,000 more sessions, 100,000 more accounts with a token each


@dataclass(frozen=True)
class Case:
    name: str
    url: str
    headers: tuple[str, ...]
    check: Callable[[int, bytes], bool]


@dataclass(frozen=True)
class Credentials:
    """What the cases authenticate with; made once, before the rounds."""

    root_password: str
    token: str
    user: str
    user_password: str


@dataclass(frozen=True)
class Session:
    """One browser login: the cookie value as sent (still %-encoded) and the /cpsess token."""

    cookie: str
    security_token: str


@dataclass(frozen=True)
class Target:
    """`case` ÷ hello on `metric` ("rps": at least `bound`; "p99": at most `bound`)."""

    case: str
    metric: str
    bound: float
    source: str
    binding: bool = True  # False: shown for reference, not a target of this benchmark

    @property
    def label(self) -> str:
        relation = f">= {self.bound:.0%}" if self.metric == "rps" else f"<= {self.bound:g}x"
        return f"{self.case} {self.metric} / hello {relation} ({self.source})"

    def meets(self, value: float) -> bool:
        return value >= self.bound if self.metric == "rps" else value <= self.bound


CASE_ORDER = ("hello", "basic_version", "token_version", "session_uapi")
TARGETS = (
    Target("token_version", "rps", 0.45, "issue 9"),
    Target("token_version", "p99", 2.5, "issue 9"),
    Target("session_uapi", "rps", 0.40, "issue 9"),
    Target("basic_version", "rps", 0.40, "issue 9"),
)


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: str
    # average cores busy during the run: the server, the load generator, everything else
    server_cpu: float = float("nan")
    client_cpu: float = float("nan")
    other_cpu: float = float("nan")
    steal_cpu: float = float("nan")  # taken by the hypervisor for other guests

    @property
    def clean(self) -> bool:
        return self.non2xx == 0 and not self.errors

    @property
    def quiet(self) -> bool:
        return not self.other_cpu + self.steal_cpu > NOISY_OTHER_CPU


@dataclass
class Results:
    by_case: dict[str, list[Measurement]] = field(default_factory=dict)
    busy_before_run: list[float] = field(default_factory=list)
    discarded: list[dict[str, Any]] = field(default_factory=list)  # noisy runs measured again

    def add(self, case: str, measurement: Measurement) -> None:
        self.by_case.setdefault(case, []).append(measurement)


def _hello_ok(status: int, body: bytes) -> bool:
    return status == 200 and json.loads(body) == {"hello": "world"}


def _whm_version_ok(status: int, body: bytes) -> bool:
    document = json.loads(body)
    return (
        status == 200
        and document.get("metadata", {}).get("result") == 1
        and bool(document.get("data", {}).get("version"))
    )


def _list_domains_ok(status: int, body: bytes) -> bool:
    document = json.loads(body)
    return (
        status == 200
        and document.get("status") == 1
        and document.get("data", {}).get("main_domain") == BENCH_DOMAIN
    )


BENCH_USER, BENCH_DOMAIN = "bench", "bench.example"


def fixed_cases(config: Config, credentials: Credentials) -> list[Case]:
    """The cases that need no per-round login."""
    basic = base64.b64encode(f"root:{credentials.root_password}".encode()).decode("ascii")
    version = f"https://127.0.0.1:{WHM_TLS_PORT + config.port_offset}/json-api/version"
    version += "?api.version=1"
    return [
        Case("hello", f"https://127.0.0.1:{config.hello_port}/", (), _hello_ok),
        Case("basic_version", version, (f"Authorization: Basic {basic}",), _whm_version_ok),
        Case(
            "token_version",
            version,
            (f"Authorization: whm root:{credentials.token}",),
            _whm_version_ok,
        ),
    ]


def session_case(config: Config, session: Session) -> Case:
    port = CPANEL_TLS_PORT + config.port_offset
    return Case(
        "session_uapi",
        f"https://127.0.0.1:{port}{session.security_token}/execute/DomainInfo/list_domains",
        (f"Cookie: cpsession={session.cookie}",),
        _list_domains_ok,
    )


# -- the server -----------------------------------------------------------------------------


def pin(core: int, config: Config) -> list[str]:
    return ["taskset", "-c", str(core)] if config.pinned else []


def panelauth_command() -> str:
    beside = Path(sys.executable).with_name("panelauth")
    if beside.exists():
        return str(beside)
    found = shutil.which("panelauth")
    if found is None:
        raise SystemExit("panelauth is not installed in this environment (pip install -e .)")
    return found


def _whmapi1(data_dir: Path, *arguments: str) -> dict[str, Any]:
    command = [panelauth_command(), "--data-dir", str(data_dir), "whmapi1", "--output=json"]
    done = subprocess.run([*command, *arguments], capture_output=True, text=True, check=True)
    document: dict[str, Any] = json.loads(done.stdout)
    if document.get("metadata", {}).get("result") != 1:
        raise SystemExit(f"whmapi1 {arguments[0]} failed: {done.stdout}")
    return document


def init_data_dir(data_dir: Path) -> Credentials:
    """`panelauth init`, an API token for root and a cPanel account, via the CLI."""
    credentials = Credentials(
        root_password=secrets.token_urlsafe(18),
        token="",
        user=BENCH_USER,
        user_password=f"Bench-{secrets.token_urlsafe(18)}",
    )
    env = dict(os.environ, PANELAUTH_ROOT_PASSWORD=credentials.root_password)
    command = [panelauth_command(), "--data-dir", str(data_dir), "init"]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    created = _whmapi1(data_dir, "api_token_create", "token_name=bench")
    _whmapi1(
        data_dir,
        "createacct",
        f"username={credentials.user}",
        f"domain={BENCH_DOMAIN}",
        f"password={credentials.user_password}",
    )
    return replace(credentials, token=str(created["data"]["token"]))


def server_ports(config: Config) -> list[int]:
    offsets = (2082, 2083, 2086, 2087, 2095, 2096)
    return [port + config.port_offset for port in offsets] + [config.hello_port]


def check_ports_free(ports: Sequence[int]) -> None:
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as error:
                raise SystemExit(f"port {port} is busy ({error}); try --port-offset") from None


def start_server(config: Config, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [
        *pin(SERVER_CORE, config),
        sys.executable,
        str(HELLO_SERVER),
        "--data-dir",
        str(data_dir),
        "--port-offset",
        str(config.port_offset),
        "--hello-port",
        str(config.hello_port),
        "--workers",
        str(config.workers),
    ]
    with log.open("ab") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, wait for the graceful stop, SIGKILL only if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the data dir's self-signed certificate
    return context


def fetch(case: Case) -> tuple[int, bytes]:
    request = urllib.request.Request(case.url)  # noqa: S310 - https to 127.0.0.1 only
    for header in case.headers:
        name, _, value = header.partition(":")
        request.add_header(name.strip(), value.strip())
    context = _insecure_context()
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def login(config: Config, credentials: Credentials) -> Session:
    """`POST /login/?login_only=1` on the cPanel TLS port: the cpsession cookie and the token."""
    port = CPANEL_TLS_PORT + config.port_offset
    form = {"user": credentials.user, "pass": credentials.user_password}
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/login/?login_only=1",
        data=urllib.parse.urlencode(form).encode("ascii"),
        method="POST",
    )
    context = _insecure_context()
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
            cookies = response.headers.get_all("Set-Cookie") or []
            document = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise SystemExit(f"login failed: {error.code} {error.read()[:300]!r}") from None
    values = [
        cookie.split(";", 1)[0].removeprefix("cpsession=")
        for cookie in cookies
        if cookie.startswith("cpsession=")
    ]
    token = document.get("security_token")
    if document.get("status") != 1 or not values or not isinstance(token, str):
        raise SystemExit(f"login failed: {document!r}, cookies {cookies!r}")
    return Session(cookie=values[0], security_token=token)


def wait_ready(process: subprocess.Popen[bytes], probe: Case, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(OSError):
            fetch(probe)
            return
        time.sleep(0.2)
    raise SystemExit(
        f"the server did not answer within {READY_TIMEOUT_S:.0f} s:\n{log.read_text()}"
    )


def verify(case: Case) -> None:
    status, body = fetch(case)
    try:
        good = case.check(status, body)
    except ValueError:  # not JSON
        good = False
    if not good:
        raise SystemExit(f"{case.name}: unexpected answer {status} {body[:300]!r}")


# -- load generation ------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unparsable wrk latency: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> Measurement:
    """Requests/sec, the 50% and 99% latency lines, and any errors from `wrk --latency`."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"wrk output unparsable:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return Measurement(
        rps=float(rps.group(1)),
        p50_ms=parse_latency_ms(p50.group(1)),
        p99_ms=parse_latency_ms(p99.group(1)),
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        errors=errors.group(0) if errors else "",
    )


def wrk_command(case: Case, config: Config, duration: int) -> list[str]:
    command = [
        *pin(CLIENT_CORE, config),
        "wrk",
        f"-t{config.threads}",
        f"-c{config.connections}",
        f"-d{duration}s",
        "--latency",
    ]
    for header in case.headers:
        command += ["-H", header]
    return [*command, case.url]


def python_command(case: Case, config: Config, duration: int) -> list[str]:
    command = [*pin(CLIENT_CORE, config), sys.executable, str(LOADGEN), case.url]
    command += ["--connections", str(config.connections), "--duration", str(duration)]
    for header in case.headers:
        command += ["--header", header]
    return command


def load(case: Case, config: Config, duration: int) -> Measurement:
    """One load run against `case` from a separate (pinned) process."""
    if config.loadgen == "wrk":
        done = subprocess.run(
            wrk_command(case, config, duration), capture_output=True, text=True, check=False
        )
        return parse_wrk(done.stdout + done.stderr)
    done = subprocess.run(
        python_command(case, config, duration), capture_output=True, text=True, check=True
    )
    summary = json.loads(done.stdout)
    errors = f"connection/read errors: {summary['errors']}" if summary["errors"] else ""
    return Measurement(
        summary["rps"], summary["p50_ms"], summary["p99_ms"], summary["non2xx"], errors
    )


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


# -- background load ------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies of all CPUs since boot (/proc/stat): busy in this VM, stolen by the host, total."""

    busy: int
    steal: int
    total: int


def _cpu_times() -> CpuTimes:
    line = Path("/proc/stat").read_text().split("\n", 1)[0]
    # user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    fields = ([int(value) for value in line.split()[1:9]] + [0] * 8)[:8]
    total = sum(fields)
    return CpuTimes(total - fields[3] - fields[4] - fields[7], fields[7], total)


def _process_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and its direct children (the pre-forked workers)."""
    pids = [pid]
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    total = 0.0
    for each in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return total


def _children_cpu_s() -> float:
    """CPU seconds of this process's reaped children (the finished load generators)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(case: Case, config: Config, duration: int, server_pid: int) -> Measurement:
    """`load`, plus how many cores the server, the client and everything else used meanwhile."""
    client_before, server_before = _children_cpu_s(), _process_cpu_s(server_pid)
    cpu_before = _cpu_times()
    started = time.monotonic()
    result = load(case, config, duration)
    elapsed = time.monotonic() - started
    cpu_after = _cpu_times()
    client = _children_cpu_s() - client_before
    server = _process_cpu_s(server_pid) - server_before
    others = max(0.0, (cpu_after.busy - cpu_before.busy) / CLOCK_TICKS - client - server)
    return replace(
        result,
        server_cpu=server / elapsed,
        client_cpu=client / elapsed,
        other_cpu=others / elapsed,
        steal_cpu=(cpu_after.steal - cpu_before.steal) / CLOCK_TICKS / elapsed,
    )


def cpu_busy(interval: float = 1.0) -> float:
    """Share of all CPUs busy over `interval` seconds (nothing of ours runs meanwhile)."""
    try:
        before = _cpu_times()
        time.sleep(interval)
        after = _cpu_times()
    except (OSError, ValueError):
        return float("nan")
    used = after.busy + after.steal - before.busy - before.steal
    return ratio(used, after.total - before.total)


def wait_until_quiet(config: Config) -> float:
    """Sample the background load; wait (up to --wait-quiet s) while it exceeds --max-busy."""
    deadline = time.monotonic() + config.wait_quiet
    busy = cpu_busy()
    while busy > config.max_busy and time.monotonic() < deadline:
        busy = cpu_busy()
    if busy > config.max_busy:
        print(
            f"WARNING: other processes use {busy:.0%} of the CPUs: figures will be noisy",
            file=sys.stderr,
            flush=True,
        )
    return busy


# -- rounds ---------------------------------------------------------------------------------


def print_run(label: str, case: str, run: Measurement) -> None:
    notes = "" if run.clean else f"  WARNING: non-2xx {run.non2xx} {run.errors}"
    if not run.quiet:
        notes += "  WARNING: other processes or the host were busy"
    print(
        f"{label} {case:<14} {run.rps:>10,.0f} req/s  p50 {run.p50_ms:.2f} ms  "
        f"p99 {run.p99_ms:.2f} ms  cores: server {run.server_cpu:.2f} "
        f"client {run.client_cpu:.2f} others {run.other_cpu:.2f} steal {run.steal_cpu:.2f}{notes}",
        flush=True,
    )


def measure_quietly(
    case: Case, config: Config, index: int, server_pid: int, results: Results
) -> Measurement:
    """Wait for quiet, warm up, measure; measure again (up to --retries) if others were busy."""
    label = f"round {index + 1}/{config.rounds}"
    for attempt in range(config.retries + 1):
        results.busy_before_run.append(wait_until_quiet(config))
        load(case, config, config.warmup)
        measurement = measure(case, config, config.duration, server_pid)
        print_run(label, case.name, measurement)
        if measurement.quiet or attempt == config.retries:
            break
        results.discarded.append({"round": index + 1, "case": case.name, **asdict(measurement)})
        print(f"{label} {case.name}: noisy, measuring again", flush=True)
    return measurement


def run_round(
    index: int, config: Config, credentials: Credentials, data_dir: Path, results: Results
) -> None:
    """A fresh server and login; every case once (order alternates), warm-up then measure."""
    log = data_dir.parent / "server.log"
    process = start_server(config, data_dir, log)
    try:
        fixed = fixed_cases(config, credentials)
        wait_ready(process, fixed[0], log)
        by_name = {case.name: case for case in fixed}
        by_name["session_uapi"] = session_case(config, login(config, credentials))
        order = [by_name[name] for name in CASE_ORDER]
        if index % 2:
            order.reverse()
        for case in order:
            verify(case)
            results.add(case.name, measure_quietly(case, config, index, process.pid, results))
    finally:
        stop_server(process)


def _case_summary(runs: Sequence[Measurement]) -> dict[str, Any]:
    rps = [run.rps for run in runs]
    p99 = [run.p99_ms for run in runs]
    return {
        "rps_median": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50_ms_median": statistics.median(run.p50_ms for run in runs),
        "p99_ms_median": statistics.median(p99),
        "p99_ms_min": min(p99),
        "p99_ms_max": max(p99),
        "server_cpu_median": statistics.median(run.server_cpu for run in runs),
        "other_cpu_max": max(run.other_cpu for run in runs),
        "steal_cpu_max": max(run.steal_cpu for run in runs),
        "clean": all(run.clean for run in runs),
        "quiet": all(run.quiet for run in runs),
    }


def _versus_hello(runs: Sequence[Measurement], hello_runs: Sequence[Measurement]) -> dict[str, Any]:
    """Ratios to hello: of the medians, and per round (both cases measured in one process)."""
    rps_rounds = [ratio(run.rps, h.rps) for run, h in zip(runs, hello_runs, strict=True)]
    p99_rounds = [ratio(run.p99_ms, h.p99_ms) for run, h in zip(runs, hello_runs, strict=True)]
    rps_median = statistics.median(run.rps for run in runs)
    hello_rps = statistics.median(h.rps for h in hello_runs)
    return {
        "rps_ratio_of_medians": ratio(rps_median, hello_rps),
        "rps_ratio_median_of_rounds": statistics.median(rps_rounds),
        "rps_ratio_per_round": rps_rounds,
        "p99_ratio_of_medians": ratio(
            statistics.median(run.p99_ms for run in runs),
            statistics.median(h.p99_ms for h in hello_runs),
        ),
        "p99_ratio_median_of_rounds": statistics.median(p99_rounds),
        "p99_ratio_per_round": p99_rounds,
        "added_us_per_request": 1e6 * (ratio(1, rps_median) - ratio(1, hello_rps)),
    }


def _verdict(target: Target, versus: dict[str, Any]) -> dict[str, Any]:
    """Met when both readings (median of per-round ratios, ratio of medians) meet the bound."""
    of_rounds = versus[f"{target.metric}_ratio_median_of_rounds"]
    of_medians = versus[f"{target.metric}_ratio_of_medians"]
    met = [target.meets(of_rounds), target.meets(of_medians)]
    verdict = "met" if all(met) else "missed" if not any(met) else "mixed"
    return {
        **asdict(target),
        "median_of_rounds": of_rounds,
        "of_medians": of_medians,
        "verdict": verdict,
    }


def summarise(results: Results) -> dict[str, Any]:
    """Medians and ranges per case, ratios to hello, and the target verdicts."""
    hello_runs = results.by_case["hello"]
    cases = {name: _case_summary(runs) for name, runs in results.by_case.items()}
    versus = {
        name: _versus_hello(runs, hello_runs)
        for name, runs in results.by_case.items()
        if name != "hello"
    }
    targets = [_verdict(target, versus[target.case]) for target in TARGETS]
    return {"cases": cases, "versus_hello": versus, "targets": targets}


def _percent_or_times(metric: str, value: float) -> str:
    return f"{value:.1%}" if metric == "rps" else f"{value:.2f}x"


def print_table(summary: dict[str, Any]) -> None:
    print()
    header = f"{'case':<14} {'req/s median (min-max)':>26} {'p99 ms med (min-max)':>22}"
    print(f"{header} {'req/s / hello':>16} {'p99 / hello':>12} {'+us/req':>8}")
    print(f"{'':<14} {'':>26} {'':>22} {'rounds | medians':>16} {'rounds':>12}")
    for name, row in summary["cases"].items():
        spread = f"{row['rps_median']:,.0f} ({row['rps_min']:,.0f}-{row['rps_max']:,.0f})"
        p99 = f"{row['p99_ms_median']:.2f} ({row['p99_ms_min']:.2f}-{row['p99_ms_max']:.2f})"
        line = f"{name:<14} {spread:>26} {p99:>22}"
        versus = summary["versus_hello"].get(name)
        if versus is not None:
            rps_ratio = (
                f"{versus['rps_ratio_median_of_rounds']:.1%} | {versus['rps_ratio_of_medians']:.1%}"
            )
            line += f" {rps_ratio:>16} {versus['p99_ratio_median_of_rounds']:>11.2f}x"
            line += f" {versus['added_us_per_request']:>8.0f}"
        flag = "" if row["clean"] else "  (errors or non-2xx: see JSON)"
        flag += "" if row["quiet"] else "  (others/host busy: noisy)"
        print(line + flag)
    print()
    for target, verdict in zip(TARGETS, summary["targets"], strict=True):
        reading = (
            f"{_percent_or_times(target.metric, verdict['median_of_rounds'])} (rounds), "
            f"{_percent_or_times(target.metric, verdict['of_medians'])} (medians)"
        )
        outcome = verdict["verdict"].upper() if target.binding else f"({verdict['verdict']})"
        print(f"{target.label}: {reading} -> {outcome}")


# -- environment and output -----------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _first_line(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "unavailable"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def src_digest() -> str:
    """SHA-256 over the paths and contents of src/, to notice edits made during a run."""
    digest = hashlib.sha256()
    src = BENCH_DIR.parent / "src"
    for path in sorted(src.rglob("*.py")):
        digest.update(str(path.relative_to(src)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git_state() -> dict[str, str]:
    """`git rev-parse --short HEAD` and the count of `git status --short` lines (read-only)."""
    root = str(BENCH_DIR.parent)
    head = _first_line(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    status = subprocess.run(
        ["git", "--no-optional-locks", "-C", root, "status", "--short"],
        capture_output=True,
        text=True,
        check=False,
    )
    changed = str(len(status.stdout.splitlines())) if status.returncode == 0 else "unavailable"
    return {"head": head, "status_short_lines": changed, "src_digest": src_digest()}


def source_revision() -> str:
    """The checked-out commit, read from .git without running git (uncommitted edits not shown)."""
    git = BENCH_DIR.parent / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return "unknown"


def environment(config: Config, data_dir: Path) -> dict[str, Any]:
    return {
        "source_revision": source_revision(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "versions": {name: _version(name) for name in ("panelauth", "aiohttp", "uvloop")},
        "loadgen": _first_line(["wrk", "-v"]) if config.loadgen == "wrk" else "bench/loadgen.py",
        "data_dir_filesystem": _first_line(["stat", "-f", "-c", "%T", str(data_dir)]),
    }


def write_results(document: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"auth-cases-{stamp}.json"
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


# -- entry point ----------------------------------------------------------------------------


def choose_loadgen(requested: str) -> str:
    if requested == "python":
        return "python"
    if shutil.which("wrk") is not None:
        return "wrk"
    if requested == "wrk":
        raise SystemExit(WRK_INSTALL_HINT)
    print(f"WARNING: {WRK_INSTALL_HINT}", file=sys.stderr)
    print(
        "WARNING: falling back to bench/loadgen.py (one Python process): absolute figures are "
        "not comparable with wrk's, and the client may saturate before the server.",
        file=sys.stderr,
    )
    return "python"


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description="authenticated panelauth requests vs hello-world (same process)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    parser.add_argument("--port-offset", type=int, default=DEFAULT_PORT_OFFSET)
    parser.add_argument("--hello-port", type=int, default=None, help="default: 2100 + offset")
    parser.add_argument("--workers", type=int, default=1, help=">1 disables pinning")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--keep-data", action="store_true", help="keep the temp data dir")
    parser.add_argument(
        "--max-busy", type=float, default=0.10, help="background CPU share deemed quiet (0-1)"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, help="seconds to wait per run for quiet"
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="times a noisy run is measured again"
    )
    parser.add_argument(
        "--big-store",
        action="store_true",
        help=f"add {BIG_SESSIONS:,} sessions and {BIG_ACCOUNTS:,} accounts with a token each",
    )
    args = parser.parse_args(argv)
    pinnable = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if not pinnable and not args.no_pin:
        print("WARNING: taskset or a second CPU is missing: running unpinned", file=sys.stderr)
    return Config(
        rounds=args.rounds,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=min(args.threads, args.connections),
        port_offset=args.port_offset,
        hello_port=args.hello_port if args.hello_port is not None else 2100 + args.port_offset,
        workers=args.workers,
        loadgen=choose_loadgen(args.loadgen),
        pinned=pinnable and not args.no_pin and args.workers == 1,
        keep_data=args.keep_data,
        max_busy=args.max_busy,
        wait_quiet=args.wait_quiet,
        retries=max(0, args.retries),
        big_store=args.big_store,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Initialise a temp data dir, run the interleaved rounds, print and save the results."""
    config = parse_args(argv)
    check_ports_free(server_ports(config))
    workdir = Path(tempfile.mkdtemp(prefix="panelauth-bench-"))
    data_dir = workdir / "data"
    results = Results()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    tree_before = git_state()
    try:
        credentials = init_data_dir(data_dir)
        if config.big_store:
            # issue 9: every ratio on a big store within 90% of its value on a small one
            print(f"filling the store: {BIG_SESSIONS:,} sessions, {BIG_ACCOUNTS:,} accounts")
            asyncio.run(
                fill(data_dir / "panelauth.db", accounts=BIG_ACCOUNTS, sessions=BIG_SESSIONS)
            )
        for index in range(config.rounds):
            run_round(index, config, credentials, data_dir, results)
        env = environment(config, data_dir)
    finally:
        if config.keep_data:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    tree_after = git_state()
    summary = summarise(results)
    print_table(summary)
    print(f"\ntree: HEAD {tree_before['head']}, {tree_before['status_short_lines']} changed files")
    if tree_after["src_digest"] != tree_before["src_digest"]:
        print(f"WARNING: src/ changed during the run: {tree_before} -> {tree_after}")
    elif tree_after != tree_before:
        print(f"note: src/ unchanged, but the checkout moved to {tree_after}")
    document = {
        "started": started,
        "tree_before": tree_before,
        "tree_after": tree_after,
        "config": asdict(config),
        "environment": env,
        "runs": {name: [asdict(run) for run in runs] for name, runs in results.by_case.items()},
        "background_cpu_busy_before_run": results.busy_before_run,
        "discarded_noisy_runs": results.discarded,
        **summary,
    }
    print(f"\nresults: {write_results(document)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
