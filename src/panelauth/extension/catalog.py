"""Every function a server serves: panelauth's own, then each enabled plugin's."""

from __future__ import annotations

from collections.abc import Sequence

from panelauth.api.catalog import build_registry as built_in_registry
from panelauth.api.registry import DuplicateFunction, Registry
from panelauth.extension.isolation import served
from panelauth.extension.loading import PluginRefused
from panelauth.extension.plugin import Plugin


def build_registry(plugins: Sequence[Plugin] = ()) -> Registry:
    """The built-ins and the plugins' functions; a function claimed twice refuses the start
    with a message naming both claimants."""
    registry = built_in_registry()
    for plugin in plugins:
        for declared in plugin.functions:
            try:
                registry.add(served(plugin.name, declared))
            except DuplicateFunction as clash:
                raise PluginRefused(f"plugins: {clash}") from None
    return registry
