"""Implementations of core's store contracts; `open_store(url)` is the only door."""

from __future__ import annotations

from pathlib import Path

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import Clock, SystemClock
from panelauth.core.stores import Store


def open_store(
    url: str, *, clock: Clock | None = None, busy_timeout_ms: int | None = None
) -> Store:
    """Open a store by URL: `sqlite:///path/to/db` or `sqlite://:memory:`.

    `busy_timeout_ms` bounds how long a write waits for a lock before it fails with 503 (FT-4).
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a store URL: {url!r}")
    if scheme == "sqlite":
        location = rest if rest == ":memory:" else Path(rest)
        return SqliteStore(location, clock=clock or SystemClock(), busy_timeout_ms=busy_timeout_ms)
    raise ValueError(f"unsupported store: {scheme}")
