"""A plugin's storage (extension/storage.py): the key-value space, tables and migrations, on
SQLite, PostgreSQL and the split store (its records in PostgreSQL), with two "nodes" (two
stores on one database) where it matters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from panelauth.backends import migrate_store, open_store
from panelauth.clock import FrozenClock
from panelauth.core.stores import PLUGIN_VALUE_BYTES, Store
from panelauth.errors import InvalidArgument
from panelauth.extension import storage as storage_module
from panelauth.extension.storage import MigrationStep, PluginStorage, migrate
from tests.backends.conftest import (
    postgresql_schema,
    postgresql_server,
    postgresql_store_url,
    redis_prefix,
    redis_server,
    redis_store_url,
)

__all__ = [
    "postgresql_schema",
    "postgresql_server",
    "postgresql_store_url",
    "redis_prefix",
    "redis_server",
    "redis_store_url",
]


@dataclass
class Database:
    """One database under test; `open()` opens one more store on it (another node)."""

    name: str
    open: Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgresql", "postgresql+redis"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Database]:
    opened: list[Store] = []
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'plugins.db'}"
    else:
        url = str(request.getfixturevalue("postgresql_store_url"))
    session_url = str(request.getfixturevalue("redis_store_url")) if "+" in request.param else None
    await migrate_store(url, clock=clock)

    async def open_one() -> Store:
        # a short lock wait: two SQLite stores of one event loop wait for each other inline
        store = await open_store(url, session_url, clock=clock, busy_timeout_ms=200)
        opened.append(store)
        return store

    yield Database(request.param, open_one)
    for store in opened:
        await store.aclose()


@pytest.fixture
async def storage(database: Database) -> PluginStorage:
    return PluginStorage(await database.open(), "dns")


# -- the key-value space ------------------------------------------------------------------------

VALUES: list[Any] = [
    {"serial": 2024010101, "records": [{"name": "www", "ttl": 300}], "nested": {"ok": True}},
    ["a", 1, 2.5, None, False],
    'café 日本 \U0001f600\n"quoted"',
    0,
    -7.25,
    True,
    {},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
async def test_a_value_comes_back_as_put(storage: PluginStorage, value: Any) -> None:
    await storage.put("k", value)
    found = await storage.get("k")
    assert found == value and type(found) is type(value)


async def test_put_replaces_and_delete_removes(storage: PluginStorage) -> None:
    assert await storage.get("zone") is None
    await storage.put("zone", {"serial": 1})
    await storage.put("zone", {"serial": 2})
    assert await storage.get("zone") == {"serial": 2}
    assert await storage.delete("zone")
    assert not await storage.delete("zone")
    assert await storage.get("zone") is None


async def test_keys_are_listed_in_order_with_a_prefix(
    storage: PluginStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_module, "PLUGIN_PAGE_RECORDS", 3)  # several pages
    keys = ["zone:b.example", "zone:a.example", "serial", "zone:é.example", "zone:c", "z"]
    for key in keys:
        await storage.put(key, 1)
    assert await storage.keys() == sorted(keys)
    assert await storage.keys("zone:") == sorted(k for k in keys if k.startswith("zone:"))
    assert await storage.keys("none") == []


async def test_namespaces_and_tables_do_not_meet(database: Database) -> None:
    store = await database.open()
    dns, ssl = PluginStorage(store, "dns"), PluginStorage(store, "ssl")
    await dns.put("k", "dns")
    await ssl.put("k", "ssl")
    await dns.table("k").put("k", {"table": True})
    assert await dns.get("k") == "dns"
    assert await ssl.get("k") == "ssl"
    assert await dns.keys() == ["k"] and await ssl.keys() == ["k"]
    assert await dns.table("k").all() == {"k": {"table": True}}
    assert await ssl.table("k").all() == {}


async def test_another_node_reads_what_one_wrote(database: Database) -> None:
    one, other = (
        PluginStorage(await database.open(), "dns"),
        PluginStorage(await database.open(), "dns"),
    )
    await one.put("k", [1])
    assert await other.get("k") == [1]
    assert await other.delete("k")
    assert await one.get("k") is None


@pytest.mark.parametrize(
    "value",
    [{1, 2}, object(), float("nan"), float("inf"), b"bytes", {"when": ...}],
    ids=["set", "object", "nan", "inf", "bytes", "ellipsis"],
)
async def test_a_value_json_cannot_carry_is_refused(storage: PluginStorage, value: Any) -> None:
    with pytest.raises(InvalidArgument, match="“k” cannot be stored as JSON"):
        await storage.put("k", value)
    assert await storage.keys() == []


async def test_an_oversized_value_is_refused(storage: PluginStorage) -> None:
    with pytest.raises(InvalidArgument, match=f"at most {PLUGIN_VALUE_BYTES} are stored"):
        await storage.put("k", "x" * PLUGIN_VALUE_BYTES)  # and its two quotes
    with pytest.raises(InvalidArgument, match="bytes"):
        await storage.table("t").put("k", {"blob": "é" * (PLUGIN_VALUE_BYTES // 2)})
    assert await storage.get("k") is None and await storage.table("t").all() == {}
    await storage.put("k", "x" * (PLUGIN_VALUE_BYTES - 2))  # exactly 1 MiB is kept
    assert await storage.get("k") == "x" * (PLUGIN_VALUE_BYTES - 2)


BAD_NAMES = ["", "a\r\nb", "line\n", "nul\x00", "esc\x1b[0m", "sep\u2028"]


@pytest.mark.parametrize("key", [*BAD_NAMES, "k" * 513], ids=repr)
async def test_a_bad_key_is_refused(storage: PluginStorage, key: str) -> None:
    with pytest.raises(InvalidArgument, match="key"):
        await storage.put(key, 1)
    with pytest.raises(InvalidArgument, match="key"):
        await storage.table("t").put(key, {})
    with pytest.raises(InvalidArgument, match="key"):
        await storage.get(key)
    assert await storage.keys() == []


@pytest.mark.parametrize("name", [*BAD_NAMES, "t" * 59], ids=repr)
async def test_a_bad_table_name_is_refused(storage: PluginStorage, name: str) -> None:
    with pytest.raises(InvalidArgument, match="table name"):
        storage.table(name)


@pytest.mark.parametrize("name", [*BAD_NAMES, "n" * 65], ids=repr)
async def test_a_bad_namespace_is_refused(database: Database, name: str) -> None:
    store = await database.open()
    with pytest.raises(InvalidArgument, match="namespace"):
        PluginStorage(store, name)


# -- tables -------------------------------------------------------------------------------------


async def test_a_table_keeps_records_by_primary_key(storage: PluginStorage) -> None:
    zones = storage.table("zones")
    await zones.put("b.example", {"owner": "bob", "serial": 1})
    await zones.put("a.example", {"owner": "alice", "serial": 1})
    await zones.put("b.example", {"owner": "bob", "serial": 2})
    assert await zones.get("b.example") == {"owner": "bob", "serial": 2}
    assert await zones.get("c.example") is None
    assert list((await zones.all()).items()) == [
        ("a.example", {"owner": "alice", "serial": 1}),
        ("b.example", {"owner": "bob", "serial": 2}),
    ]
    assert await zones.delete("a.example")
    assert not await zones.delete("a.example")
    assert list(await zones.all()) == ["b.example"]
    assert await storage.keys() == []  # not in the key-value space


async def test_find_matches_every_field_given(
    storage: PluginStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_module, "PLUGIN_PAGE_RECORDS", 2)  # several pages
    records = storage.table("records")
    await records.put("1", {"zone": "a.example", "type": "A", "ttl": 300})
    await records.put("2", {"zone": "a.example", "type": "TXT", "ttl": 300})
    await records.put("3", {"zone": "b.example", "type": "A", "ttl": 60})
    await records.put("4", {"zone": "a.example", "type": "A"})  # no ttl
    await records.put("5", {"zone": "a.example", "type": "A", "ttl": None})
    assert list(await records.find(zone="a.example", type="A")) == ["1", "4", "5"]
    assert list(await records.find(type="A", ttl=300)) == ["1"]
    assert list(await records.find(ttl=None)) == ["5"]  # a missing field is not None
    assert list(await records.find(zone="c.example")) == []
    assert list(await records.find()) == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("record", [[1, 2], "text", None, 3], ids=repr)
async def test_a_table_record_must_be_a_mapping(storage: PluginStorage, record: Any) -> None:
    with pytest.raises(InvalidArgument, match="must be a mapping"):
        await storage.table("t").put("k", record)
    assert await storage.table("t").all() == {}


# -- migrations ---------------------------------------------------------------------------------


class Steps:
    """Migration steps that record each run (in the test) and write a record (in the store)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.ran: list[int] = []
        self.pause = pause

    def step(self, version: int, *, fails: bool = False) -> tuple[int, MigrationStep]:
        async def run(storage: PluginStorage) -> None:
            self.ran.append(version)
            await storage.put(f"step-{version}", version)
            if self.pause:
                await asyncio.sleep(self.pause)  # let a racing node try meanwhile
            if fails:
                raise RuntimeError(f"step {version} failed")

        return version, run


async def test_migrate_runs_the_steps_above_the_version_in_order(storage: PluginStorage) -> None:
    steps = Steps()
    assert await storage.version() == 0
    assert await migrate(storage, [steps.step(2), steps.step(1)]) == 2
    assert steps.ran == [1, 2]
    assert await storage.keys() == ["step-1", "step-2"]
    assert await migrate(storage, [steps.step(1), steps.step(2)]) == 2  # nothing left
    assert await migrate(storage, [steps.step(1), steps.step(2), steps.step(5)]) == 5
    assert steps.ran == [1, 2, 5]
    assert await storage.version() == 5


async def test_migrate_with_no_steps_answers_the_version(storage: PluginStorage) -> None:
    assert await migrate(storage, []) == 0


async def test_a_version_beyond_the_known_steps_runs_nothing(storage: PluginStorage) -> None:
    assert await storage.store.set_plugin_version("dns", 0, 7)  # a newer node went on
    steps = Steps()
    assert await migrate(storage, [steps.step(1), steps.step(2)]) == 7
    assert steps.ran == []


async def test_a_failing_step_leaves_the_version_and_its_writes_as_they_were(
    storage: PluginStorage,
) -> None:
    steps = Steps()
    with pytest.raises(RuntimeError, match="step 2 failed"):
        await migrate(storage, [steps.step(1), steps.step(2, fails=True), steps.step(3)])
    assert steps.ran == [1, 2]  # 3 never ran
    assert await storage.version() == 1
    assert await storage.keys() == ["step-1"]  # step 2's write was rolled back
    assert await migrate(storage, [steps.step(1), steps.step(2), steps.step(3)]) == 3
    assert steps.ran == [1, 2, 2, 3]


@pytest.mark.parametrize(
    "versions", [[0], [1, 1], [-1], [True]], ids=["zero", "twice", "negative", "bool"]
)
async def test_bad_migration_versions_are_refused(
    storage: PluginStorage, versions: list[Any]
) -> None:
    steps = Steps()
    with pytest.raises(InvalidArgument, match="unique integers from 1"):
        await migrate(storage, [steps.step(v) for v in versions])
    assert steps.ran == []


async def test_two_nodes_migrating_at_once_run_each_step_once(database: Database) -> None:
    steps = Steps(pause=0.05)
    migrations = [steps.step(1), steps.step(2), steps.step(3)]
    nodes = [PluginStorage(await database.open(), "dns") for _ in range(2)]
    reached = await asyncio.gather(*(migrate(node, migrations) for node in nodes))
    assert reached == [3, 3]
    assert steps.ran == [1, 2, 3]
    assert await nodes[1].keys() == ["step-1", "step-2", "step-3"]
