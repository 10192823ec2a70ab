"""A bounded per-worker cache of records, for the SQLite store's hot-path lookups.

The store owns invalidation (core/stores.py, "The change signal"): before serving from the
cache it reads `PRAGMA data_version`, which changes whenever another connection (another
worker, the CLI) commits, and drops everything when it did; its own writes evict what they
change. An absent record is cached too (as None) and invalidated the same way.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

DEFAULT_CACHE_ENTRIES: Final = 10_000  # per kind of record (accounts, tokens, sessions)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing(enum.Enum):
    """Not in the cache (unlike a cached None, which says the record does not exist)."""

    MISSING = enum.auto()


MISSING: Final = Missing.MISSING


class RecordCache(Generic[K, V]):
    """Least recently used entries are dropped first once `max_entries` are held."""

    __slots__ = ("_entries", "_max_entries")

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._max_entries = max(0, max_entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | Missing:
        value = self._entries.get(key, MISSING)
        if value is not MISSING:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self._max_entries == 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def evict(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
