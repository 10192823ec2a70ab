"""SQLite specifics: migrations, pragmas, a locked database (FT-4), failures, open_store,
the record cache and its change signal (PRAGMA data_version)."""

from __future__ import annotations

import mmap
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from panelauth.backends import migrate_store, open_store
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.models import Account, Mailbox
from panelauth.errors import SchemaOutdated, ServiceUnavailable, StoreUnavailable
from tests.conftest import migrated, open_sqlite

HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
BOB = Account("bob", "bob.example", "root", HASH, created_at=1.0)
SHORT_TIMEOUT_MS = 20


def migration_versions() -> list[int]:
    folder = Path(sys.modules["panelauth.backends"].__file__ or "").parent / "sqlite_migrations"
    return sorted(int(path.name.split("_", 1)[0]) for path in folder.glob("*.sql"))


LATEST = max(migration_versions())


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=0)


# -- migrations and pragmas ---------------------------------------------------------------------


async def test_reopening_keeps_data_and_does_not_migrate_again(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "panelauth.db"
    first = await open_sqlite(path, clock)
    await first.insert_account(BOB)
    await first.save_feature_list("gold", {"webmail": False})
    await first.aclose()
    for _ in range(2):
        again = await open_store(f"sqlite://{path}", clock=clock)
        assert await again.get_account("bob") == BOB
        assert await again.list_feature_lists() == ["default", "gold"]
        await again.aclose()
    assert await migrate_store(f"sqlite://{path}", clock=clock) == (LATEST, LATEST)
    connection = raw(path)
    try:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_version")]
        defaults = connection.execute(
            "SELECT count(*) FROM feature_list_names WHERE name = 'default'"
        ).fetchone()[0]
    finally:
        connection.close()
    assert sorted(versions) == migration_versions()  # each migration recorded exactly once
    assert defaults == 1


async def test_a_new_database_is_at_the_latest_schema(store: SqliteStore) -> None:
    row = store._db.execute("SELECT max(version), count(*) FROM schema_version").fetchone()
    assert row == (max(migration_versions()), len(migration_versions()))


@pytest.mark.parametrize(
    ("pragma", "expected"),
    [("journal_mode", "wal"), ("foreign_keys", 1), ("synchronous", 1), ("busy_timeout", 2000)],
)
def test_connection_pragmas(store: SqliteStore, pragma: str, expected: object) -> None:
    assert store._db.execute(f"PRAGMA {pragma}").fetchone()[0] == expected


async def test_passwords_are_stored_only_as_given_hashes(store: SqliteStore) -> None:
    await store.insert_account(BOB)
    row = store._db.execute("SELECT password_hash FROM accounts WHERE user = 'bob'").fetchone()
    assert row == (HASH,)


# -- a locked database (FT-4) -------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "locked.db"


@pytest.fixture
async def quick(
    db_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SqliteStore]:
    """A store whose busy timeout is short, so a held lock fails fast instead of waiting 2 s."""
    plumbing = sys.modules[SqliteStore.__init__.__module__]  # where BUSY_TIMEOUT_MS is read
    monkeypatch.setattr(plumbing, "BUSY_TIMEOUT_MS", SHORT_TIMEOUT_MS)
    db = await migrated(SqliteStore(db_path, clock=clock, create=True))
    assert db._db.execute("PRAGMA busy_timeout").fetchone()[0] == SHORT_TIMEOUT_MS
    yield db
    await db.aclose()


@pytest.fixture
async def locker(quick: SqliteStore, db_path: Path) -> AsyncIterator[sqlite3.Connection]:
    """Another connection holding the write lock (BEGIN IMMEDIATE), with bob already stored."""
    await quick.insert_account(BOB)
    await quick.insert_mailbox(Mailbox("info@bob.example", "bob", HASH, created_at=1.0))
    connection = raw(db_path)
    connection.execute("BEGIN IMMEDIATE")
    yield connection
    if connection.in_transaction:
        connection.execute("ROLLBACK")
    connection.close()


WRITES: list[tuple[str, Callable[[SqliteStore], Awaitable[object]]]] = [
    ("insert_account", lambda s: s.insert_account(Account("carol", "carol.example", "root", HASH))),
    ("delete_account", lambda s: s.delete_account("bob")),
    ("set_password_hash", lambda s: s.set_password_hash("bob", "$new", rotate=True)),
    ("set_suspended", lambda s: s.set_suspended("bob", True, "x")),
    ("set_reseller", lambda s: s.set_reseller("bob", True, frozenset({"all"}))),
    ("set_owner", lambda s: s.set_owner("bob", "res")),
    ("insert_mailbox", lambda s: s.insert_mailbox(Mailbox("x@bob.example", "bob", HASH))),
    ("delete_mailbox", lambda s: s.delete_mailbox("info@bob.example")),
    (
        "set_mailbox_hash",
        lambda s: s.set_mailbox_password_hash("info@bob.example", "$n", rotate=True),
    ),
    ("save_feature_list", lambda s: s.save_feature_list("gold", {"webmail": False})),
    ("delete_feature_list", lambda s: s.delete_feature_list("default")),
]


@pytest.mark.parametrize(("name", "write"), WRITES, ids=[name for name, _ in WRITES])
async def test_writes_on_a_locked_database_raise_store_unavailable(
    quick: SqliteStore,
    locker: sqlite3.Connection,
    name: str,
    write: Callable[[SqliteStore], Awaitable[object]],
) -> None:
    with pytest.raises(StoreUnavailable) as raised:
        await write(quick)
    assert isinstance(raised.value, ServiceUnavailable)
    assert raised.value.status == 503
    assert not quick._db.in_transaction
    # nothing was written
    assert await quick.get_account("bob") == BOB
    assert await quick.get_account("carol") is None
    assert await quick.get_feature_list("gold") is None
    assert await quick.list_feature_lists() == ["default"]
    assert [m.address for m in await quick.list_mailboxes("bob")] == ["info@bob.example"]


async def test_reads_still_work_while_another_connection_writes(
    quick: SqliteStore, locker: sqlite3.Connection
) -> None:
    locker.execute("UPDATE accounts SET suspended = 1 WHERE user = 'bob'")
    assert await quick.get_account("bob") == BOB  # the uncommitted change is not visible
    assert await quick.domain_owner("bob.example") == "bob"


async def test_the_store_recovers_once_the_lock_is_released(
    quick: SqliteStore, locker: sqlite3.Connection
) -> None:
    with pytest.raises(StoreUnavailable):
        await quick.set_suspended("bob", True, "abuse")
    locker.execute("ROLLBACK")
    assert await quick.set_suspended("bob", True, "abuse") is True
    suspended = await quick.get_account("bob")
    assert suspended is not None
    assert suspended.suspended


async def test_migrating_a_locked_database_raises_store_unavailable(
    quick: SqliteStore, locker: sqlite3.Connection, db_path: Path, clock: FrozenClock
) -> None:
    with pytest.raises(StoreUnavailable):
        await migrate_store(f"sqlite://{db_path}", clock=clock, busy_timeout_ms=SHORT_TIMEOUT_MS)
    # opening writes nothing, so a worker starts while another connection writes
    opened = await open_store(f"sqlite://{db_path}", clock=clock)
    try:
        assert await opened.get_account("bob") == BOB
    finally:
        await opened.aclose()


# -- other failures -----------------------------------------------------------------------------


def test_opening_an_unreachable_path_raises_store_unavailable(
    tmp_path: Path, clock: FrozenClock
) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        SqliteStore(tmp_path / "missing-dir" / "db", clock=clock, create=True)


async def test_opening_never_creates_a_database(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        await open_store(f"sqlite://{path}", clock=clock)
    assert not path.exists()


async def test_opening_a_file_that_is_not_a_database_raises_store_unavailable(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        await open_store(f"sqlite://{path}", clock=clock)


async def test_a_closed_store_raises_instead_of_answering_not_found(
    tmp_path: Path, clock: FrozenClock
) -> None:
    closed = await open_sqlite(tmp_path / "closed.db", clock)
    await closed.aclose()
    reads: list[Callable[[], Awaitable[object]]] = [
        lambda: closed.get_account("bob"),
        closed.list_accounts,
        lambda: closed.get_mailbox("info@bob.example"),
        lambda: closed.list_mailboxes("bob"),
        lambda: closed.domain_owner("bob.example"),
        lambda: closed.get_feature_list("default"),
        closed.list_feature_lists,
    ]
    for read in reads:
        with pytest.raises(StoreUnavailable):
            await read()


@pytest.mark.parametrize(("name", "write"), WRITES, ids=[name for name, _ in WRITES])
async def test_writes_to_a_closed_store_raise_store_unavailable(
    tmp_path: Path,
    clock: FrozenClock,
    name: str,
    write: Callable[[SqliteStore], Awaitable[object]],
) -> None:
    closed = await open_sqlite(tmp_path / "closed.db", clock)
    await closed.aclose()
    with pytest.raises(StoreUnavailable):
        await write(closed)


# -- open_store and migrations ------------------------------------------------------------------


async def test_open_store_opens_a_sqlite_file(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "via-url.db"
    assert await migrate_store(f"sqlite://{path}", clock=clock) == (0, LATEST)
    opened = await open_store(f"sqlite://{path}", clock=clock)
    try:
        assert isinstance(opened, SqliteStore)
        await opened.insert_account(BOB)
    finally:
        await opened.aclose()
    reopened = await open_store(f"sqlite://{path}", clock=clock)
    try:
        assert await reopened.get_account("bob") == BOB
    finally:
        await reopened.aclose()


async def test_open_store_opens_an_in_memory_database(clock: FrozenClock) -> None:
    with pytest.raises(SchemaOutdated, match="run `panelauth migrate`"):
        await open_store("sqlite://:memory:", clock=clock)  # an empty store is version 0
    memory = await open_store("sqlite://:memory:", clock=clock, migrate=True)
    try:
        await memory.insert_account(BOB)
        assert await memory.get_account("bob") == BOB
        assert await memory.get_feature_list("default") == {}
    finally:
        await memory.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [("/var/lib/panelauth.db", "not a store URL"), ("redis://db/0", "unsupported")],
)
async def test_open_store_rejects_unknown_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await open_store(url)


def _set_back_to_version_4(path: Path) -> None:
    connection = raw(path)
    try:
        connection.execute("DELETE FROM schema_version WHERE version > 4")
        connection.execute("DROP INDEX sessions_by_expiry")
    finally:
        connection.close()


async def test_a_store_behind_its_schema_is_refused_until_migrated(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite://{path}"
    await migrate_store(url, clock=clock)
    _set_back_to_version_4(path)
    with pytest.raises(SchemaOutdated) as raised:
        await open_store(url, clock=clock)
    assert raised.value.message == (
        f"The store's schema is at version 4; this panelauth needs version {LATEST}: "
        "run `panelauth migrate`."
    )
    assert isinstance(raised.value, StoreUnavailable)
    assert await migrate_store(url, clock=clock) == (4, LATEST)
    assert await migrate_store(url, clock=clock) == (LATEST, LATEST)
    opened = await open_store(url, clock=clock)
    await opened.aclose()


async def test_a_store_newer_than_the_code_is_refused(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "new.db"
    url = f"sqlite://{path}"
    await migrate_store(url, clock=clock)
    connection = raw(path)
    connection.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST + 1,))
    connection.close()
    for attempt in (open_store(url, clock=clock), migrate_store(url, clock=clock)):
        with pytest.raises(SchemaOutdated, match="newer than this panelauth"):
            await attempt


# -- the hot path reads by index ----------------------------------------------------------------

HOT_PATH_READS = [
    "SELECT * FROM accounts WHERE user = 'bob'",
    "SELECT * FROM api_tokens WHERE owner = 'bob' AND kind = 'whm' AND digest = 'd'",
    "SELECT * FROM sessions WHERE session_id = 'bob:A'",
    "SELECT session_id FROM sessions WHERE expires_at <= 1 LIMIT 10",
    "SELECT max(step) FROM tfa_used_steps WHERE user = 'bob'",
    "SELECT count(*) FROM tfa_failures WHERE user = 'bob' AND failed_at > 1",
    "SELECT * FROM sessions WHERE user = 'bob' OR account = 'bob'",
]


@pytest.mark.parametrize("sql", HOT_PATH_READS)
def test_hot_path_reads_never_scan(store: SqliteStore, sql: str) -> None:
    plan = " ".join(str(row[-1]) for row in store._db.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "SCAN" not in plan, plan
    assert "USING" in plan, plan


# -- the record cache ---------------------------------------------------------------------------


def traced(store: SqliteStore) -> list[str]:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    return statements


def counted_checks(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record every reading of the change signal (and what it said)."""
    checks: list[bool] = []
    look = store._committed_since_last_look

    def counting() -> bool:
        checks.append(look())
        return checks[-1]

    monkeypatch.setattr(store, "_committed_since_last_look", counting)
    return checks


async def test_a_cached_lookup_costs_one_change_check_and_no_sql(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.insert_account(BOB)
    assert await store.get_account("bob") == BOB
    checks = counted_checks(store, monkeypatch)
    statements = traced(store)
    for _ in range(3):
        assert await store.get_account("bob") == BOB
        assert await store.get_account("ghost") is None
    assert len(checks) == 6  # one check per lookup when nobody marks requests
    # the WAL index is read from memory: no PRAGMA; bob came from the cache, ghost's absence
    # was read once
    assert not [s for s in statements if not s.startswith("SELECT")]
    assert len(statements) == 1


async def test_a_marked_request_checks_the_change_signal_once(
    store: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.insert_account(BOB)
    assert await store.get_account("bob") == BOB
    checks = counted_checks(store, monkeypatch)
    for _ in range(3):
        store.begin_request()
        assert await store.get_account("bob") == BOB
        assert await store.get_account("ghost") is None
    assert len(checks) == 3  # one check per request
    # a commit by another connection before a request begins is seen by that request
    cli = raw(tmp_path / "panelauth.db")
    try:
        cli.execute("UPDATE accounts SET suspended = 1 WHERE user = 'bob'")
    finally:
        cli.close()
    store.begin_request()
    suspended = await store.get_account("bob")
    assert suspended is not None and suspended.suspended
    assert checks[-1] is True


async def test_without_a_mappable_wal_index_pragma_data_version_decides(
    tmp_path: Path, clock: FrozenClock
) -> None:
    store = await open_sqlite(tmp_path / "panelauth.db", clock)
    try:
        store._wal_index_path = str(tmp_path / "no-such-index")  # e.g. an unusual file system
        await store.insert_account(BOB)
        assert await store.get_account("bob") == BOB
        statements = traced(store)
        assert await store.get_account("bob") == BOB
        assert statements == ["PRAGMA data_version"]  # the fallback reads the signal by SQL
        assert store._wal_index is False
        cli = raw(tmp_path / "panelauth.db")
        try:
            cli.execute("UPDATE accounts SET suspended = 1 WHERE user = 'bob'")
        finally:
            cli.close()
        suspended = await store.get_account("bob")
        assert suspended is not None and suspended.suspended
    finally:
        await store.aclose()


async def test_an_unknown_wal_index_version_falls_back_to_pragma_data_version(
    store: SqliteStore, tmp_path: Path
) -> None:
    await store.insert_account(BOB)
    assert await store.get_account("bob") == BOB
    assert store._wal_index  # mapped
    store._wal_index = mmap.mmap(-1, 48)  # an index of another layout: all zeros
    statements = traced(store)
    assert await store.get_account("bob") == BOB  # the first reading differs: one re-read
    assert await store.get_account("bob") == BOB
    assert statements[0] == "PRAGMA data_version"
    assert statements[-1] == "PRAGMA data_version" and len(statements) == 3


async def test_a_commit_by_another_connection_drops_the_cache(
    store: SqliteStore, tmp_path: Path
) -> None:
    await store.insert_account(BOB)
    assert await store.get_account("bob") == BOB
    cli = raw(tmp_path / "panelauth.db")  # e.g. the CLI, with no cache of its own
    try:
        cli.execute("UPDATE accounts SET suspended = 1 WHERE user = 'bob'")
    finally:
        cli.close()
    suspended = await store.get_account("bob")
    assert suspended is not None and suspended.suspended


async def test_the_cache_is_bounded(tmp_path: Path, clock: FrozenClock) -> None:
    small = await open_sqlite(tmp_path / "small.db", clock, cache_entries=2)
    try:
        for user in ("amy", "bob", "cid"):
            await small.insert_account(Account(user, f"{user}.example", "root", HASH))
        await small.get_account("amy")
        await small.get_account("bob")
        await small.get_account("amy")  # used most recently: bob goes first
        await small.get_account("cid")
        assert len(small._account_cache) == 2
        statements = traced(small)
        await small.get_account("amy")
        await small.get_account("bob")
        selects = [s for s in statements if s.startswith("SELECT")]
        assert len(selects) == 1 and "'bob'" in selects[0]  # only bob was read again
    finally:
        await small.aclose()


async def test_a_cache_of_no_entries_caches_nothing(tmp_path: Path, clock: FrozenClock) -> None:
    bare = await open_sqlite(tmp_path / "bare.db", clock, cache_entries=0)
    try:
        await bare.insert_account(BOB)
        assert await bare.get_account("bob") == BOB
        assert len(bare._account_cache) == 0
    finally:
        await bare.aclose()
