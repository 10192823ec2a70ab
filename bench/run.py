"""Benchmark: Basic-authenticated WHM API call vs hello-world, in the same panelauth process.

Method (../shared/perf/README.md, "Proposed targets"): one server worker pinned to core 0, the
load generator pinned to core 1, `wrk -t2 -c64 -d10s --latency` over TLS after a 2 s warm-up,
interleaved rounds (a fresh server per round, case order alternating), medians reported.

Cases, both served by `bench/hello_server.py` (the real panelauth worker stack + one extra port):

* hello: `GET /` on the hello port -> `{"hello":"world"}` (same loop, same TLS context)
* basic: `GET /json-api/version?api.version=1` on the WHM TLS port, `Authorization: Basic root:PW`
  (after the first request every request is a credential-cache hit)

Needs `wrk` (Debian: `apt-get install -y wrk`); without it a small Python load generator
(bench/loadgen.py) is used and its absolute figures are not comparable with wrk's.

usage: .venv/bin/python bench/run.py [--rounds 3] [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
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
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
HELLO_SERVER = BENCH_DIR / "hello_server.py"
LOADGEN = BENCH_DIR / "loadgen.py"
RESULTS_DIR = BENCH_DIR / "results"

WHM_TLS_PORT = 2087
DEFAULT_PORT_OFFSET = 10000
SERVER_CORE, CLIENT_CORE = 0, 1
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 40.0  # the server's shutdown grace is 30 s
TARGET_T3_RPS_RATIO = 0.65  # Basic with cache hit ÷ hello, at least
TARGET_T5_P99_RATIO = 1.5  # auth p99 ÷ hello p99, at most
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NOISY_OTHER_CPU = 0.10  # cores used by other processes during a run that make it suspect
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
    max_busy: float  # other processes' CPU share above which a round waits (or warns)
    wait_quiet: float  # seconds a round may wait for the machine to be quiet


@dataclass(frozen=True)
class Case:
    name: str
    url: str
    headers: tuple[str, ...]
    check: Callable[[int, bytes], bool]


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
    busy_before_round: list[float] = field(default_factory=list)

    def add(self, case: str, measurement: Measurement) -> None:
        self.by_case.setdefault(case, []).append(measurement)


def _hello_ok(status: int, body: bytes) -> bool:
    return status == 200 and json.loads(body) == {"hello": "world"}


def _whm_ok(status: int, body: bytes) -> bool:
    document = json.loads(body)
    return status == 200 and document.get("metadata", {}).get("result") == 1


def build_cases(config: Config, password: str) -> list[Case]:
    credential = base64.b64encode(f"root:{password}".encode()).decode("ascii")
    whm = WHM_TLS_PORT + config.port_offset
    return [
        Case("hello", f"https://127.0.0.1:{config.hello_port}/", (), _hello_ok),
        Case(
            "basic_version",
            f"https://127.0.0.1:{whm}/json-api/version?api.version=1",
            (f"Authorization: Basic {credential}",),
            _whm_ok,
        ),
    ]


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


def init_data_dir(data_dir: Path, password: str) -> None:
    env = dict(os.environ, PANELAUTH_ROOT_PASSWORD=password)
    command = [panelauth_command(), "--data-dir", str(data_dir), "init"]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


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


def fetch(case: Case) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the data dir's self-signed certificate
    request = urllib.request.Request(case.url)  # noqa: S310 - https to 127.0.0.1 only
    for header in case.headers:
        name, _, value = header.partition(":")
        request.add_header(name.strip(), value.strip())
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def wait_ready(process: subprocess.Popen[bytes], cases: Sequence[Case], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(OSError):
            fetch(cases[0])
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


def run_round(
    index: int, config: Config, cases: Sequence[Case], data_dir: Path, results: Results
) -> None:
    """A fresh server; every case once (order alternates per round), warm-up then measure."""
    order = list(cases) if index % 2 == 0 else list(reversed(cases))
    log = data_dir.parent / "server.log"
    results.busy_before_round.append(wait_until_quiet(config))
    process = start_server(config, data_dir, log)
    try:
        wait_ready(process, cases, log)
        for case in order:
            verify(case)
            load(case, config, config.warmup)
            measurement = measure(case, config, config.duration, process.pid)
            results.add(case.name, measurement)
            print_run(f"round {index + 1}/{config.rounds}", case.name, measurement)
    finally:
        stop_server(process)


def summarise(results: Results) -> dict[str, Any]:
    """Medians and ranges per case, and the ratios the targets are stated in."""
    cases: dict[str, Any] = {}
    for name, runs in results.by_case.items():
        rps = [run.rps for run in runs]
        p99 = [run.p99_ms for run in runs]
        cases[name] = {
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
    hello, basic = cases["hello"], cases["basic_version"]
    paired = zip(results.by_case["hello"], results.by_case["basic_version"], strict=True)
    per_round = [ratio(b.rps, h.rps) for h, b in paired]
    rps_ratio = ratio(basic["rps_median"], hello["rps_median"])
    p99_ratio = ratio(basic["p99_ms_median"], hello["p99_ms_median"])
    return {
        "cases": cases,
        "ratios": {
            "basic_rps_over_hello_rps": rps_ratio,
            "basic_rps_over_hello_rps_per_round": per_round,
            "basic_p99_over_hello_p99": p99_ratio,
            "added_us_per_request": 1e6 * (1 / basic["rps_median"] - 1 / hello["rps_median"]),
        },
        "targets": {
            "T3_basic_cache_hit_rps_ratio_min": TARGET_T3_RPS_RATIO,
            "T3_met": rps_ratio >= TARGET_T3_RPS_RATIO,
            "T5_p99_ratio_max": TARGET_T5_P99_RATIO,
            "T5_met": p99_ratio <= TARGET_T5_P99_RATIO,
        },
    }


def print_table(summary: dict[str, Any]) -> None:
    print()
    print(f"{'case':<14} {'req/s median (min-max)':>28} {'p50 ms':>8} {'p99 ms (min-max)':>22}")
    for name, row in summary["cases"].items():
        spread = f"{row['rps_median']:,.0f} ({row['rps_min']:,.0f}-{row['rps_max']:,.0f})"
        p99 = f"{row['p99_ms_median']:.2f} ({row['p99_ms_min']:.2f}-{row['p99_ms_max']:.2f})"
        flag = "" if row["clean"] else "  (errors or non-2xx: see JSON)"
        flag += "" if row["quiet"] else "  (others/host busy: noisy)"
        print(f"{name:<14} {spread:>28} {row['p50_ms_median']:>8.2f} {p99:>22}{flag}")
    ratios, targets = summary["ratios"], summary["targets"]
    per_round = ", ".join(f"{value:.1%}" for value in ratios["basic_rps_over_hello_rps_per_round"])
    t3 = "met" if targets["T3_met"] else "MISSED"
    t5 = "met" if targets["T5_met"] else "MISSED"
    print()
    print(
        f"Basic (cache hit) req/s / hello req/s = {ratios['basic_rps_over_hello_rps']:.1%} "
        f"(per round: {per_round}); T3 >= {TARGET_T3_RPS_RATIO:.0%}: {t3}"
    )
    print(
        f"Basic p99 / hello p99 = {ratios['basic_p99_over_hello_p99']:.2f}x; "
        f"T5 <= {TARGET_T5_P99_RATIO}x: {t5}"
    )
    print(f"added server time per Basic request: {ratios['added_us_per_request']:.1f} us")


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
    path = RESULTS_DIR / f"auth-basic-{stamp}.json"
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
        description="Basic-auth WHM call vs hello-world (same process)"
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
        "--wait-quiet", type=float, default=0.0, help="seconds to wait per round for quiet"
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
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Initialise a temp data dir, run the interleaved rounds, print and save the results."""
    config = parse_args(argv)
    check_ports_free(server_ports(config))
    workdir = Path(tempfile.mkdtemp(prefix="panelauth-bench-"))
    data_dir = workdir / "data"
    password = secrets.token_urlsafe(18)
    results = Results()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    try:
        init_data_dir(data_dir, password)
        cases = build_cases(config, password)
        for index in range(config.rounds):
            run_round(index, config, cases, data_dir, results)
        env = environment(config, data_dir)
    finally:
        if config.keep_data:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(results)
    print_table(summary)
    document = {
        "started": started,
        "config": asdict(config),
        "environment": env,
        "runs": {name: [asdict(run) for run in runs] for name, runs in results.by_case.items()},
        "background_cpu_busy_before_round": results.busy_before_round,
        **summary,
    }
    print(f"\nresults: {write_results(document)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
