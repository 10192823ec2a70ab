"""What is the PostgreSQL store's own (the contract suite covers what every backend shares):
its URL and schema, migrations, the LISTEN/NOTIFY change signal and its listening connection,
a server that is down, and conditional writes raced by two stores (two workers).

Every test runs on the server of conftest.py (never skipped), each in a fresh schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from psycopg import sql

from panelauth.backends import migrate_store, open_store
from panelauth.backends import postgresql_base as base_module
from panelauth.backends import postgresql_listener as listener_module
from panelauth.backends.postgresql import PostgresqlStore
from panelauth.backends.postgresql_base import LATEST_VERSION, PROBE_SECONDS
from panelauth.backends.postgresql_connect import connection_options, parse_url
from panelauth.backends.postgresql_listener import PROOF_SECONDS, Listener
from panelauth.clock import FrozenClock
from panelauth.core.hulk import DAY, Failure, Limits, Method, address_key, user_key
from panelauth.core.models import Account
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.stores import StepUse
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.errors import SchemaOutdated, StoreUnavailable
from panelauth.protocol.services import Service
from tests.backends.conftest import with_schema

BOB = Account(user="bob", domain="bob.example", owner="root", password_hash="$h", created_at=1.0)
TOKEN = ApiToken(owner="bob", kind=TokenKind.WHM, name="deploy", digest="d" * 128, created_at=1)
NOTICE_DEADLINE = 1.0  # seconds: a write is seen by another worker's next request by then


@pytest.fixture
async def opened(
    postgresql_store_url: str, clock: FrozenClock
) -> AsyncIterator[Callable[..., Awaitable[PostgresqlStore]]]:
    """Open stores (workers) on one fresh, migrated schema; all closed afterwards."""
    stores: list[PostgresqlStore] = []
    await migrate_store(postgresql_store_url, clock=clock)

    async def open_one(**options: Any) -> PostgresqlStore:
        store = await open_store(postgresql_store_url, clock=clock, **options)
        assert isinstance(store, PostgresqlStore)
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        await store.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until `check()` held (asked every millisecond); fails after `within`."""
    started = time.monotonic()
    while not await check():
        elapsed = time.monotonic() - started
        assert elapsed < within, f"not within {within} s"
        await asyncio.sleep(0.001)
    return time.monotonic() - started


async def server_sql(
    url: str, query: str | sql.Composed, parameters: tuple[Any, ...] = ()
) -> list[Any]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute(query, parameters)
        return await cursor.fetchall() if cursor.description else []


# -- the URL and the schema ---------------------------------------------------------------------


def test_the_schema_is_taken_off_the_url_and_the_rest_passes_through() -> None:
    location = parse_url("postgresql://app:pw@db.example:6432/auth?sslmode=require&schema=node_a")
    assert location.conninfo == "postgresql://app:pw@db.example:6432/auth?sslmode=require"
    assert (location.schema, location.channel) == ("node_a", "panelauth_node_a")
    assert parse_url("postgres://db/auth?schema=x&connect_timeout=3").conninfo == (
        "postgres://db/auth?connect_timeout=3"
    )


def test_the_schema_defaults_to_public() -> None:
    location = parse_url("postgresql://postgres@127.0.0.1:5432/test")
    assert (location.conninfo, location.schema) == (
        "postgresql://postgres@127.0.0.1:5432/test",
        "public",
    )
    socket_url = parse_url("postgresql:///test?host=/var/run/postgresql")
    assert socket_url.conninfo == "postgresql:///test?host=/var/run/postgresql"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db/auth?schema=Node",  # upper case would need quoting
        "postgresql://db/auth?schema=a-b",
        "postgresql://db/auth?schema=1node",
        "postgresql://db/auth?schema=",
        "postgresql://db/auth?schema=" + "x" * 49,  # the channel name would not fit
        "postgresql://db/auth?schema=a%3Bb",
        "postgresql://db/auth?schema=a&schema=b",
        "mysql://db/auth",
        "postgresql://db/auth?not a parameter",
    ],
)
def test_a_bad_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


def test_every_connection_sets_the_schema_the_origin_and_the_lock_timeout() -> None:
    location = parse_url("postgresql://db/auth?schema=node_a&options=-c%20work_mem%3D8MB")
    options = connection_options(location, origin="abc123", lock_timeout_ms=1500)
    assert options["options"] == (
        "-c work_mem=8MB -c search_path=node_a -c lock_timeout=1500 -c panelauth.origin=abc123"
    )
    assert options["autocommit"] is True
    assert options["connect_timeout"] == 5
    assert "keepalives" not in options
    listening = connection_options(location, origin="abc123", lock_timeout_ms=0, listening=True)
    assert listening["keepalives"] == 1
    assert "lock_timeout=1 " in listening["options"]  # 0 would mean "wait for ever"
    given = parse_url("postgresql://db/auth?connect_timeout=2&keepalives=0")
    listening = connection_options(given, origin="o", lock_timeout_ms=10, listening=True)
    assert "connect_timeout" not in listening and "keepalives" not in listening  # the URL's


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_open_store_takes_both_schemes(
    postgresql_server: str, postgresql_schema: str, scheme: str
) -> None:
    url = with_schema(postgresql_server, postgresql_schema).replace("postgresql", scheme, 1)
    store = await open_store(url, migrate=True)
    try:
        assert isinstance(store, PostgresqlStore)
        assert await store.schema_version() == (LATEST_VERSION, LATEST_VERSION)
    finally:
        await store.aclose()


async def test_migrate_creates_the_schema_and_installations_share_a_database(
    postgresql_server: str, clock: FrozenClock
) -> None:
    suffix = secrets.token_hex(6)
    schemas = (f"test_node_a_{suffix}", f"test_node_b_{suffix}")
    try:
        for schema in schemas:
            assert await migrate_store(with_schema(postgresql_server, schema)) == (
                0,
                LATEST_VERSION,
            )
        found = await server_sql(
            postgresql_server,
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s) ORDER BY nspname",
            (list(schemas),),
        )
        assert [row[0] for row in found] == sorted(schemas)
        first = await open_store(with_schema(postgresql_server, schemas[0]), clock=clock)
        second = await open_store(with_schema(postgresql_server, schemas[1]), clock=clock)
        try:
            await first.insert_account(BOB)
            await second.insert_account(replace(BOB, password_hash="$other"))  # no conflict
            found_first = await first.get_account("bob")
            found_second = await second.get_account("bob")
            assert found_first is not None and found_second is not None
            assert (found_first.password_hash, found_second.password_hash) == ("$h", "$other")
            rows = await server_sql(
                postgresql_server,
                sql.SQL("SELECT user_name FROM {}.accounts").format(sql.Identifier(schemas[0])),
            )
            assert rows == [("bob",)]
        finally:
            await first.aclose()
            await second.aclose()
    finally:
        for schema in schemas:
            await server_sql(
                postgresql_server,
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)),
            )


# -- migrations ---------------------------------------------------------------------------------


async def test_migrate_is_idempotent_and_opening_never_migrates(postgresql_store_url: str) -> None:
    with pytest.raises(SchemaOutdated) as empty:
        await open_store(postgresql_store_url)
    assert (empty.value.current, empty.value.needed) == (0, LATEST_VERSION)
    assert "panelauth migrate" in empty.value.message
    assert await migrate_store(postgresql_store_url) == (0, LATEST_VERSION)
    assert await migrate_store(postgresql_store_url) == (LATEST_VERSION, LATEST_VERSION)
    store = await open_store(postgresql_store_url)
    try:
        assert await store.migrate() == (LATEST_VERSION, LATEST_VERSION)
    finally:
        await store.aclose()


async def test_two_migrate_steps_at_once_take_turns(postgresql_store_url: str) -> None:
    results = await asyncio.gather(
        migrate_store(postgresql_store_url), migrate_store(postgresql_store_url)
    )
    assert sorted(results) == [(0, LATEST_VERSION), (LATEST_VERSION, LATEST_VERSION)]


async def test_a_store_behind_the_code_is_outdated_until_migrated(
    postgresql_store_url: str, postgresql_schema: str, postgresql_server: str
) -> None:
    await migrate_store(postgresql_store_url)
    store = await open_store(postgresql_store_url)
    await store.insert_account(BOB)
    await store.aclose()
    await server_sql(
        postgresql_server,
        sql.SQL("DELETE FROM {}.schema_version WHERE version > 4").format(
            sql.Identifier(postgresql_schema)
        ),
    )
    with pytest.raises(SchemaOutdated) as behind:
        await open_store(postgresql_store_url)
    assert (behind.value.current, behind.value.needed) == (4, LATEST_VERSION)
    assert await migrate_store(postgresql_store_url) == (4, LATEST_VERSION)  # scripts run again
    store = await open_store(postgresql_store_url)
    try:
        assert await store.get_account("bob") == BOB
    finally:
        await store.aclose()


async def test_a_store_newer_than_the_code_is_refused(
    postgresql_store_url: str, postgresql_schema: str, postgresql_server: str
) -> None:
    await migrate_store(postgresql_store_url)
    await server_sql(
        postgresql_server,
        sql.SQL("INSERT INTO {}.schema_version (version) VALUES (%s)").format(
            sql.Identifier(postgresql_schema)
        ),
        (LATEST_VERSION + 1,),
    )
    with pytest.raises(SchemaOutdated) as newer:
        await open_store(postgresql_store_url)
    assert (newer.value.current, newer.value.needed) == (LATEST_VERSION + 1, LATEST_VERSION)
    with pytest.raises(SchemaOutdated):
        await migrate_store(postgresql_store_url)


# -- the change signal: NOTIFY ------------------------------------------------------------------


async def test_another_workers_password_change_and_revocation_arrive_within_a_second(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    writer, reader = await opened(), await opened()
    await writer.insert_account(BOB)
    await writer.insert_token(TOKEN)
    assert await reader._caught_up()  # no notice of these is still on its way
    for _ in range(2):  # the reader caches both
        reader.begin_request()
        assert await reader.get_account("bob") == BOB
        assert await reader.find_token("bob", TokenKind.WHM, TOKEN.digest) == TOKEN
    assert len(reader._account_cache) == len(reader._token_cache) == 1

    async def rotated() -> bool:
        reader.begin_request()
        found = await reader.get_account("bob")
        return found is not None and found.credential_version == 2

    async def revoked() -> bool:
        reader.begin_request()
        return await reader.find_token("bob", TokenKind.WHM, TOKEN.digest) is None

    await writer.set_password_hash("bob", "$new", rotate=True)
    password_delay = await eventually(rotated, NOTICE_DEADLINE)
    await writer.delete_token("bob", TokenKind.WHM, "deploy")
    revocation_delay = await eventually(revoked, NOTICE_DEADLINE)
    assert max(password_delay, revocation_delay) < NOTICE_DEADLINE


async def test_a_request_keeps_what_it_read_and_the_next_one_sees_the_change(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    writer, reader = await opened(), await opened()
    await writer.insert_account(BOB)
    assert await reader._caught_up()
    reader.begin_request()
    assert await reader.get_account("bob") == BOB
    assert len(reader._account_cache) == 1
    await writer.set_suspended("bob", True, "abuse")
    assert await reader._caught_up()  # the notice is in: it waits for the next request
    assert await reader.get_account("bob") == BOB
    reader.begin_request()
    found = await reader.get_account("bob")
    assert found is not None and found.suspended


async def test_a_psql_write_is_a_change_too(
    opened: Callable[..., Awaitable[PostgresqlStore]], postgresql_store_url: str
) -> None:
    reader = await opened()
    await reader.insert_account(BOB)
    assert await reader.get_account("bob") == BOB
    location = parse_url(postgresql_store_url)
    await server_sql(
        location.conninfo,
        sql.SQL("UPDATE {}.accounts SET suspended = true").format(sql.Identifier(location.schema)),
    )

    async def suspended() -> bool:
        found = await reader.get_account("bob")
        return found is not None and found.suspended

    await eventually(suspended, NOTICE_DEADLINE)


async def test_own_writes_keep_the_rest_of_the_cache(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    store = await opened()
    await store.insert_account(BOB)
    await store.insert_account(replace(BOB, user="carol", domain="carol.example"))
    assert await store.get_account("carol") is not None
    assert await store.get_account("bob") == BOB
    await store.set_suspended("bob", True, "abuse")
    assert await store._caught_up()  # its own notice came back, and was ignored
    assert list(store._account_cache._entries) == ["carol"]
    found = await store.get_account("bob")
    assert found is not None and found.suspended


async def test_without_a_cache_there_is_no_listening_connection(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    store = await opened(cache_entries=0)
    await store.insert_account(BOB)
    assert await store.get_account("bob") == BOB
    assert store._listener is None and len(store._account_cache) == 0


# -- the listening connection: lost, the caches are not trusted; back, they start empty ----------


async def test_while_the_listener_is_down_every_read_goes_to_the_database(
    opened: Callable[..., Awaitable[PostgresqlStore]],
    postgresql_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listener_module, "FIRST_PAUSE_SECONDS", 1.0)  # a down time to look at
    writer, reader = await opened(), await opened()
    await writer.insert_account(BOB)
    assert await reader._caught_up()
    assert await reader.get_account("bob") == BOB
    assert len(reader._account_cache) == 1
    assert reader._listener is not None
    killed = reader._listener.backend_pid
    await server_sql(postgresql_server, "SELECT pg_terminate_backend(%s)", (killed,))
    await eventually(lambda: _is(not reader._listening), 1.0)
    assert len(reader._account_cache) == 0
    # another worker's change is seen at once: no notice can arrive, none is waited for
    await writer.set_suspended("bob", True, "abuse")
    reader.begin_request()
    found = await reader.get_account("bob")
    assert found is not None and found.suspended
    assert len(reader._account_cache) == 0  # nothing is cached meanwhile
    await eventually(lambda: _is(reader._listening), 5.0)
    assert reader._listener.backend_pid not in (None, killed)
    assert await reader.get_account("bob") == found
    assert len(reader._account_cache) == 1  # trusted again, from empty
    await writer.set_suspended("bob", False, "")

    async def lifted() -> bool:
        reader.begin_request()
        account = await reader.get_account("bob")
        return account is not None and not account.suspended

    await eventually(lifted, NOTICE_DEADLINE)


async def _is(value: bool) -> bool:
    return value


async def test_closing_ends_the_listener_and_the_pool(
    opened: Callable[..., Awaitable[PostgresqlStore]], postgresql_server: str
) -> None:
    store = await opened()
    assert store._listener is not None
    pid = store._listener.backend_pid
    await store.aclose()
    query = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    await eventually(lambda: _gone(postgresql_server, query, pid), 2.0)
    with pytest.raises(StoreUnavailable):
        await store.find_token("bob", TokenKind.WHM, TOKEN.digest)
    with pytest.raises(StoreUnavailable):
        await store.insert_account(BOB)


async def _gone(url: str, query: str, pid: object) -> bool:
    return bool((await server_sql(url, query, (pid,)))[0][0] == 0)


# -- a server that is down ----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_server_is_store_unavailable(clock: FrozenClock) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test?schema=nowhere"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await open_store(url, clock=clock, busy_timeout_ms=200)
    with pytest.raises(StoreUnavailable):
        await migrate_store(url, clock=clock, busy_timeout_ms=200)
    assert time.monotonic() - started < 5.0


class Proxy:
    """A TCP relay to the test server, which the test can take down and bring back, or stall:
    every byte is then held, both ways, and the connections stay open (a server, or a network,
    that takes what it is sent and answers nothing) until `flow()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _closed_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @classmethod
    def to(cls, conninfo: str) -> Proxy:
        """A relay to the server `conninfo` names."""
        given = psycopg.conninfo.conninfo_to_dict(conninfo)
        return cls(str(given.get("host", "127.0.0.1")), int(str(given.get("port", 5432))))

    def url(self, conninfo: str) -> str:
        """`conninfo`'s user and database, through this relay."""
        given = psycopg.conninfo.conninfo_to_dict(conninfo)
        return (
            f"postgresql://{given.get('user', 'postgres')}@127.0.0.1:{self.port}/{given['dbname']}"
        )

    def stall(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    await self._flowing.wait()
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def test_a_server_going_away_is_store_unavailable_then_it_recovers(
    postgresql_store_url: str, clock: FrozenClock
) -> None:
    await migrate_store(postgresql_store_url, clock=clock)
    location = parse_url(postgresql_store_url)
    given = psycopg.conninfo.conninfo_to_dict(location.conninfo)
    proxy = Proxy(str(given.get("host", "127.0.0.1")), int(str(given.get("port", 5432))))
    await proxy.start()
    url = (
        f"postgresql://{given.get('user', 'postgres')}@127.0.0.1:{proxy.port}/"
        f"{given['dbname']}?schema={location.schema}"
    )
    store = await open_store(url, clock=clock, busy_timeout_ms=300)
    assert isinstance(store, PostgresqlStore)
    try:
        await store.insert_account(BOB)
        await store.insert_token(TOKEN)
        assert await store.find_token("bob", TokenKind.WHM, TOKEN.digest) == TOKEN  # cached
        await proxy.stop()
        await eventually(lambda: _is(not store._listening), 2.0)
        for call in (
            lambda: store.find_token("bob", TokenKind.WHM, TOKEN.digest),
            lambda: store.get_account("bob"),
            lambda: store.set_suspended("bob", True, "x"),
            lambda: store.use_totp_step("bob", 1, "session", "192.0.2.1", 1.0),
            store.list_accounts,
        ):
            store.begin_request()
            with pytest.raises(StoreUnavailable):
                await call()
        await proxy.start()
        await eventually(lambda: _is(store._listening), 10.0)

        async def answers() -> bool:
            try:
                return await store.get_account("bob") == BOB
            except StoreUnavailable:  # the pool waits 1 s, 2 s, ... between its reconnections
                return False

        await eventually(answers, 10.0)
        assert await store.use_totp_step("bob", 1, "session", "192.0.2.1", 1.0)
    finally:
        await store.aclose()
        with contextlib.suppress(AssertionError):
            await proxy.stop()


async def test_a_read_outlives_pooled_connections_the_server_dropped(
    opened: Callable[..., Awaitable[PostgresqlStore]], postgresql_server: str
) -> None:
    store = await opened(cache_entries=0)
    await store.insert_account(BOB)
    pooled = await asyncio.gather(  # at once: each on a connection of its own
        *(store._read("SELECT pg_backend_pid(), pg_sleep(0.05)") for _ in range(4))
    )
    pids = sorted({rows[0][0] for rows in pooled})
    assert len(pids) == 4
    await server_sql(
        postgresql_server, "SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (pids,)
    )
    assert await store.get_account("bob") == BOB  # as after a server restart


async def test_schema_version_and_writes_outlive_pooled_connections_the_server_dropped(
    opened: Callable[..., Awaitable[PostgresqlStore]], postgresql_server: str
) -> None:
    """What /readyz asks (schema_version), a one-statement write and a transaction each meet
    idle pooled connections the server closed (a restart, a failover): each is seen before
    anything is sent on it, and a fresh one serves the call."""
    store = await opened(cache_entries=0)
    await store.insert_account(BOB)

    async def fill_and_drop_the_pool() -> None:
        pooled = await asyncio.gather(
            *(store._read("SELECT pg_backend_pid(), pg_sleep(0.05)") for _ in range(4))
        )
        pids = sorted({rows[0][0] for rows in pooled})
        assert len(pids) == 4
        await server_sql(
            postgresql_server, "SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (pids,)
        )
        query = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"
        await eventually(lambda: _gone(postgresql_server, query, pids), 2.0)
        await asyncio.sleep(0.05)  # their goodbyes reached this process

    await fill_and_drop_the_pool()
    assert await store.schema_version() == (LATEST_VERSION, LATEST_VERSION)
    await fill_and_drop_the_pool()
    assert await store.set_suspended("bob", True, "abuse")
    await fill_and_drop_the_pool()
    assert await store.use_totp_step("bob", 1, "session", "192.0.2.1", 1.0)
    await fill_and_drop_the_pool()
    assert await store.count_wrong_token("bob:nothing") == 0  # a statement of its own
    found = await store.get_account("bob")
    assert found is not None and found.suspended


async def test_a_failure_is_logged_without_the_values(
    opened: Callable[..., Awaitable[PostgresqlStore]], caplog: pytest.LogCaptureFixture
) -> None:
    store = await opened()
    with caplog.at_level(logging.WARNING), pytest.raises(StoreUnavailable) as failed:
        await store.get_account("bob\x00secret-value")
    assert "secret-value" not in caplog.text
    assert "secret-value" not in str(failed.value)
    assert "store unavailable: DataError" in caplog.text


# -- a server that takes every byte and answers nothing ----------------------------------------


@pytest.fixture
async def proxy(postgresql_server: str) -> AsyncIterator[Proxy]:
    relay = Proxy.to(postgresql_server)
    await relay.start()
    yield relay
    relay.flow()
    with contextlib.suppress(AssertionError):
        await relay.stop()


async def test_a_server_answering_nothing_is_store_unavailable_within_the_busy_timeout(
    postgresql_store_url: str, postgresql_server: str, proxy: Proxy, clock: FrozenClock
) -> None:
    """Statements on pooled connections that are open but silent: every kind of call fails
    within the busy timeout (not psycopg's cancel request and its 5 s waits), each connection
    that timed out is discarded, and once the server answers again the store serves at once,
    each answer its own (never a late reply to an earlier call)."""
    await migrate_store(postgresql_store_url, clock=clock)
    schema = parse_url(postgresql_store_url).schema
    url = with_schema(proxy.url(postgresql_server), schema)
    store = await open_store(url, clock=clock, busy_timeout_ms=300)
    assert isinstance(store, PostgresqlStore)
    try:
        await store.insert_account(BOB)
        calls: list[Callable[[], Awaitable[object]]] = [
            store.list_accounts,  # a read
            lambda: store.set_suspended("bob", True, "x"),  # one statement
            lambda: store.use_totp_step("bob", 1, "session", "192.0.2.1", 1.0),  # a transaction
            store.schema_version,  # /readyz
            lambda: store.count_wrong_token("bob:nothing"),
        ]
        # each call will find an idle pooled connection of its own, then silence
        pooled = await asyncio.gather(
            *(store._read("SELECT pg_backend_pid(), pg_sleep(0.1)") for _ in calls)
        )
        pids = sorted({rows[0][0] for rows in pooled})
        assert len(pids) == len(calls)
        proxy.stall()
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"no answer within 0\.3 s"):
                await call()
            assert time.monotonic() - started < 0.3 + 0.2
        # the pool has nothing left but connections being opened, which answer nothing either
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get_mailbox("bob@bob.example")
        assert time.monotonic() - started < 0.3 + 0.2
        proxy.flow()
        query = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"
        await eventually(lambda: _gone(postgresql_server, query, pids), 2.0)  # none reused
        for value in range(20):
            assert await store._read("SELECT %s::int", (value,)) == [(value,)]
        # (the write that timed out reached the server once the bytes flowed: a 503 tells
        # the client that its outcome is unknown)
        assert [account.user for account in await store.list_accounts()] == ["bob"]
        assert await store.use_totp_step("bob", 2, "session", "192.0.2.1", 1.0)
    finally:
        proxy.flow()
        await store.aclose()


async def test_readiness_gets_its_answer_within_its_own_bound(
    postgresql_store_url: str, postgresql_server: str, proxy: Proxy, clock: FrozenClock
) -> None:
    """/readyz gives up at 2 s (server/health.py): schema_version() ends sooner whatever the
    busy timeout (PROBE_SECONDS), never cancelled in the middle of a statement."""
    await migrate_store(postgresql_store_url, clock=clock)
    schema = parse_url(postgresql_store_url).schema
    store = await open_store(
        with_schema(proxy.url(postgresql_server), schema),
        clock=clock,
        busy_timeout_ms=5000,
        cache_entries=0,
    )
    try:
        proxy.stall()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=f"no answer within {PROBE_SECONDS:g} s"):
            await store.schema_version()
        assert PROBE_SECONDS <= time.monotonic() - started < PROBE_SECONDS + 0.3
    finally:
        proxy.flow()
        await store.aclose()


async def test_a_silent_listener_stops_the_caches_within_a_second(
    opened: Callable[..., Awaitable[PostgresqlStore]],
    postgresql_server: str,
    proxy: Proxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader's listening connection goes silent (open, acknowledged by TCP, no answer),
    its pool does not: a token revoked meanwhile by another worker is refused by the reader
    within a second all the same (its caches are dropped and not used once the listener's
    last proof of life is a second old), and the listener opens a new connection."""
    through = proxy.url(postgresql_server)

    def listening_through_the_proxy(_conninfo: str, *args: Any, **kwargs: Any) -> Listener:
        return Listener(through, *args, **kwargs)

    writer = await opened()
    monkeypatch.setattr(base_module, "Listener", listening_through_the_proxy)
    reader = await opened(busy_timeout_ms=500)
    monkeypatch.undo()
    await writer.insert_account(BOB)
    await writer.insert_token(TOKEN)
    assert await reader._caught_up()
    for _ in range(2):
        reader.begin_request()
        assert await reader.find_token("bob", TokenKind.WHM, TOKEN.digest) == TOKEN
    assert len(reader._token_cache) == 1
    assert reader._listener is not None
    silent = reader._listener.backend_pid

    async def refused() -> bool:
        reader.begin_request()
        return await reader.find_token("bob", TokenKind.WHM, TOKEN.digest) is None

    proxy.stall()
    await writer.delete_token("bob", TokenKind.WHM, "deploy")  # its notice is held
    assert await eventually(refused, NOTICE_DEADLINE) < NOTICE_DEADLINE
    assert len(reader._token_cache) == 0  # dropped, and nothing cached meanwhile
    reader.begin_request()
    assert await reader.get_account("bob") == BOB
    assert len(reader._account_cache) == 0
    # the listener gives up its silent connection (within the busy timeout) and opens another
    await eventually(lambda: _is(not reader._listening), 1.0)
    proxy.flow()
    await eventually(lambda: _is(reader._listening), 5.0)
    assert reader._listener.backend_pid not in (None, silent)
    reader.begin_request()
    assert await reader.get_account("bob") == BOB
    assert len(reader._account_cache) == 1  # trusted again, from empty
    await writer.set_suspended("bob", True, "abuse")

    async def suspended() -> bool:
        reader.begin_request()
        found = await reader.get_account("bob")
        return found is not None and found.suspended

    await eventually(suspended, NOTICE_DEADLINE)


async def test_the_listener_proves_it_hears_the_server_twice_a_second(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    """The proofs keep the caches trusted while nothing changes: no read goes to the
    database for a cached record, however long the store idles."""
    store = await opened()
    await store.insert_account(BOB)
    assert await store.get_account("bob") == BOB
    before = store._proven_at
    await asyncio.sleep(3 * PROOF_SECONDS)
    assert time.monotonic() - store._proven_at < PROOF_SECONDS + 0.25
    assert store._proven_at > before
    store.begin_request()
    assert store._cache_usable()
    assert len(store._account_cache) == 1


# -- races between two workers admit no more than SQLite's write lock does ----------------------


async def test_two_workers_spend_a_step_once(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    first, second = await opened(), await opened()
    attempts = [
        store.use_totp_step("bob", 1000, "session", "192.0.2.1", 1.0)
        for _ in range(8)
        for store in (first, second)
    ]
    assert sorted(await asyncio.gather(*attempts)) == [False] * 15 + [True]
    # a newer and an older step raced: whichever came first, never both after the newer
    outcomes = await asyncio.gather(
        first.use_totp_step("bob", 1002, "session", "192.0.2.1", 2.0),
        second.use_totp_step("bob", 1001, "session", "192.0.2.1", 2.0),
    )
    assert outcomes[0] is True
    assert await first.last_totp_step("bob") == 1002


async def test_two_workers_open_one_session_with_one_code(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    first, second = await opened(), await opened()
    spend = StepUse("bob", 1000, "session", "192.0.2.1")
    sessions = [_session(f"bob:{index:016d}") for index in range(10)]
    created = await asyncio.gather(
        *(
            (first if index % 2 else second).insert_session(one, spend=spend)
            for index, one in enumerate(sessions)
        )
    )
    assert created.count(True) == 1
    found = [await first.get_session(one.session_id) for one in sessions]
    assert sum(one is not None for one in found) == 1


async def test_two_workers_activate_and_rebind_a_session_once(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    first, second = await opened(), await opened()
    await first.insert_session(_session("bob:AAAAAAAAAAAAAAAA", state=SessionState.UNUSED))
    await first.insert_session(_session("bob:BBBBBBBBBBBBBBBB"))
    activated = await asyncio.gather(
        *(
            store.activate_session("bob:AAAAAAAAAAAAAAAA", f"192.0.2.{index}", 1100.0)
            for index in range(5)
            for store in (first, second)
        )
    )
    assert activated.count(True) == 1
    rebound = await asyncio.gather(
        *(
            store.rebind_session("bob:BBBBBBBBBBBBBBBB", 1000.0, f"192.0.2.{index}", 1100.0 + index)
            for index in range(5)
            for store in (first, second)
        )
    )
    assert rebound.count(True) == 1
    counts = await asyncio.gather(
        *(store.count_wrong_token("bob:BBBBBBBBBBBBBBBB") for store in (first, second) * 5)
    )
    assert sorted(counts) == list(range(1, 11))


LIMITS = Limits(
    address_window=600.0,
    address_limit=3,
    address_block=900.0,
    brute_window=3600.0,
    brute_limit=50,
    brute_block=DAY,
    user_window=300.0,
    user_limit=4,
    user_lock=900.0,
)
T0 = 1_000_000.0


def _failure(at: float, address: str = "192.0.2.7", user: str = "bob") -> Failure:
    return Failure(
        address_key(address), address, user_key(user), user, "cpaneld", Method.PASSWORD, at
    )


async def test_two_workers_reserve_no_more_attempts_than_an_address_allows(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    first, second = await opened(), await opened()
    reserved = await asyncio.gather(
        *(
            (first if index % 2 else second).reserve_attempt(
                _failure(T0 + index / 100, user=f"user{index}"), LIMITS, per_user=True
            )
            for index in range(16)
        )
    )
    assert reserved.count(True) == LIMITS.address_limit
    assert len(await first.failures_since(0.0, limit=100)) == LIMITS.address_limit


async def test_two_workers_reserve_no_more_attempts_than_an_account_allows(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    first, second = await opened(), await opened()
    reserved = await asyncio.gather(
        *(
            (first if index % 2 else second).reserve_attempt(
                _failure(T0 + index / 100, address=f"198.51.100.{index}"), LIMITS, per_user=True
            )
            for index in range(16)
        )
    )
    assert reserved.count(True) == LIMITS.user_limit


async def test_two_workers_lose_no_failure_and_block_once(
    opened: Callable[..., Awaitable[PostgresqlStore]],
) -> None:
    first, second = await opened(), await opened()
    await asyncio.gather(
        *(
            (first if index % 2 else second).record_failure(
                _failure(T0 + index / 100, user=f"user{index}"), LIMITS, recorded=False
            )
            for index in range(12)
        ),
        first.flush_failures(),  # the operator's bulk write takes its turn, never deadlocks
    )
    remaining = len(await first.failures_since(0.0, limit=100))
    blocks = await first.list_blocks(T0)
    assert remaining <= 12
    assert len(blocks) <= 1
    await first.flush_failures()
    await asyncio.gather(
        *(
            (first if index % 2 else second).record_failure(
                _failure(T0 + index / 100, user=f"user{index}"), LIMITS, recorded=False
            )
            for index in range(12)
        )
    )
    assert len(await second.failures_since(0.0, limit=100)) == 12
    (block,) = await second.list_blocks(T0)
    assert block.kind == "address"


def _session(session_id: str, **fields: Any) -> Session:
    base = Session(
        session_id=session_id,
        secret_hash="0" * 64,
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        security_token="/cpsess0000000001",
        creator="bob",
        possessor=None,
        method="handle_form_login",
        bound_address="192.0.2.1",
        created_at=1000.0,
        last_seen=1000.0,
        expires_at=5000.0,
    )
    return replace(base, **fields)
