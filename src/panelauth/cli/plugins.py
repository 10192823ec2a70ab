"""The enabled plugins before anything is served: loaded, checked, their storage migrated.

`serve` runs this before it binds a port or forks a worker, so a plugin that cannot be served
(missing, failing to import, claiming a served function) is one `Error:` line and nothing
starts; `panelauth migrate` runs it to bring the plugins' storage up to date.
"""

from __future__ import annotations

from panelauth.backends import open_store
from panelauth.clock import SystemClock
from panelauth.extension.catalog import build_registry
from panelauth.extension.loading import load_plugins
from panelauth.extension.migrations import migrate_plugins
from panelauth.server.datadir import DataDir


async def prepare_plugins(data_dir: DataDir) -> list[tuple[str, int]]:
    """(plugin name, storage version) for each plugin `plugins:` names, after its migrations."""
    plugins = load_plugins(data_dir.load_settings().plugins)
    build_registry(plugins)  # a function claimed twice refuses the start now
    if not plugins:
        return []
    clock = SystemClock()
    store = await open_store(data_dir.store_url, data_dir.session_store_url, clock=clock)
    try:
        return await migrate_plugins(store, plugins)
    finally:
        await store.aclose()
