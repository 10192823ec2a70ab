"""A worker's plugins bound to its store: their event handlers on the bus, their certificates.

The certificate source is asked by TLS server name (SNI). Python's SNI callback is synchronous
and runs inside the handshake, so it cannot await a plugin; a listener that wants plugin
certificates asks `certificate_for` ahead (e.g. fills a cache of SSL contexts by name) and
picks from what it has in the callback (docs/extending.md, "Certificates").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from panelauth.clock import Clock
from panelauth.core.events import EventBus
from panelauth.core.stores import Store
from panelauth.extension.context import PluginServices
from panelauth.extension.isolation import plugin_logger
from panelauth.extension.plugin import CertificatePair, EventHandler, Plugin
from panelauth.extension.storage import PluginStorage

log = logging.getLogger(__name__)

# what a TLS listener asks: `await certificate_for(server_name)` -> (chain PEM, key PEM) | None
CertificateSource = Callable[[str], Awaitable[CertificatePair | None]]


def services_of(plugin: Plugin, store: Store, clock: Clock) -> PluginServices:
    storage = PluginStorage(store, plugin.name)
    return PluginServices(plugin.name, storage, clock, plugin_logger(plugin.name))


def event_bus(plugins: Sequence[Plugin], store: Store, clock: Clock) -> EventBus:
    """A bus carrying every enabled plugin's event handlers, in `plugins:` order."""
    bus = EventBus()
    for plugin in plugins:
        services = services_of(plugin, store, clock)
        for event_type, handler in plugin.event_handlers:
            bus.subscribe(event_type, _bound(handler, services), owner=f"plugin {plugin.name}")
    return bus


def _bound(handler: EventHandler, services: PluginServices) -> Callable[[Any], Awaitable[None]]:
    async def deliver(event: Any) -> None:
        await handler(event, services)

    return deliver


def certificate_source(
    plugins: Sequence[Plugin], store: Store, clock: Clock
) -> CertificateSource | None:
    """The plugins' certificate providers as one source, asked in `plugins:` order (the first
    answer wins; one that raises is logged and skipped); None when no plugin provides one."""
    providers = [
        (plugin.name, plugin.certificate_provider, services_of(plugin, store, clock))
        for plugin in plugins
        if plugin.certificate_provider is not None
    ]
    if not providers:
        return None

    async def certificate_for(server_name: str) -> CertificatePair | None:
        for name, provider, services in providers:
            assert provider is not None
            try:
                found = await provider(server_name, services)
            except Exception as error:  # a plugin's bug costs its certificate, not the handshake
                log.error(
                    "plugin %s: certificate_for raised %s",
                    name,
                    type(error).__name__,
                    exc_info=error,
                )
                continue
            if found is not None:
                return found
        return None

    return certificate_for
