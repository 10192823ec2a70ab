"""SQLite tables of plugins' own records and schema versions (core/stores.py PluginRecordStore).

Nothing here is cached, so a write evicts nothing (`flush=False`). The version's
compare-and-set reads and writes under the write lock of one immediate transaction: one step
for every connection.
"""

from __future__ import annotations

import sqlite3

from panelauth.backends.sqlite_base import SqliteBase
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
from panelauth.errors import StoreUnavailable


class PluginTables(SqliteBase):
    async def get_plugin_record(self, namespace: str, collection: str, key: str) -> str | None:
        check_plugin_address(namespace, collection, key)
        rows = self._read(
            "SELECT value FROM plugin_records WHERE namespace = ? AND collection = ? AND key = ?",
            (namespace, collection, key),
        )
        return str(rows[0][0]) if rows else None

    async def put_plugin_record(
        self, namespace: str, collection: str, key: str, value: str
    ) -> None:
        check_plugin_address(namespace, collection, key)
        check_plugin_value(value)
        self._change(
            "INSERT INTO plugin_records (namespace, collection, key, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (namespace, collection, key) DO UPDATE SET value = excluded.value",
            (namespace, collection, key, value),
            flush=False,
        )

    async def delete_plugin_record(self, namespace: str, collection: str, key: str) -> bool:
        check_plugin_address(namespace, collection, key)
        return self._change(
            "DELETE FROM plugin_records WHERE namespace = ? AND collection = ? AND key = ?",
            (namespace, collection, key),
            flush=False,
        )

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
        end = plugin_prefix_end(prefix)
        # a range of the primary key: BINARY compares UTF-8 bytes, which sort as code points
        rows = self._read(
            "SELECT key, value FROM plugin_records WHERE namespace = ? AND collection = ? "
            "AND key >= ? AND key > ? AND (? IS NULL OR key < ?) ORDER BY key LIMIT ?",
            (namespace, collection, prefix, after, end, end, limit),
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def list_all_plugin_records(self) -> list[PluginRecord]:
        rows = self._read(
            "SELECT namespace, collection, key, value FROM plugin_records "
            "ORDER BY namespace, collection, key"
        )
        return [PluginRecord(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def list_plugin_versions(self) -> dict[str, int]:
        rows = self._read("SELECT namespace, version FROM plugin_versions ORDER BY namespace")
        return {str(row[0]): int(row[1]) for row in rows}

    async def get_plugin_version(self, namespace: str) -> int:
        check_plugin_text("namespace", namespace, PLUGIN_NAME_CHARS)
        rows = self._read("SELECT version FROM plugin_versions WHERE namespace = ?", (namespace,))
        return int(rows[0][0]) if rows else 0

    async def set_plugin_version(self, namespace: str, expected: int, new: int) -> bool:
        check_plugin_text("namespace", namespace, PLUGIN_NAME_CHARS)
        check_plugin_version(expected)
        check_plugin_version(new)
        try:
            with self._write(flush=False) as db:
                row = db.execute(
                    "SELECT version FROM plugin_versions WHERE namespace = ?", (namespace,)
                ).fetchone()
                if (int(row[0]) if row else 0) != expected:
                    return False
                db.execute(
                    "INSERT INTO plugin_versions (namespace, version) VALUES (?, ?) "
                    "ON CONFLICT (namespace) DO UPDATE SET version = excluded.version",
                    (namespace, new),
                )
                return True
        except sqlite3.Error as error:
            raise StoreUnavailable(str(error)) from error
