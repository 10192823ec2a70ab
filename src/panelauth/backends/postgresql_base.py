"""PostgreSQL plumbing: the pool, transactions, migrations, the record caches and their signal.

Why this shape: psycopg 3 (async) with one psycopg_pool.AsyncConnectionPool per store (per
worker), opened at the store's first call (open_store builds the store, then awaits it).
Connections run in autocommit mode: a read or a one-statement write is one round trip and
its own transaction; statements that must change together run in `_transaction()`. Whatever
must happen once under concurrency happens in the database: a conditional
`UPDATE ... WHERE ... RETURNING`, `INSERT ... ON CONFLICT`, or an advisory lock taken at the
start of the transaction (a user's TOTP steps, an address's and an account's failures), so a
check and its write are one step for every worker. A failure of the driver, the pool or the
network becomes StoreUnavailable (503, logged by class and SQLSTATE, never with values),
never access; a uniqueness conflict AlreadyExists, a missing parent NotFound, as SQLite's.

Every call ends in bounded time (w§15.5, FT-4): it has a deadline of the busy timeout
(`store_busy_timeout_ms`), which bounds its wait for a pooled connection and every statement it
runs; at the deadline its connection is cut (postgresql_connect.Deadline: no round trip, no
cancel request) and discarded, and the call raises StoreUnavailable. `lock_timeout` (the same
value) ends a wait for a lock on the server's side. `schema_version()` (readiness probes, which
give up at 2 s) gets at most PROBE_SECONDS; `migrate()` MIGRATE_SECONDS. A pooled connection
the server closed while it idled (a restart, `pg_terminate_backend`, a failover) is seen before
anything is sent on it (`still_open`: one poll, no round trip) and replaced; a read that still
meets one (it was closed a moment later) is tried again on another.

Opening never migrates: `migrate()` creates the schema if absent and applies the numbered
scripts of postgresql_migrations/ in one transaction (an advisory lock serialises two migrate
steps); a store whose schema is behind raises SchemaOutdated at open_store.

The change signal (core/stores.py): a trigger on every table sends, for each changed row, a
notice on the channel `panelauth_<schema>` inside the writer's transaction, so it leaves at
commit, whoever wrote (another worker or node, the CLI, psql). Each store listens on its own
connection (postgresql_listener.py); a notice from anyone else marks the caches stale and the
next check (the first cached read after begin_request(), or every cached lookup of a store
nobody marks) drops every cached record. A notice carries its writer's origin (a connection
setting): the store ignores its own, whose writes evict what they change, as SQLite's do.
Notices travel asynchronously: another writer's commit is seen by the first request that
begins after its notice arrived (a median of 0.06 ms after the commit on one machine, at
most a few ms; test_postgresql.py allows a second). While the listening connection is down
(not yet open, lost, reconnecting) the caches are not trusted at all: every read goes to the
database, and they start empty once it listens again. Nor while it is silent: the listener
proves every half second that it still hears the server (postgresql_listener.py), and a node
whose last proof is older than TRUST_SECONDS (1 s) drops its caches and reads the database
until proofs come again, so a change committed anywhere is never answered from a cache more
than a second later (one clock reading per cached lookup). A read that was in flight across a
notice, a flush or one of the store's own writes is not cached (the `_mark` it began with has
changed).

`transaction()` (export and import) holds one pooled connection in a REPEATABLE READ
transaction: every call of the store inside the block runs on it, each write in a savepoint of
its own (psycopg nests `connection.transaction()`), and the block commits or rolls back as one.
The block may run long: each call in it, its BEGIN and its COMMIT have a deadline of their own.
`store_time()` is the server's `clock_timestamp()` (FT-10).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from contextlib import asynccontextmanager
from time import monotonic
from typing import Any, Final, TypeVar

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.abc import Params
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from panelauth.backends import records
from panelauth.backends.barriers import Barriers
from panelauth.backends.postgresql_connect import (
    Deadline,
    connection_options,
    describe,
    parse_url,
    still_open,
)
from panelauth.backends.postgresql_listener import Listener
from panelauth.backends.sqlite_cache import DEFAULT_CACHE_ENTRIES, MISSING, RecordCache
from panelauth.clock import Clock
from panelauth.core.hulk import AddressStanding, HulkView
from panelauth.core.models import Account
from panelauth.core.sessions import Session
from panelauth.core.tokens import ApiToken
from panelauth.errors import AlreadyExists, NotFound, StoreUnavailable

WAIT_TIMEOUT_MS: Final = 2000  # a call's deadline (the pool, its statements), lock_timeout
POOL_SIZE: Final = 10  # connections per store at most (one is kept open), plus the listener
TRUST_SECONDS: Final = 1.0  # caches answer only while the listener's last proof is this recent
PROBE_SECONDS: Final = 1.5  # schema_version()'s deadline at most (readiness gives up at 2 s)
MIGRATE_SECONDS: Final = 600.0  # migrate()'s deadline: its scripts may rewrite whole tables

log = logging.getLogger(__name__)

Connection = AsyncConnection[TupleRow]
Row = tuple[Any, ...]
TokenKey = tuple[str, str, str]  # owner, kind, digest
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def unavailable(error: BaseException, deadline: Deadline | None = None) -> StoreUnavailable:
    """The one mapping of a driver failure: the app log gets its class and SQLSTATE, the
    client only StoreUnavailable's plain reason (FT-3, FT-4). A failure because the call's
    deadline cut its connection is told as that."""
    if deadline is not None and deadline.expired:
        cause = f"no answer within {deadline.seconds:g} s"
    else:
        cause = describe(error)
    log.warning("store unavailable: %s", cause)
    return StoreUnavailable(cause)


def nothing_cached() -> None:
    """What a write that changes no cached record evicts: nothing."""


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts, oldest first."""
    return records.numbered_scripts("postgresql_migrations")


LATEST_VERSION = migrations()[-1][0]


class PostgresqlBase:
    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        busy_timeout_ms: int | None = None,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        self._location = parse_url(url)
        self._clock = clock
        wait_ms = WAIT_TIMEOUT_MS if busy_timeout_ms is None else max(0, int(busy_timeout_ms))
        self._wait_seconds = max(wait_ms, 100) / 1000
        self._origin = secrets.token_hex(8)
        self._options = connection_options(
            self._location, origin=self._origin, lock_timeout_ms=wait_ms
        )
        self._listener_options = connection_options(
            self._location, origin=self._origin, lock_timeout_ms=wait_ms, listening=True
        )
        self._account_cache: RecordCache[str, Account | None] = RecordCache(cache_entries)
        self._token_cache: RecordCache[TokenKey, ApiToken | None] = RecordCache(cache_entries)
        self._session_cache: RecordCache[str, Session | None] = RecordCache(cache_entries)
        self._tfa_cache: RecordCache[str, bytes | None] = RecordCache(cache_entries)
        self._view_cache: RecordCache[None, HulkView] = RecordCache(1)
        self._standing_cache: RecordCache[str, AddressStanding] = RecordCache(cache_entries)
        self._lock_cache: RecordCache[str, float] = RecordCache(cache_entries)
        self._caching = cache_entries > 0
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._listener: Listener | None = None
        self._opening: asyncio.Future[None] | None = None
        self._opened = False
        self._closed = False
        # the change signal: caches answer only while the listener listens; `_notices` counts
        # other writers' notices, `_seen` is its value at the last check, `_epoch` moves at
        # every flush and own write (a read in flight across a change is not cached)
        self._listening = False
        self._proven_at = float("-inf")  # monotonic: when the listener's last proof was sent
        self._doubted = False  # the last proof is too old: the caches were dropped
        self._notices = 0
        self._seen = 0
        self._epoch = 0
        self._barriers = Barriers()
        # request boundaries (begin_request): once a caller marks them, the signal is checked
        # once per request instead of at every cached lookup
        self._per_request = False
        self._checked = False
        # transaction(): the connection every call uses while the block runs
        self._held: Connection | None = None

    # -- opening and closing ----------------------------------------------------------------

    async def _open(self) -> None:
        """At the first call: open the pool, start listening (and wait for that, briefly)."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._start())
        await asyncio.shield(self._opening)

    async def _start(self) -> None:
        self._pool = AsyncConnectionPool(
            self._location.conninfo,
            kwargs=self._options,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            timeout=self._wait_seconds,
            name=f"panelauth {self._location.schema}",
        )
        await self._pool.open(wait=False)
        if self._caching:
            self._listener = Listener(
                self._location.conninfo,
                self._listener_options,
                self._location.channel,
                on_notice=self._on_notice,
                on_listening=self._on_listening,
                on_proof=self._on_proof,
                deadline_seconds=self._wait_seconds,
            )
            self._listener.start()
            await self._listener.first_attempt(self._wait_seconds)
        self._opened = True

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._listening = False
        self._flush()
        if self._opening is not None:
            with contextlib.suppress(Exception):
                await self._opening
        if self._listener is not None:
            await self._listener.stop()
        if self._pool is not None:
            await self._pool.close()

    # -- one transaction around many calls, the store's clock ------------------------------

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[None]:
        """One transaction around every call in the block (core/stores.py TransferStore)."""
        if self._held is not None:
            raise StoreUnavailable("a transaction is already open on this store")
        mode = "REPEATABLE READ READ ONLY" if read_only else "REPEATABLE READ"
        # the block may run long: its own calls, BEGIN and COMMIT each get a deadline
        async with self._connection(bounded=False) as connection:
            try:
                with self._within(connection, self._wait_seconds):
                    await connection.execute(f"BEGIN ISOLATION LEVEL {mode}")
                self._held = connection
                try:
                    yield
                except BaseException:
                    self._held = None
                    if not connection.closed:
                        with (
                            contextlib.suppress(psycopg.Error, StoreUnavailable),
                            self._within(connection, self._wait_seconds),
                        ):
                            await connection.execute("ROLLBACK")
                    raise
                self._held = None
                with self._within(connection, self._wait_seconds):
                    await connection.execute("COMMIT")
            finally:
                self._held = None
                self._flush()  # what was cached inside may have been rolled back

    async def store_time(self) -> float | None:
        """The server's clock as the statement runs (clock_timestamp, not the transaction's
        start)."""
        rows = await self._read("SELECT extract(epoch FROM clock_timestamp())::float8")
        return float(rows[0][0])

    # -- schema -----------------------------------------------------------------------------

    async def schema_version(self) -> tuple[int, int]:
        """(the store's schema version, the version this code needs); 0 for an empty store.
        Readiness probes call it: both reads share a deadline of PROBE_SECONDS at most."""
        if not self._opened:
            await self._open()
        deadline = Deadline(min(self._wait_seconds, PROBE_SECONDS))
        exists = await self._read(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'schema_version'",
            (self._location.schema,),
            deadline=deadline,
        )
        if not exists:
            return 0, LATEST_VERSION
        rows = await self._read("SELECT max(version) FROM schema_version", deadline=deadline)
        return int(rows[0][0] or 0) if rows else 0, LATEST_VERSION

    async def migrate(self) -> tuple[int, int]:
        """Create the schema if absent and apply every migration it lacks, in one transaction:
        (before, after). The wait for a connection gets the busy timeout, the transaction
        MIGRATE_SECONDS (a script may rewrite a whole table)."""
        async with self._connection(bounded=False) as connection:
            try:
                with self._within(connection, MIGRATE_SECONDS):
                    async with connection.transaction():
                        return await self._apply_migrations(connection)
            finally:
                self._flush()

    async def _apply_migrations(self, connection: Connection) -> tuple[int, int]:
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id("migrate"),))
        await connection.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._location.schema))
        )
        before = await self._stored_version(connection)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
        )
        for version, script in migrations():
            if version > before:
                await connection.execute(script)
                await connection.execute(
                    "INSERT INTO schema_version (version) VALUES (%s)", (version,)
                )
        return before, await self._stored_version(connection)

    async def _stored_version(self, connection: Connection) -> int:
        cursor = await connection.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'schema_version'",
            (self._location.schema,),
        )
        if await cursor.fetchone() is None:
            return 0
        cursor = await connection.execute("SELECT max(version) FROM schema_version")
        row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0

    # -- the change signal ------------------------------------------------------------------

    def begin_request(self) -> None:
        """A request starts: its first cached read checks the change signal (core/stores.py)."""
        self._per_request = True
        self._checked = False

    def change_generation(self) -> int | None:
        """The change signal as a value (core/stores.py ChangeGeneration): the epoch, which
        moves at every flush and own write; None while the caches may not answer."""
        if not self._caching or not self._cache_usable():
            return None
        return self._epoch

    def _cache_usable(self) -> bool:
        """Before a cached read: whether the caches may answer at all (only while listening,
        and while the listener's last proof is at most TRUST_SECONDS old); drops every cached
        record first if another writer's notice arrived since the last check, or when the
        proofs stop."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        if not self._listening:
            return False
        if monotonic() - self._proven_at > TRUST_SECONDS:
            if not self._doubted:
                self._doubted = True
                self._flush()
                log.warning(
                    "change notices silent for over %g s; caches are not used", TRUST_SECONDS
                )
            return False
        if not self._checked:
            if self._notices != self._seen:
                self._seen = self._notices
                self._flush()
            self._checked = self._per_request
        return True

    @property
    def _mark(self) -> tuple[int, int]:
        return self._epoch, self._notices

    async def _cached(
        self, cache: RecordCache[K, V], key: K, load: Callable[[], Awaitable[V]]
    ) -> V:
        """`cache[key]`, or what `load()` reads (cached unless a change came meanwhile)."""
        if not self._cache_usable():
            return await load()
        cached = cache.get(key)
        if cached is not MISSING:
            return cached
        mark = self._mark
        found = await load()
        if self._listening and self._mark == mark:
            cache.put(key, found)
        return found

    def _on_notice(self, payload: str) -> None:
        if payload == self._origin:
            return  # this store's own write: it evicted what it changed
        if self._barriers.arrived(payload):
            return
        self._notices += 1

    def _on_proof(self, sent_at: float) -> None:
        """The listener's round trip sent at `sent_at` (monotonic) was answered: every notice
        committed before then has arrived."""
        self._proven_at = sent_at
        if self._doubted:
            self._doubted = False
            log.info("change notices heard again; caches are used")

    def _on_listening(self, listening: bool) -> None:
        """The listener started or stopped listening: the caches start empty either way (a
        notice may have been lost while it did not listen)."""
        self._listening = listening and not self._closed
        self._seen = self._notices
        self._flush()

    async def _caught_up(self, timeout: float = 5.0) -> bool:
        """Whether this store's listener got, within `timeout` seconds, every notice committed
        before the call: a barrier notice of its own comes back after them (the server
        delivers notices in commit order). For tests that must not race a notice."""

        async def send(token: str) -> None:
            await self._read("SELECT pg_notify(%s, %s)", (self._location.channel, token))

        return await self._barriers.passed(send, timeout)

    def _flush(self) -> None:
        self._epoch += 1
        self._account_cache.clear()
        self._token_cache.clear()
        self._session_cache.clear()
        self._tfa_cache.clear()
        self._view_cache.clear()
        self._standing_cache.clear()
        self._lock_cache.clear()

    def _written(self, forget: Callable[[], None] | None) -> None:
        """After an own write (committed or not): evict what it changed, or everything."""
        if forget is None:
            self._flush()
        else:
            self._epoch += 1
            forget()

    # -- plumbing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(
        self, deadline: Deadline | None = None, *, bounded: bool = True
    ) -> AsyncIterator[Connection]:
        """A pooled connection (inside transaction(): the held one) until `deadline` (by default
        the busy timeout from now), when it is cut; every failure in the block maps to the
        store's errors. `bounded=False`: the deadline bounds the wait for the connection only
        (transaction() bounds each statement itself)."""
        if not self._opened:
            await self._open()
        if self._closed or self._pool is None:
            raise StoreUnavailable("the store is closed")
        if deadline is None:
            deadline = Deadline(self._wait_seconds)
        try:
            held = self._held
            connection = held if held is not None else await self._checkout(self._pool, deadline)
            timer = deadline.arm(connection) if bounded else None
            try:
                yield connection
            finally:
                if timer is not None:
                    timer.cancel()
                if held is None:
                    await self._checkin(self._pool, connection)
        except psycopg.errors.ForeignKeyViolation:
            raise NotFound("The record it belongs to does not exist.") from None
        except psycopg.IntegrityError:
            raise AlreadyExists() from None
        except (psycopg.Error, OSError, UnicodeError) as error:
            raise unavailable(error, deadline) from error

    @staticmethod
    async def _checkout(pool: AsyncConnectionPool[Connection], deadline: Deadline) -> Connection:
        """A pooled connection, waiting until the deadline at most; one the server closed while
        it idled is closed here (the pool replaces it) and another one taken."""
        for _ in range(POOL_SIZE + 1):
            connection = await pool.getconn(timeout=deadline.remaining())
            if still_open(connection):
                return connection
            await connection.close()
            await pool.putconn(connection)
        raise StoreUnavailable("no pooled connection is open")

    @staticmethod
    async def _checkin(pool: AsyncConnectionPool[Connection], connection: Connection) -> None:
        """Back to the pool; one that was cut, or is left in a transaction, is closed first (the
        pool discards it rather than roll it back: a round trip without a deadline)."""
        if connection.pgconn.transaction_status != TransactionStatus.IDLE:
            await connection.close()
        await pool.putconn(connection)

    @staticmethod
    @contextlib.contextmanager
    def _within(connection: Connection, seconds: float) -> Iterator[None]:
        """Statements on a connection already held, within a deadline of their own."""
        deadline = Deadline(seconds)
        timer = deadline.arm(connection)
        try:
            yield
        except psycopg.Error as error:
            if deadline.expired:
                raise unavailable(error, deadline) from error
            raise
        finally:
            timer.cancel()

    @asynccontextmanager
    async def _transaction(
        self, forget: Callable[[], None] | None = None, *, deadline: Deadline | None = None
    ) -> AsyncIterator[Connection]:
        """One transaction: all or nothing (FT-2), within one deadline. Afterwards `forget()`
        evicts what it may have changed from this store's caches; without it, every cached
        record is dropped."""
        async with self._connection(deadline) as connection:
            try:
                async with connection.transaction():
                    yield connection
            finally:
                self._written(forget)

    async def _read(
        self, query: str, parameters: Params | None = None, *, deadline: Deadline | None = None
    ) -> list[Row]:
        """One statement's rows. A connection the server dropped while it idled in the pool (a
        restart) is seen before use, or fails at once: the read is tried again on another, up
        to the pool's size, within one deadline."""
        if not self._opened:
            await self._open()
        if deadline is None:
            deadline = Deadline(self._wait_seconds)
        for attempt in range(POOL_SIZE + 1):
            async with self._connection(deadline) as connection:
                try:
                    cursor = await connection.execute(query, parameters)
                    return await cursor.fetchall()
                except psycopg.OperationalError:
                    if (
                        deadline.expired
                        or not connection.broken
                        or attempt == POOL_SIZE
                        or self._held is not None
                    ):
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _change(
        self,
        query: str,
        parameters: Params,
        *,
        forget: Callable[[], None] | None = None,
    ) -> int:
        """One statement, its own transaction: the number of rows it changed (see
        `_transaction` for `forget`)."""
        async with self._connection() as connection:
            try:
                if self._held is None:
                    cursor = await connection.execute(query, parameters)
                else:  # a savepoint: a failure undoes this statement, not the whole block
                    async with connection.transaction():
                        cursor = await connection.execute(query, parameters)
            finally:
                self._written(forget)
            return cursor.rowcount

    def _lock_id(self, *names: str) -> int:
        """A 64-bit advisory lock key for `names` within this store's schema."""
        text = "\0".join(("panelauth", self._location.schema, *names)).encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)
