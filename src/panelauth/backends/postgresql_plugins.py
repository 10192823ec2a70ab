"""PostgreSQL tables of plugins' own records and schema versions (core/stores.py
PluginRecordStore; the SQLite twin: sqlite_plugins.py).

Nothing here is cached, so a write evicts nothing (`nothing_cached`); the tables' triggers
still send the change signal, as every table's does. The version's compare-and-set is one
statement: a conditional UPDATE, or for a namespace with no version yet an INSERT whose
conflict updates only a row still at 0; a concurrent writer waits for the row and then finds
it changed (REPEATABLE READ, inside transaction(): a serialization failure, StoreUnavailable).
"""

from __future__ import annotations

from panelauth.backends.postgresql_base import PostgresqlBase, nothing_cached
from panelauth.core.stores import (
    PLUGIN_NAME_CHARS,
    PLUGIN_PAGE_RECORDS,
    PluginRecord,
    check_plugin_address,
    check_plugin_page,
    check_plugin_text,
    check_plugin_value,
    check_plugin_version,
    plugin_prefix_end,
)


class PluginTables(PostgresqlBase):
    async def get_plugin_record(self, namespace: str, collection: str, key: str) -> str | None:
        check_plugin_address(namespace, collection, key)
        rows = await self._read(
            "SELECT value FROM plugin_records "
            "WHERE namespace = %s AND collection = %s AND key = %s",
            (namespace, collection, key),
        )
        return str(rows[0][0]) if rows else None

    async def put_plugin_record(
        self, namespace: str, collection: str, key: str, value: str
    ) -> None:
        check_plugin_address(namespace, collection, key)
        check_plugin_value(value)
        await self._change(
            "INSERT INTO plugin_records (namespace, collection, key, value) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (namespace, collection, key) "
            "DO UPDATE SET value = excluded.value",
            (namespace, collection, key, value),
            forget=nothing_cached,
        )

    async def delete_plugin_record(self, namespace: str, collection: str, key: str) -> bool:
        check_plugin_address(namespace, collection, key)
        deleted = await self._change(
            "DELETE FROM plugin_records WHERE namespace = %s AND collection = %s AND key = %s",
            (namespace, collection, key),
            forget=nothing_cached,
        )
        return deleted > 0

    async def list_plugin_records(
        self,
        namespace: str,
        collection: str,
        *,
        prefix: str = "",
        after: str = "",
        limit: int = PLUGIN_PAGE_RECORDS,
    ) -> list[tuple[str, str]]:
        check_plugin_address(namespace, collection)
        check_plugin_page(prefix, after, limit)
        # a range of the primary key (COLLATE "C": code point order, as SQLite's)
        rows = await self._read(
            "SELECT key, value FROM plugin_records "
            "WHERE namespace = %(namespace)s AND collection = %(collection)s "
            "AND key >= %(prefix)s AND key > %(after)s "
            "AND (%(end)s::text IS NULL OR key < %(end)s) ORDER BY key LIMIT %(limit)s",
            {
                "namespace": namespace,
                "collection": collection,
                "prefix": prefix,
                "after": after,
                "end": plugin_prefix_end(prefix),
                "limit": limit,
            },
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def list_all_plugin_records(self) -> list[PluginRecord]:
        rows = await self._read(
            "SELECT namespace, collection, key, value FROM plugin_records "
            "ORDER BY namespace, collection, key"
        )
        return [PluginRecord(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def list_plugin_versions(self) -> dict[str, int]:
        rows = await self._read("SELECT namespace, version FROM plugin_versions ORDER BY namespace")
        return {str(row[0]): int(row[1]) for row in rows}

    async def get_plugin_version(self, namespace: str) -> int:
        check_plugin_text("namespace", namespace, PLUGIN_NAME_CHARS)
        rows = await self._read(
            "SELECT version FROM plugin_versions WHERE namespace = %s", (namespace,)
        )
        return int(rows[0][0]) if rows else 0

    async def set_plugin_version(self, namespace: str, expected: int, new: int) -> bool:
        check_plugin_text("namespace", namespace, PLUGIN_NAME_CHARS)
        check_plugin_version(expected)
        check_plugin_version(new)
        if expected == 0:  # no row yet, or a row still at 0
            changed = await self._change(
                "INSERT INTO plugin_versions (namespace, version) VALUES (%s, %s) "
                "ON CONFLICT (namespace) DO UPDATE SET version = excluded.version "
                "WHERE plugin_versions.version = 0",
                (namespace, new),
                forget=nothing_cached,
            )
        else:
            changed = await self._change(
                "UPDATE plugin_versions SET version = %s WHERE namespace = %s AND version = %s",
                (new, namespace, expected),
                forget=nothing_cached,
            )
        return changed > 0
