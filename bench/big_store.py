"""Micro-benchmark: hot-path store lookups on a big store vs a small one, in the same run.

The target (issue 9): with 1,000,000 stored sessions and 100,000 accounts and tokens, each
lookup keeps >= 90% of its rate on a small store. Both stores are filled directly with
`executemany` in one transaction (the schema comes from the real migrations), then opened
with `open_store` as a worker opens them. For each lookup it times, in interleaved rounds:

* cached: the store as the server uses it (per-worker record cache, one `PRAGMA data_version`
  check per lookup); keys cycle through `--keys` random records, so the cache holds them all
* uncached: `cache_entries=0`, so every lookup is the indexed primary-key read
* data_version: the bare change-signal check, for its cost

and prints µs per lookup on each store (median and best round) and the rate on the big store
as a share of the rate on the small one (median, and best against best).

usage: .venv/bin/python bench/big_store.py [--sessions 1000000] [--accounts 100000]
       [--rounds 5] [--lookups 20000] [--keys 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from panelauth.backends import migrate_store, open_store
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.stores import Store
from panelauth.core.tokens import TokenKind

HASH = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo"
NOW = 1_800_000_000.0


def _digest(user: str) -> str:
    return hashlib.sha512(f"token-of-{user}".encode()).hexdigest()


def _session_id(index: int) -> str:
    return f"user{index % 100_000}:{index:016d}"


async def fill(path: Path, *, accounts: int, sessions: int) -> None:
    """A migrated store with `accounts` accounts (one WHM token each) and `sessions` sessions."""
    await migrate_store(f"sqlite://{path}", clock=FrozenClock(NOW))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO accounts (user, domain, owner, password_hash, created_at) "
        "VALUES (?, ?, 'root', ?, ?)",
        ((f"user{i}", f"user{i}.example", HASH, NOW) for i in range(accounts)),
    )
    db.executemany(
        "INSERT INTO api_tokens (owner, kind, name, digest, created_at) "
        "VALUES (?, 'whm', 'deploy', ?, ?)",
        ((f"user{i}", _digest(f"user{i}"), int(NOW)) for i in range(accounts)),
    )
    db.executemany(
        "INSERT INTO sessions (session_id, secret_hash, user, account, service, kind, state, "
        "security_token, creator, possessor, method, bound_address, created_at, last_seen, "
        "expires_at) VALUES (?, ?, ?, ?, 'cpaneld', 'password', 'active', '/cpsess0123456789', "
        "?, NULL, 'handle_form_login', '192.0.2.1', ?, ?, ?)",
        (
            (
                _session_id(i),
                "0" * 64,
                f"user{i % accounts}",
                f"user{i % accounts}",
                f"user{i % accounts}",
                NOW,
                NOW,
                NOW + 86_400 + i % 1000,
            )
            for i in range(sessions)
        ),
    )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


Lookup = Callable[[Store, int], Awaitable[object]]
LOOKUPS = ("get_account", "find_token", "get_session")


def lookups(accounts: int, sessions: int, keys: int) -> dict[str, Lookup]:
    rng = random.Random(9)
    users = [f"user{rng.randrange(accounts)}" for _ in range(keys)]
    digests = [_digest(user) for user in users]
    ids = [_session_id(rng.randrange(sessions)) for _ in range(keys)]

    async def get_account(store: Store, i: int) -> object:
        return await store.get_account(users[i % keys])

    async def find_token(store: Store, i: int) -> object:
        return await store.find_token(users[i % keys], TokenKind.WHM, digests[i % keys])

    async def get_session(store: Store, i: int) -> object:
        return await store.get_session(ids[i % keys])

    return {"get_account": get_account, "find_token": find_token, "get_session": get_session}


async def per_lookup_us(store: Store, lookup: Lookup, count: int) -> float:
    for i in range(min(count, 2000)):  # warm the caches
        assert await lookup(store, i) is not None
    started = time.perf_counter()
    for i in range(count):
        await lookup(store, i)
    return (time.perf_counter() - started) / count * 1e6


def data_version_us(store: Store, count: int) -> float:
    assert isinstance(store, SqliteStore)
    started = time.perf_counter()
    for _ in range(count):
        store._fresh()
    return (time.perf_counter() - started) / count * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--small-sessions", type=int, default=1_000)
    parser.add_argument("--small-accounts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=1_000)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="panelauth-big-store-") as scratch:
        sizes = {
            "small": (options.small_accounts, options.small_sessions),
            "big": (options.accounts, options.sessions),
        }
        for name, (accounts, sessions) in sizes.items():
            started = time.perf_counter()
            await fill(Path(scratch) / f"{name}.db", accounts=accounts, sessions=sessions)
            print(
                f"filled {name}: {accounts:,} accounts and tokens, {sessions:,} sessions "
                f"in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        stores: dict[tuple[str, str], Store] = {}
        for name in sizes:
            url = f"sqlite://{Path(scratch) / f'{name}.db'}"
            clock = FrozenClock(NOW)
            stores[name, "cached"] = await open_store(url, clock=clock)
            stores[name, "uncached"] = await open_store(url, clock=clock, cache_entries=0)
        results: dict[tuple[str, str, str], list[float]] = {}
        for round_number in range(options.rounds):
            order = list(sizes) if round_number % 2 == 0 else list(reversed(sizes))
            for mode in ("cached", "uncached"):
                for lookup_name in LOOKUPS:
                    for name in order:
                        accounts, sessions = sizes[name]
                        lookup = lookups(accounts, sessions, options.keys)[lookup_name]
                        timing = await per_lookup_us(stores[name, mode], lookup, options.lookups)
                        results.setdefault((mode, lookup_name, name), []).append(timing)
            for name in order:
                timing = data_version_us(stores[name, "cached"], options.lookups)
                results.setdefault(("check", "data_version", name), []).append(timing)
        print(f"\n{options.rounds} rounds of {options.lookups:,} lookups: median (best) µs")
        header = f"{'mode':<9} {'lookup':<12} {'small':>14} {'big':>14} {'rate big/small':>15}"
        print(header)
        for mode, lookup_name in sorted({(m, lk) for m, lk, _ in results}):
            small, big = (results[mode, lookup_name, name] for name in ("small", "big"))
            print(
                f"{mode:<9} {lookup_name:<12} "
                f"{statistics.median(small):>6.2f} ({min(small):>5.2f}) "
                f"{statistics.median(big):>6.2f} ({min(big):>5.2f}) "
                f"{statistics.median(small) / statistics.median(big):>7.0%} "
                f"({min(small) / min(big):.0%})"
            )
        for store in stores.values():
            await store.aclose()


if __name__ == "__main__":
    asyncio.run(main())
