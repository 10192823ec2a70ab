"""Finding the plugins `plugins:` names among the installed `panelauth.functions` entry points.

Installing a package changes nothing by itself: only a name listed in panelauth.yaml is loaded.
A listed plugin that is missing, fails to import or is not a `Plugin` stops the start with one
line naming it (PluginRefused, shown by the command line without a traceback).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points

from panelauth.core.settings import ConfigError
from panelauth.extension.plugin import Plugin

ENTRY_POINT_GROUP = "panelauth.functions"


class PluginRefused(ConfigError):
    """A plugin panelauth.yaml names cannot be served; the message says which and why."""


def load_plugins(names: Sequence[str]) -> tuple[Plugin, ...]:
    """The plugins named in `plugins:`, in that order."""
    installed = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    return tuple(_load(name, installed.get(name)) for name in names)


def _load(name: str, point: EntryPoint | None) -> Plugin:
    if point is None:
        raise PluginRefused(
            f"plugins: “{name}” is not installed (no entry point “{name}” in the group "
            f"{ENTRY_POINT_GROUP}); install its package into panelauth's environment"
        )
    try:
        plugin = point.load()
    except Exception as error:  # its import failed: say so in one line, never a traceback
        detail = " ".join(str(error).split())[:200]
        raise PluginRefused(
            f"plugins: “{name}” ({point.value}) failed to import: "
            f"{type(error).__name__}{f': {detail}' if detail else ''}"
        ) from None
    if not isinstance(plugin, Plugin):
        raise PluginRefused(
            f"plugins: “{name}” ({point.value}) is a {type(plugin).__name__}, not a "
            "panelauth.extension.Plugin"
        )
    if plugin.name != name:
        raise PluginRefused(
            f"plugins: the entry point “{name}” holds the plugin “{plugin.name}”; "
            "a plugin's entry point must carry its name"
        )
    return plugin
