"""Implementations of core's store contracts; `open_store(url)` is the only door."""

from __future__ import annotations

from pathlib import Path

from panelauth.backends.sqlite import SqliteStore
from panelauth.backends.sqlite_cache import DEFAULT_CACHE_ENTRIES
from panelauth.clock import Clock, SystemClock
from panelauth.core.stores import Store
from panelauth.errors import SchemaOutdated

POSTGRESQL_SCHEMES = ("postgresql", "postgres")
SESSION_STORE_SCHEMES = ("redis", "rediss", "unix")


def _scheme(url: str) -> str:
    scheme, separator, _ = url.partition("://")
    return scheme if separator else ""


def check_session_store(url: str, session_url: str | None) -> None:
    """ValueError (one line for the user) unless `session_url` may go beside the store `url`:
    a session store (Redis) needs a PostgreSQL store."""
    if session_url is None:
        return
    scheme = _scheme(session_url)
    if scheme not in SESSION_STORE_SCHEMES:
        raise ValueError(
            f"unsupported session store: {scheme or session_url!r} (a redis:// URL is expected)"
        )
    if _scheme(url) not in POSTGRESQL_SCHEMES:
        raise ValueError(
            "a session store needs a PostgreSQL store: the store is "
            f"{_scheme(url) or 'not a URL'}, not postgresql"
        )


def _backend(
    url: str,
    session_url: str | None,
    clock: Clock | None,
    busy_timeout_ms: int | None,
    *,
    create: bool,
    cache_entries: int,
) -> Store:
    check_session_store(url, session_url)
    # a PostgreSQL store opens nothing before its first call: if the session store's URL is
    # refused below, there is nothing to close
    durable = _durable(url, clock, busy_timeout_ms, create=create, cache_entries=cache_entries)
    if session_url is None:
        return durable
    return with_session_store(
        durable,
        session_url,
        clock=clock,
        busy_timeout_ms=busy_timeout_ms,
        cache_entries=cache_entries,
    )


def with_session_store(
    durable: Store,
    session_url: str,
    *,
    clock: Clock | None,
    busy_timeout_ms: int | None,
    cache_entries: int = DEFAULT_CACHE_ENTRIES,
) -> Store:
    """`durable` with its sessions and failure counts on the Redis of `session_url` (the tests
    also put a SQLite store there; open_store refuses anything but PostgreSQL)."""
    # imported here: only the installations with a session store need redis-py
    from panelauth.backends.redis_failures import RedisFailureCounters  # noqa: PLC0415
    from panelauth.backends.redis_sessions import RedisSessionStore  # noqa: PLC0415
    from panelauth.backends.split_store import SplitStore  # noqa: PLC0415

    sessions = RedisSessionStore(
        session_url,
        clock=clock or SystemClock(),
        generations=durable,
        busy_timeout_ms=busy_timeout_ms,
    )
    counters = RedisFailureCounters(sessions.link, cache_entries=cache_entries)
    return SplitStore(durable, sessions, counters)


def _durable(
    url: str, clock: Clock | None, busy_timeout_ms: int | None, *, create: bool, cache_entries: int
) -> Store:
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a store URL: {url!r}")
    if scheme in POSTGRESQL_SCHEMES:
        # imported here: psycopg costs every command ~0.15 s to import, SQLite's included
        from panelauth.backends.postgresql import PostgresqlStore  # noqa: PLC0415

        return PostgresqlStore(
            url,
            clock=clock or SystemClock(),
            busy_timeout_ms=busy_timeout_ms,
            cache_entries=cache_entries,
        )
    if scheme != "sqlite":
        raise ValueError(f"unsupported store: {scheme}")
    location = rest if rest == ":memory:" else Path(rest)
    return SqliteStore(
        location,
        clock=clock or SystemClock(),
        busy_timeout_ms=busy_timeout_ms,
        create=create,
        cache_entries=cache_entries,
    )


async def open_store(
    url: str,
    session_url: str | None = None,
    *,
    clock: Clock | None = None,
    busy_timeout_ms: int | None = None,
    migrate: bool = False,
    cache_entries: int = DEFAULT_CACHE_ENTRIES,
) -> Store:
    """Open a store by URL: `sqlite:///path/to/db`, `sqlite://:memory:`, or
    `postgresql://user@host:port/dbname?schema=NAME` (also `postgres://`; the schema defaults
    to `public`; other parameters are libpq's).

    Opening never migrates (nor creates a database or a schema): a store whose schema is not
    the one this code needs raises SchemaOutdated ("run `panelauth migrate`"). `migrate=True`
    is for the migrate step only (`init`, and in-memory stores): it creates the database (or
    the PostgreSQL schema) and applies the missing migrations first. `busy_timeout_ms` bounds
    how long a write waits for a lock (PostgreSQL: also for a pooled connection) before it
    fails with 503 (FT-4); `cache_entries` bounds each per-worker record cache (0: none, and a
    PostgreSQL store then keeps no listening connection either).

    `session_url` (`redis://host:port/db?prefix=NAME`, split_store.py) puts the sessions on
    Redis and keeps the rest in the PostgreSQL store `url`; with any other store it is a
    ValueError. Redis must answer at opening too.
    """
    store = _backend(
        url, session_url, clock, busy_timeout_ms, create=migrate, cache_entries=cache_entries
    )
    try:
        if migrate:
            await store.migrate()
        current, needed = await store.schema_version()
        if current != needed:
            raise SchemaOutdated(current, needed)
    except BaseException:
        await store.aclose()
        raise
    return store


async def migrate_store(
    url: str,
    session_url: str | None = None,
    *,
    clock: Clock | None = None,
    busy_timeout_ms: int | None = None,
) -> tuple[int, int]:
    """The migrate step (`panelauth migrate`): create the store if needed, apply the missing
    migrations, close; (schema version before, after). SchemaOutdated if the store is newer.
    With `session_url`, Redis (which has no schema) must answer too."""
    store = _backend(url, session_url, clock, busy_timeout_ms, create=True, cache_entries=0)
    try:
        before, after = await store.migrate()
        _, needed = await store.schema_version()
        if after != needed:
            raise SchemaOutdated(after, needed)
        return before, after
    finally:
        await store.aclose()
