"""The enabled plugins' storage migrations, run by `serve` (before any worker starts) and by
`panelauth migrate`."""

from __future__ import annotations

from collections.abc import Sequence

from panelauth.core.stores import Store
from panelauth.extension.plugin import Plugin
from panelauth.extension.storage import PluginStorage, migrate


async def migrate_plugins(store: Store, plugins: Sequence[Plugin]) -> list[tuple[str, int]]:
    """Each plugin's storage brought to its latest migration: (plugin name, version now)."""
    versions: list[tuple[str, int]] = []
    for plugin in plugins:
        version = await migrate(PluginStorage(store, plugin.name), plugin.migrations)
        versions.append((plugin.name, version))
    return versions
