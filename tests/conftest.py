"""Shared fixtures: a frozen clock, a real SQLite store in a temp dir, cheap argon2, a runtime."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from panelauth.api.catalog import build_registry
from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.backends import open_store
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.audit import MemoryAccountingLog, MemorySessionLog
from panelauth.core.bruteforce import BruteForceGuard
from panelauth.core.models import Account
from panelauth.core.passwords import Argon2Parameters, HashingPool, PasswordHasher
from panelauth.core.secretbox import SecretBox
from panelauth.core.session_manager import SessionManager
from panelauth.core.sessions import SessionPolicy
from panelauth.core.settings import Settings
from panelauth.core.two_factor import TwoFactor

# Real argon2id, with parameters small enough for a test suite on two cores.
CHEAP_ARGON2 = Argon2Parameters(time_cost=1, memory_cost_kib=256, parallelism=1)
ROOT_PASSWORD = "root-Passw0rd!"
BOB_PASSWORD = "bob-Passw0rd!"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(hostname="panel.example.test", argon2=CHEAP_ARGON2)


async def open_sqlite(path: Path, clock: FrozenClock, **options: Any) -> SqliteStore:
    """A migrated SQLite store at `path` (created if missing), opened as the server does."""
    opened = await open_store(f"sqlite://{path}", clock=clock, migrate=True, **options)
    assert isinstance(opened, SqliteStore)
    return opened


S = TypeVar("S", bound=SqliteStore)


async def migrated(store: S) -> S:
    """A store made with `create=True` (a test's subclass), brought to the latest schema."""
    await store.migrate()
    return store


@pytest.fixture
async def store(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[SqliteStore]:
    db = await open_sqlite(tmp_path / "panelauth.db", clock)
    yield db
    await db.aclose()


@pytest.fixture
def pool() -> Iterator[HashingPool]:
    hashing = HashingPool(PasswordHasher(CHEAP_ARGON2), threads=2)
    yield hashing
    hashing.close()


@pytest.fixture
def accounts(store: SqliteStore, pool: HashingPool, clock: FrozenClock) -> Accounts:
    return Accounts(store, pool, clock)


@pytest.fixture
def accounting() -> MemoryAccountingLog:
    return MemoryAccountingLog()


@pytest.fixture
def session_log() -> MemorySessionLog:
    return MemorySessionLog()


@pytest.fixture
def two_factor(store: SqliteStore, clock: FrozenClock, settings: Settings) -> TwoFactor:
    return TwoFactor(store, SecretBox([os.urandom(32)]), clock, hostname=settings.hostname)


@pytest.fixture
def runtime(
    store: SqliteStore,
    pool: HashingPool,
    clock: FrozenClock,
    settings: Settings,
    accounting: MemoryAccountingLog,
    session_log: MemorySessionLog,
    two_factor: TwoFactor,
    tmp_path: Path,
) -> Runtime:
    sessions = SessionManager(store, clock, SessionPolicy(), session_log)
    return Runtime(
        store,
        pool,
        clock,
        settings,
        build_registry(),
        accounting,
        tmp_path / "home",
        sessions,
        two_factor,
        BruteForceGuard(store, clock),
    )


@pytest.fixture
def dispatcher(runtime: Runtime) -> Dispatcher:
    return Dispatcher(runtime, runtime.functions)


@pytest.fixture
async def root(accounts: Accounts) -> Account:
    return await accounts.create_root(ROOT_PASSWORD)


@pytest.fixture
async def bob(accounts: Accounts, root: Account) -> Account:
    """A cPanel account owned by root, with password BOB_PASSWORD."""
    return await accounts.create(
        user="bob", domain="bob.example", password=BOB_PASSWORD, owner="root"
    )


@pytest.fixture
async def reseller(accounts: Accounts, store: SqliteStore, root: Account) -> AsyncIterator[Account]:
    """`res`, a reseller with list-accts, create-acct, suspend-acct and passwd, owning `carol`."""
    await accounts.create(user="res", domain="res.example", password="res-Passw0rd!", owner="root")
    await accounts.make_reseller("res")
    await accounts.set_acls(
        "res", frozenset({"list-accts", "create-acct", "suspend-acct", "passwd"})
    )
    await accounts.create(
        user="carol", domain="carol.example", password="carol-Passw0rd!", owner="res"
    )
    account = await store.get_account("res")
    assert account is not None
    yield account
