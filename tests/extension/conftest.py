"""Plugins served by a test runtime: the real registry, dispatcher and event bus."""

from __future__ import annotations

import dataclasses

from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.extension import Plugin
from panelauth.extension.catalog import build_registry
from panelauth.extension.hooks import event_bus


def serving(runtime: Runtime, *plugins: Plugin) -> Dispatcher:
    """A dispatcher over `runtime` that serves the built-ins and `plugins`, with their events."""
    registry = build_registry(plugins)
    bound = dataclasses.replace(
        runtime, functions=registry, events=event_bus(plugins, runtime.store, runtime.clock)
    )
    return Dispatcher(bound, registry)
