"""SQLite specifics: migrations, pragmas, a locked database (FT-4), failures, open_store."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from panelauth.backends import open_store
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.models import Account, Mailbox
from panelauth.errors import ServiceUnavailable, StoreUnavailable

HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
BOB = Account("bob", "bob.example", "root", HASH, created_at=1.0)
SHORT_TIMEOUT_MS = 20


def migration_versions() -> list[int]:
    folder = Path(sys.modules["panelauth.backends"].__file__ or "").parent / "sqlite_migrations"
    return sorted(int(path.name.split("_", 1)[0]) for path in folder.glob("*.sql"))


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=0)


# -- migrations and pragmas ---------------------------------------------------------------------


async def test_reopening_keeps_data_and_does_not_migrate_again(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "panelauth.db"
    first = SqliteStore(path, clock=clock)
    await first.insert_account(BOB)
    await first.save_feature_list("gold", {"webmail": False})
    first.close()
    for _ in range(2):
        again = SqliteStore(path, clock=clock)
        assert await again.get_account("bob") == BOB
        assert await again.list_feature_lists() == ["default", "gold"]
        again.close()
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
def quick(
    db_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SqliteStore]:
    """A store whose busy timeout is short, so a held lock fails fast instead of waiting 2 s."""
    plumbing = sys.modules[SqliteStore.__init__.__module__]  # where BUSY_TIMEOUT_MS is read
    monkeypatch.setattr(plumbing, "BUSY_TIMEOUT_MS", SHORT_TIMEOUT_MS)
    db = SqliteStore(db_path, clock=clock)
    assert db._db.execute("PRAGMA busy_timeout").fetchone()[0] == SHORT_TIMEOUT_MS
    yield db
    db.close()


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


async def test_opening_a_locked_database_raises_store_unavailable(
    quick: SqliteStore, locker: sqlite3.Connection, db_path: Path, clock: FrozenClock
) -> None:
    with pytest.raises(StoreUnavailable):
        SqliteStore(db_path, clock=clock)


# -- other failures -----------------------------------------------------------------------------


def test_opening_an_unreachable_path_raises_store_unavailable(
    tmp_path: Path, clock: FrozenClock
) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        SqliteStore(tmp_path / "missing-dir" / "db", clock=clock)


def test_opening_a_file_that_is_not_a_database_raises_store_unavailable(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        SqliteStore(path, clock=clock)


async def test_a_closed_store_raises_instead_of_answering_not_found(
    tmp_path: Path, clock: FrozenClock
) -> None:
    closed = SqliteStore(tmp_path / "closed.db", clock=clock)
    closed.close()
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
    closed = SqliteStore(tmp_path / "closed.db", clock=clock)
    closed.close()
    with pytest.raises(StoreUnavailable):
        await write(closed)


# -- open_store ---------------------------------------------------------------------------------


async def test_open_store_opens_a_sqlite_file(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "via-url.db"
    opened = open_store(f"sqlite://{path}", clock=clock)
    try:
        assert isinstance(opened, SqliteStore)
        await opened.insert_account(BOB)
    finally:
        opened.close()
    assert path.exists()
    reopened = SqliteStore(path, clock=clock)
    try:
        assert await reopened.get_account("bob") == BOB
    finally:
        reopened.close()


async def test_open_store_opens_an_in_memory_database(clock: FrozenClock) -> None:
    memory = open_store("sqlite://:memory:", clock=clock)
    try:
        await memory.insert_account(BOB)
        assert await memory.get_account("bob") == BOB
        assert await memory.get_feature_list("default") == {}
    finally:
        memory.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [("/var/lib/panelauth.db", "not a store URL"), ("postgres://db/panelauth", "unsupported")],
)
def test_open_store_rejects_unknown_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


async def test_a_session_and_the_code_that_opens_it_are_stored_together(
    store: SqliteStore, clock: FrozenClock, bob: Account
) -> None:
    from panelauth.core.sessions import Session, SessionKind, SessionState
    from panelauth.core.stores import StepUse
    from panelauth.protocol.services import Service

    def session(session_id: str) -> Session:
        return Session(
            session_id,
            "0" * 64,
            "bob",
            "bob",
            Service.CPANEL,
            SessionKind.PASSWORD,
            SessionState.ACTIVE,
            "/cpsess0000000001",
            "bob",
            None,
            "handle_form_login",
            None,
            clock.now(),
            clock.now(),
            clock.now() + 60,
        )

    spend = StepUse("bob", 1000, "session", "192.0.2.1")
    assert await store.insert_session(session("bob:AAAAAAAAAAAAAAAA"), spend=spend)
    # the same step again: no session is written at all
    assert not await store.insert_session(session("bob:BBBBBBBBBBBBBBBB"), spend=spend)
    assert await store.get_session("bob:BBBBBBBBBBBBBBBB") is None
    assert await store.last_totp_step("bob") == 1000
