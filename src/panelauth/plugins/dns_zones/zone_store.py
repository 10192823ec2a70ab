"""Zones in the plugin's storage: one record per zone in the table `zones`, keyed by domain,
and the defaults new zones are made with under the key `settings`."""

from __future__ import annotations

from typing import Any

from panelauth.extension import Account, Clock, PluginStorage

from .plugin import plugin
from .zone import DEFAULT_ADDRESS, DEFAULT_TTL, Zone, check_size, default_zone

ZONES = "zones"
SETTINGS = "settings"
DEFAULT_SETTINGS: dict[str, Any] = {"address": DEFAULT_ADDRESS, "ttl": DEFAULT_TTL}


@plugin.migration(1)
async def create_settings(storage: PluginStorage) -> None:
    await storage.put(SETTINGS, DEFAULT_SETTINGS)


async def settings(storage: PluginStorage) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, **(await storage.get(SETTINGS) or {})}


async def create(storage: PluginStorage, clock: Clock, domain: str, user: str) -> Zone:
    zone = default_zone(domain, user, await settings(storage), clock.now())
    await storage.table(ZONES).put(domain, zone)
    return zone


async def load(storage: PluginStorage, clock: Clock, account: Account, domain: str) -> Zone:
    """The zone of `domain` (an account's, already vetted), made with the defaults when the
    account existed before the plugin was enabled."""
    zone = await storage.table(ZONES).get(domain)
    if zone is None:
        zone = await create(storage, clock, domain, account.user)
    return zone


async def save(storage: PluginStorage, zone: Zone) -> None:
    check_size(zone)
    await storage.table(ZONES).put(zone["domain"], zone)


async def delete(storage: PluginStorage, domain: str) -> None:
    await storage.table(ZONES).delete(domain)
