"""Benchmark: the three store configurations against each other, in the same run (issue 13).

The cases and the method are bench/run.py's (one pinned worker, wrk -t2 -c64 over TLS, a fresh
server per round, interleaved, medians): cached Basic `version`, `whm` token `version` and a
session's UAPI call, plus hello for reference. Each configuration has its own data directory and
store: 1 `sqlite` (the directory's file), 2 `postgresql` (a schema of its own on the local
server) and 3 `postgresql` + `redis` (the same, with sessions under a key prefix of its own).
Each round runs every configuration, in an order that rotates from round to round.

Targets (issue 13): in configurations 2 and 3, the token and cached Basic cases at >= 80% of
configuration 1's throughput in the same run, the session case (one shared-store read per
request) at >= 50%.

usage: .venv/bin/python bench/stores.py [--rounds 3] [--duration 10] [run.py's other options]
       PANELAUTH_BENCH_POSTGRESQL (default postgresql://postgres@127.0.0.1:5432/test) and
       PANELAUTH_BENCH_REDIS (default redis://127.0.0.1:6379/0) name the servers.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the cases, the server, the measurement

POSTGRESQL = os.environ.get(
    "PANELAUTH_BENCH_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("PANELAUTH_BENCH_REDIS", "redis://127.0.0.1:6379/0")
CASES = ("hello", "basic_version", "token_version", "session_uapi")
TARGETS = {"basic_version": 0.80, "token_version": 0.80, "session_uapi": 0.50}


@dataclass(frozen=True)
class StoreConfig:
    name: str
    store: str | None  # PANELAUTH_STORE, None: the data directory's SQLite file
    session_store: str | None  # PANELAUTH_SESSION_STORE


def store_configs(tag: str) -> list[StoreConfig]:
    schema = f"bench_{tag}"
    postgresql = f"{POSTGRESQL}{'&' if '?' in POSTGRESQL else '?'}schema={schema}"
    return [
        StoreConfig("sqlite", None, None),
        StoreConfig("postgresql", postgresql, None),
        StoreConfig("postgresql+redis", postgresql + "_r", f"{REDIS}?prefix=bench_{tag}"),
    ]


@contextmanager
def selected(config: StoreConfig) -> Iterator[None]:
    """The configuration's store URLs in the environment the CLI and the server inherit."""
    saved = {key: os.environ.get(key) for key in ("PANELAUTH_STORE", "PANELAUTH_SESSION_STORE")}
    for key, value in (
        ("PANELAUTH_STORE", config.store),
        ("PANELAUTH_SESSION_STORE", config.session_store),
    ):
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def clean_up(configs: Sequence[StoreConfig]) -> None:
    """Drop the schemas and the Redis keys the run made."""
    with psycopg.connect(POSTGRESQL.split("?")[0], autocommit=True) as connection:
        for config in configs:
            if config.store is not None:
                schema = config.store.rsplit("schema=", 1)[1]
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    client = redis.Redis.from_url(REDIS)
    for config in configs:
        if config.session_store is not None:
            prefix = config.session_store.rsplit("prefix=", 1)[1]
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.delete(key)
    client.close()


def run_round(
    index: int,
    bench: run.Config,
    configs: Sequence[StoreConfig],
    prepared: dict[str, tuple[Path, run.Credentials]],
    results: dict[str, run.Results],
) -> None:
    order = list(configs[index % len(configs) :]) + list(configs[: index % len(configs)])
    for config in order:
        data_dir, credentials = prepared[config.name]
        print(f"-- round {index + 1}: {config.name}", flush=True)
        with selected(config):
            run.run_round(index, bench, credentials, data_dir, results[config.name])


def summary(results: dict[str, run.Results]) -> dict[str, Any]:
    medians = {
        name: {
            case: statistics.median(m.rps for m in result.by_case.get(case, []))
            for case in CASES
            if result.by_case.get(case)
        }
        for name, result in results.items()
    }
    baseline = medians["sqlite"]
    versus: dict[str, dict[str, Any]] = {}
    for name, cases in medians.items():
        if name == "sqlite":
            continue
        versus[name] = {
            case: {
                "ratio": cases[case] / baseline[case],
                "target": TARGETS[case],
                "met": cases[case] / baseline[case] >= TARGETS[case],
            }
            for case in TARGETS
            if case in cases and case in baseline
        }
    return {"median_rps": medians, "versus_sqlite": versus}


def print_summary(document: dict[str, Any]) -> None:
    medians = document["median_rps"]
    print("\nmedian req/s")
    print(f"{'case':<16}" + "".join(f"{name:>20}" for name in medians))
    for case in CASES:
        row = "".join(f"{medians[name].get(case, float('nan')):>20,.0f}" for name in medians)
        print(f"{case:<16}{row}")
    print("\nshare of configuration 1 (sqlite), same run")
    for name, cases in document["versus_sqlite"].items():
        for case, verdict in cases.items():
            mark = "met" if verdict["met"] else "MISSED"
            print(
                f"{name:<18} {case:<14} {verdict['ratio']:>7.1%}  "
                f"(target >= {verdict['target']:.0%}) {mark}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    bench = run.parse_args(argv)
    run.check_ports_free(run.server_ports(bench))
    configs = store_configs(uuid.uuid4().hex[:10])
    workdir = Path(tempfile.mkdtemp(prefix="panelauth-bench-stores-"))
    results = {config.name: run.Results() for config in configs}
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    tree = run.git_state()
    try:
        prepared: dict[str, tuple[Path, run.Credentials]] = {}
        for config in configs:
            data_dir = workdir / config.name / "data"
            with selected(config):
                prepared[config.name] = (data_dir, run.init_data_dir(data_dir))
        for index in range(bench.rounds):
            run_round(index, bench, configs, prepared, results)
    finally:
        clean_up(configs)
        if not bench.keep_data:
            shutil.rmtree(workdir, ignore_errors=True)
    document = {
        "started": started,
        "tree": tree,
        "config": asdict(bench),
        "configurations": [asdict(config) for config in configs],
        "runs": {
            name: {case: [asdict(m) for m in runs] for case, runs in result.by_case.items()}
            for name, result in results.items()
        },
        **summary(results),
    }
    print_summary(document)
    run.RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = run.RESULTS_DIR / f"stores-{stamp}.json"
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
