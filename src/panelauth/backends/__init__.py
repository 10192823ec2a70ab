"""Implementations of core's store contracts; `open_store(url)` is the only door."""

from __future__ import annotations

from pathlib import Path

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import Clock, SystemClock
from panelauth.core.stores import Store


def open_store(url: str, *, clock: Clock | None = None) -> Store:
    """Open a store by URL: `sqlite:///path/to/db` or `sqlite://:memory:`."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"not a store URL: {url!r}")
    if scheme == "sqlite":
        location = rest if rest == ":memory:" else Path(rest)
        return SqliteStore(location, clock=clock or SystemClock())
    raise ValueError(f"unsupported store: {scheme}")
