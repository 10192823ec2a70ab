"""SQLite plumbing: the connection, migrations and transactions every table module uses.

Why inline: a PK lookup costs ~5 µs here, a thread hop 60 µs and aiosqlite 160 µs
(docs/benchmarks.md). One connection per worker process, opened after fork. Writes run in
`BEGIN IMMEDIATE` transactions with a bounded busy timeout; a lock or I/O failure becomes
StoreUnavailable (503, FT-4), never a 500 and never access.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from panelauth.clock import Clock
from panelauth.errors import AlreadyExists, NotFound, StoreUnavailable

BUSY_TIMEOUT_MS = 2000

log = logging.getLogger(__name__)


def unavailable(error: sqlite3.Error) -> StoreUnavailable:
    """The one mapping of a SQLite failure: the cause goes to the app log (SQLite's text names
    no values), the client gets only StoreUnavailable's plain reason (FT-3, FT-4)."""
    log.warning("store unavailable: %s", error)
    return StoreUnavailable(str(error))


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("panelauth.backends").joinpath("sqlite_migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class SqliteBase:
    def __init__(
        self, location: Path | str, *, clock: Clock, busy_timeout_ms: int | None = None
    ) -> None:
        self._clock = clock
        timeout_ms = BUSY_TIMEOUT_MS if busy_timeout_ms is None else max(0, int(busy_timeout_ms))
        try:
            self._db = sqlite3.connect(
                str(location), timeout=timeout_ms / 1000, isolation_level=None
            )
            self._db.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            self._db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: 32 µs per commit instead of 143 µs; a power cut may lose the last
            # commits but never corrupts (docs/benchmarks.md)
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA cache_size = -65536")
            self._migrate()
        except (sqlite3.Error, StoreUnavailable) as error:
            if hasattr(self, "_db"):
                self._db.close()
            raise StoreUnavailable(f"cannot open the store: {error}") from error

    def close(self) -> None:
        self._db.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for version, script in _migrations():
                if version > current:
                    for statement in script.split(";\n"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: all or nothing (FT-2); lock timeouts become 503."""
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

    def _read(self, sql: str, parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise unavailable(error) from error

    def _change(self, sql: str, parameters: tuple[object, ...]) -> bool:
        try:
            with self._write() as db:
                return db.execute(sql, parameters).rowcount > 0
        except sqlite3.Error as error:
            raise unavailable(error) from error
