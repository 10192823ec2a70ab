"""SQLite plumbing: the connection, migrations, the record cache and transactions.

Why inline: a PK lookup costs ~5 µs here, a thread hop 60 µs and aiosqlite 160 µs
(docs/benchmarks.md). One connection per worker process, opened after fork. Writes run in
`BEGIN IMMEDIATE` transactions with a bounded busy timeout; a lock or I/O failure becomes
StoreUnavailable (503, FT-4), never a 500 and never access.

Opening never creates or migrates: `migrate()` applies the numbered scripts of
sqlite_migrations/ (`panelauth migrate`, also run by `init` and `serve`).

The change signal (core/stores.py): accounts, tokens (by digest), sessions, two-factor
secrets and brute-force standing are served from a bounded per-worker cache (sqlite_cache.py).
Before a cached read, the header of SQLite's WAL index tells whether any connection committed
since the last look (`PRAGMA data_version` where the index cannot be mapped); if so, every
cached record is dropped. The server marks each request with `begin_request()`, so the check
runs once per request; a store nobody marks (the CLI, tests) checks before every cached lookup.
This connection's own writes go through `_write()`, which drops every cached record unless the
method says `flush=False` after evicting exactly what it changes.

`transaction()` (export and import) opens one transaction on the connection; every write inside
it is a savepoint of that transaction (`_write()`), so a primitive keeps its all-or-nothing
meaning and the whole block commits or rolls back as one. The store's clock is this machine's:
`store_time()` is None.
"""

from __future__ import annotations

import logging
import mmap
import sqlite3
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from panelauth.backends import records
from panelauth.backends.sqlite_cache import DEFAULT_CACHE_ENTRIES, RecordCache
from panelauth.clock import Clock
from panelauth.core.hulk import AddressStanding, HulkView
from panelauth.core.models import Account
from panelauth.core.sessions import Session
from panelauth.core.tokens import ApiToken
from panelauth.errors import AlreadyExists, NotFound, StoreUnavailable

BUSY_TIMEOUT_MS = 2000
# the WAL index header (SQLite's "WAL-mode File Format", wal-index header): 48 bytes that every
# commit rewrites, opening with the index format version 3007000 in native byte order
WAL_INDEX_HEADER_BYTES = 48
WAL_INDEX_VERSION = struct.pack("=I", 3007000)
MEMORY = ":memory:"

log = logging.getLogger(__name__)

TokenKey = tuple[str, str, str]  # owner, kind, digest


def unavailable(error: sqlite3.Error) -> StoreUnavailable:
    """The one mapping of a SQLite failure: the cause goes to the app log (SQLite's text names
    no values), the client gets only StoreUnavailable's plain reason (FT-3, FT-4)."""
    log.warning("store unavailable: %s", error)
    return StoreUnavailable(str(error))


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts, oldest first."""
    return records.numbered_scripts("sqlite_migrations")


LATEST_VERSION = migrations()[-1][0]


def _connect(location: Path | str, *, create: bool, timeout_ms: int) -> sqlite3.Connection:
    """Open without creating the file unless `create` (only the migrate step creates)."""
    if location == MEMORY:
        return sqlite3.connect(MEMORY, timeout=timeout_ms / 1000, isolation_level=None)
    mode = "rwc" if create else "rw"
    uri = f"file:{quote(str(location))}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=timeout_ms / 1000, isolation_level=None)


class SqliteBase:
    def __init__(
        self,
        location: Path | str,
        *,
        clock: Clock,
        busy_timeout_ms: int | None = None,
        create: bool = False,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        self._clock = clock
        self._account_cache: RecordCache[str, Account | None] = RecordCache(cache_entries)
        self._token_cache: RecordCache[TokenKey, ApiToken | None] = RecordCache(cache_entries)
        self._session_cache: RecordCache[str, Session | None] = RecordCache(cache_entries)
        # sealed two-factor secrets by user: asked on every Basic request (is the user enrolled?)
        self._tfa_cache: RecordCache[str, bytes | None] = RecordCache(cache_entries)
        # brute-force protection, asked on every request: the configuration and lists as one
        # object, what is recorded against each address, and account locks
        self._hulk_view: HulkView | None = None
        self._standing_cache: RecordCache[str, AddressStanding] = RecordCache(cache_entries)
        self._lock_cache: RecordCache[str, float] = RecordCache(cache_entries)
        self._caching = cache_entries > 0
        self._data_version = -1
        # the change signal as a value (change_generation): moves at every flush and own write
        self._generation = 0
        # request boundaries (begin_request): once a caller marks them, the change signal is
        # read once per request instead of once per lookup
        self._per_request = False
        self._checked = False
        # transaction(): None outside one, else whether it is read-only
        self._outer: bool | None = None
        # the WAL index's header, mapped read-only: None until mapped, False if it cannot be
        self._wal_index: mmap.mmap | Literal[False] | None = None
        self._wal_header = b""
        self._wal_index_path = None if location == MEMORY else f"{location}-shm"
        timeout_ms = BUSY_TIMEOUT_MS if busy_timeout_ms is None else max(0, int(busy_timeout_ms))
        try:
            self._db = _connect(location, create=create, timeout_ms=timeout_ms)
            self._db.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            self._db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: 32 µs per commit instead of 143 µs; a power cut may lose the last
            # commits but never corrupts (docs/benchmarks.md)
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA cache_size = -65536")
        except sqlite3.Error as error:
            if hasattr(self, "_db"):
                self._db.close()
            raise StoreUnavailable(f"cannot open the store: {error}") from error

    async def aclose(self) -> None:
        self._flush()
        if self._wal_index:
            self._wal_index.close()
        self._wal_index = False  # a closed store answers StoreUnavailable, through the PRAGMA
        self._db.close()

    # -- one transaction around many calls, the store's clock ------------------------------

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[None]:
        """One transaction around every call in the block (core/stores.py TransferStore)."""
        if self._outer is not None:
            raise StoreUnavailable("a transaction is already open on this store")
        self._flush()
        try:
            # a read transaction sees one snapshot (WAL); IMMEDIATE takes the write lock now
            self._db.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise unavailable(error) from error
        self._outer = read_only
        try:
            yield
        except BaseException:
            self._outer = None
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._flush()
            raise
        self._outer = None
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise unavailable(error) from error
        finally:
            self._flush()  # what was cached inside may have been rolled back

    async def store_time(self) -> float | None:
        """None: SQLite has no server, its clock is this machine's."""
        return None

    # -- schema -----------------------------------------------------------------------------

    async def schema_version(self) -> tuple[int, int]:
        """(the store's schema version, the version this code needs); 0 for an empty store."""
        return self._stored_version(), LATEST_VERSION

    async def migrate(self) -> tuple[int, int]:
        """Apply every migration the store lacks, in one transaction: (before, after)."""
        with self._write() as db:
            before = self._stored_version()
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            for version, script in migrations():
                if version > before:
                    for statement in script.split(";\n"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        return before, self._stored_version()

    def _stored_version(self) -> int:
        exists = self._read("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'")
        if not exists:
            return 0
        return int(self._read("SELECT max(version) FROM schema_version")[0][0] or 0)

    # -- the change signal ------------------------------------------------------------------

    def begin_request(self) -> None:
        """A request starts: its first cached read checks the change signal (core/stores.py)."""
        self._per_request = True
        self._checked = False

    def change_generation(self) -> int | None:
        """The change signal as a value (core/stores.py ChangeGeneration); None: not caching."""
        if not self._caching:
            return None
        self._fresh()
        return self._generation

    def _fresh(self) -> None:
        """Before a cached read: drop every cached record if another connection committed."""
        if not self._caching or self._checked:
            return  # nothing cached, or already checked since this request began
        if self._committed_since_last_look():
            self._flush()
        self._checked = self._per_request

    def _committed_since_last_look(self) -> bool:
        """Whether any connection committed since the last call (our own commits included).

        The cheap way reads the header of SQLite's WAL index (the `-shm` file, mapped
        read-only; its layout is in SQLite's "WAL-mode File Format" page): every commit rewrites
        it, and SQLite writes this copy last, so a commit made before this read is seen, and a
        read torn by a commit in progress only looks like a change. It costs a memory compare
        where `PRAGMA data_version` opens a read transaction (fcntl locks on the same file:
        ≈ 10% of a token request under load, docs/benchmarks.md). Without a mappable index of
        the known version, `PRAGMA data_version` decides, as it always may.
        """
        index = self._wal_index if self._wal_index is not None else self._map_wal_index()
        if index:
            header = index[:WAL_INDEX_HEADER_BYTES]
            if header[:4] == WAL_INDEX_VERSION:
                changed = header != self._wal_header
                self._wal_header = header
                return changed
        try:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as error:
            raise unavailable(error) from error
        changed = bool(version != self._data_version)
        self._data_version = version
        return changed

    def _map_wal_index(self) -> mmap.mmap | Literal[False]:
        self._wal_index = False
        if self._wal_index_path is None:
            return False
        try:
            with open(self._wal_index_path, "rb") as file:
                self._wal_index = mmap.mmap(
                    file.fileno(), WAL_INDEX_HEADER_BYTES, access=mmap.ACCESS_READ
                )
        except (OSError, ValueError):
            log.info("the WAL index cannot be mapped; PRAGMA data_version decides")
        return self._wal_index

    def _flush(self) -> None:
        self._generation += 1
        self._account_cache.clear()
        self._token_cache.clear()
        self._session_cache.clear()
        self._tfa_cache.clear()
        self._hulk_view = None
        self._standing_cache.clear()
        self._lock_cache.clear()

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _write(self, *, flush: bool = True) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: all or nothing (FT-2); lock timeouts become 503.

        Drops every cached record first unless `flush=False`, which a method may pass only
        after evicting every cached record it changes.
        """
        if flush:
            self._flush()
        else:  # the evictions are the method's; the change is still a change
            self._generation += 1
        if self._outer is not None:
            with self._savepoint() as db:
                yield db
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise unavailable(error) from error
        try:
            yield self._db
        except sqlite3.IntegrityError as error:
            self._db.execute("ROLLBACK")
            if "FOREIGN KEY" in str(error):
                raise NotFound("The record it belongs to does not exist.") from None
            raise AlreadyExists() from None
        except sqlite3.Error as error:  # locked, full, I/O: the same 503 as BEGIN's (FT-4, FT-5)
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise unavailable(error) from error
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise unavailable(error) from error

    @contextmanager
    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        """A write inside transaction(): a savepoint, released or rolled back alone."""
        if self._outer:
            raise StoreUnavailable("a write inside a read-only transaction")
        try:
            self._db.execute("SAVEPOINT panelauth_write")
        except sqlite3.Error as error:
            raise unavailable(error) from error
        try:
            yield self._db
        except BaseException as raised:
            self._db.execute("ROLLBACK TO panelauth_write")
            self._db.execute("RELEASE panelauth_write")
            if isinstance(raised, sqlite3.IntegrityError):
                if "FOREIGN KEY" in str(raised):
                    raise NotFound("The record it belongs to does not exist.") from None
                raise AlreadyExists() from None
            if isinstance(raised, sqlite3.Error):
                raise unavailable(raised) from raised
            raise
        try:
            self._db.execute("RELEASE panelauth_write")
        except sqlite3.Error as error:
            raise unavailable(error) from error

    def _read(self, sql: str, parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise unavailable(error) from error

    def _change(self, sql: str, parameters: tuple[object, ...], *, flush: bool = True) -> bool:
        try:
            with self._write(flush=flush) as db:
                return db.execute(sql, parameters).rowcount > 0
        except sqlite3.Error as error:
            raise unavailable(error) from error
