"""A split store's plugin records (core/stores.py PluginRecordStore): in its durable store,
beside everything else that is not a session, so they are as durable as accounts and move
inside the durable store's transaction()."""

from __future__ import annotations

from panelauth.core.stores import PLUGIN_PAGE_RECORDS, PluginRecord, Store


class DurablePluginRecords:
    """Mixed into SplitStore: every PluginRecordStore call goes to `durable`."""

    durable: Store

    async def list_all_plugin_records(self) -> list[PluginRecord]:
        return await self.durable.list_all_plugin_records()

    async def list_plugin_versions(self) -> dict[str, int]:
        return await self.durable.list_plugin_versions()

    async def get_plugin_record(self, namespace: str, collection: str, key: str) -> str | None:
        return await self.durable.get_plugin_record(namespace, collection, key)

    async def put_plugin_record(
        self, namespace: str, collection: str, key: str, value: str
    ) -> None:
        await self.durable.put_plugin_record(namespace, collection, key, value)

    async def delete_plugin_record(self, namespace: str, collection: str, key: str) -> bool:
        return await self.durable.delete_plugin_record(namespace, collection, key)

    async def list_plugin_records(
        self,
        namespace: str,
        collection: str,
        *,
        prefix: str = "",
        after: str = "",
        limit: int = PLUGIN_PAGE_RECORDS,
    ) -> list[tuple[str, str]]:
        return await self.durable.list_plugin_records(
            namespace, collection, prefix=prefix, after=after, limit=limit
        )

    async def get_plugin_version(self, namespace: str) -> int:
        return await self.durable.get_plugin_version(namespace)

    async def set_plugin_version(self, namespace: str, expected: int, new: int) -> bool:
        return await self.durable.set_plugin_version(namespace, expected, new)
