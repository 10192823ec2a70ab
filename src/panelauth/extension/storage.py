"""A plugin's storage: a key-value space and tables of dicts in its own namespace of the
configured store (core/stores.py PluginRecordStore: SQLite, PostgreSQL, or a split store's
PostgreSQL), and the plugin's migrations.

Values are anything JSON carries (stored as compact JSON text, at most 1 MiB each); a value
JSON cannot carry, a bad key or table name, or an oversized value is InvalidArgument, nothing
stored. The key-value space is the collection `kv`, a table `name` the collection
`table:name`, so the two never meet.

Migrations (`migrate`): each step above the namespace's stored version runs inside one store
transaction that first moves the version with the store's compare-and-set, so the step's writes
and the new version commit together or not at all. A second node migrating at the same time
waits on that version (or fails its claim and tries again) and then finds the step done: a step
never runs twice, and one that raises leaves the version, and the records, as they were. Run
them before serving (`serve` and `panelauth migrate` do): while a transaction is open, every
other call on the same store object joins it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from time import monotonic
from typing import Any, Final, Protocol

from panelauth.core.stores import (
    PLUGIN_KEY_CHARS,
    PLUGIN_NAME_CHARS,
    PLUGIN_PAGE_RECORDS,
    PluginRecordStore,
    check_plugin_text,
)
from panelauth.errors import InvalidArgument, StoreUnavailable

KEY_VALUE_COLLECTION: Final = "kv"
TABLE_PREFIX: Final = "table:"
TABLE_NAME_CHARS: Final = PLUGIN_NAME_CHARS - len(TABLE_PREFIX)  # "table:name" is a collection
CLAIM_WAIT_SECONDS: Final = 60.0  # how long a migrator waits for another node's step
CLAIM_RETRY_SECONDS: Final = 0.2


class PluginStore(PluginRecordStore, Protocol):
    """What a plugin's storage needs of the store: its records, and one transaction around a
    migration step (core/stores.py TransferStore.transaction)."""

    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[None]: ...


MigrationStep = Callable[["PluginStorage"], Awaitable[None]]


class PluginStorage:
    """The plugin `namespace`'s records on `store`."""

    def __init__(self, store: PluginStore, namespace: str) -> None:
        check_plugin_text("namespace", namespace, PLUGIN_NAME_CHARS)
        self.store = store
        self.namespace = namespace

    async def get(self, key: str) -> Any | None:
        """The value stored under `key`, or None."""
        return await _get(self, KEY_VALUE_COLLECTION, key)

    async def put(self, key: str, value: Any) -> None:
        """Create or replace."""
        await _put(self, KEY_VALUE_COLLECTION, key, value)

    async def delete(self, key: str) -> bool:
        """Remove; False if there was nothing."""
        return await self.store.delete_plugin_record(self.namespace, KEY_VALUE_COLLECTION, key)

    async def keys(self, prefix: str = "") -> list[str]:
        """Every key starting with `prefix`, in code point order."""
        return [key async for key, _ in _records(self, KEY_VALUE_COLLECTION, prefix)]

    def table(self, name: str) -> PluginTable:
        """The table `name`: dicts by primary key."""
        return PluginTable(self, name)

    async def version(self) -> int:
        """The namespace's schema version: the last migration step run (0: none)."""
        return await self.store.get_plugin_version(self.namespace)


class PluginTable:
    """Records (dicts of JSON-able values) by primary key, in one collection of a plugin's
    storage; `find` reads the whole table (tables are small: a plugin's own data)."""

    def __init__(self, storage: PluginStorage, name: str) -> None:
        check_plugin_text("table name", name, TABLE_NAME_CHARS)
        self.storage = storage
        self.name = name
        self._collection = f"{TABLE_PREFIX}{name}"

    async def get(self, key: str) -> dict[str, Any] | None:
        found = await _get(self.storage, self._collection, key)
        return None if found is None else dict(found)

    async def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Create or replace the record of primary key `key`."""
        if not isinstance(record, Mapping):
            raise InvalidArgument(f"A record of the table “{self.name}” must be a mapping.")
        await _put(self.storage, self._collection, key, dict(record))

    async def delete(self, key: str) -> bool:
        return await self.storage.store.delete_plugin_record(
            self.storage.namespace, self._collection, key
        )

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every record by primary key, in key order."""
        return {
            key: dict(json.loads(value))
            async for key, value in _records(self.storage, self._collection, "")
        }

    async def find(self, **equals: Any) -> dict[str, dict[str, Any]]:
        """The records whose fields equal every one given, by primary key, in key order."""
        return {
            key: record
            for key, record in (await self.all()).items()
            if all(name in record and record[name] == value for name, value in equals.items())
        }


async def migrate(storage: PluginStorage, migrations: Sequence[tuple[int, MigrationStep]]) -> int:
    """Run, in order, every step of `migrations` (version, step) above the stored version, each
    in one transaction with its version's compare-and-set (the module's doc); the version
    reached (another node's newer code may have gone further). InvalidArgument for versions
    that are not unique integers from 1; a step's exception propagates, the version before it
    kept."""
    versions = [version for version, _ in migrations]
    if len(set(versions)) != len(versions) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in versions
    ):
        raise InvalidArgument("Migration versions must be unique integers from 1.")
    reached = await storage.version()
    for version, step in sorted(migrations, key=lambda migration: migration[0]):
        waiting_since = monotonic()
        while reached < version:
            await _run_step(storage, reached, version, step, waiting_since)
            reached = await storage.version()
    return reached


async def _run_step(
    storage: PluginStorage, reached: int, version: int, step: MigrationStep, waiting_since: float
) -> None:
    """`step`, and the version moved from `reached` to `version`, in one transaction; nothing
    if the version is no longer `reached` (another node moved it). The claim may fail while
    another node's transaction holds the version (SQLite's write lock, PostgreSQL's row lock
    or a serialization failure: StoreUnavailable): then it waits a moment, until
    CLAIM_WAIT_SECONDS have passed. Once claimed, a failure propagates."""
    store = storage.store
    claimed = False
    try:
        async with store.transaction():
            # first: from here the version's row is this transaction's until it ends
            claimed = await store.set_plugin_version(storage.namespace, reached, version)
            if claimed:
                await step(storage)
    except StoreUnavailable:
        if claimed or monotonic() - waiting_since > CLAIM_WAIT_SECONDS:
            raise
        await asyncio.sleep(CLAIM_RETRY_SECONDS)


# -- JSON in and out ---------------------------------------------------------------------------


def _encode(key: str, value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"The value of “{key}” cannot be stored as JSON: {error}") from None


async def _get(storage: PluginStorage, collection: str, key: str) -> Any | None:
    found = await storage.store.get_plugin_record(storage.namespace, collection, key)
    return None if found is None else json.loads(found)


async def _put(storage: PluginStorage, collection: str, key: str, value: Any) -> None:
    check_plugin_text("key", key, PLUGIN_KEY_CHARS)  # before the value is encoded
    await storage.store.put_plugin_record(storage.namespace, collection, key, _encode(key, value))


async def _records(
    storage: PluginStorage, collection: str, prefix: str
) -> AsyncIterator[tuple[str, str]]:
    """Every (key, value) of `collection` starting with `prefix`, a page at a time."""
    after = ""
    while True:
        page = await storage.store.list_plugin_records(
            storage.namespace, collection, prefix=prefix, after=after, limit=PLUGIN_PAGE_RECORDS
        )
        for record in page:
            yield record
        if len(page) < PLUGIN_PAGE_RECORDS:
            return
        after = page[-1][0]
