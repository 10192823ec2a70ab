"""Zones follow the accounts' domains: made when a domain is added, gone when it is removed."""

from __future__ import annotations

from panelauth.extension import AccountRemoved, DomainAdded, DomainRemoved, PluginServices

from . import zone_store
from .plugin import plugin


@plugin.on(DomainAdded)
async def domain_added(event: DomainAdded, services: PluginServices) -> None:
    if await services.storage.table(zone_store.ZONES).get(event.domain) is None:
        await zone_store.create(services.storage, services.clock, event.domain, event.user)


@plugin.on(DomainRemoved)
async def domain_removed(event: DomainRemoved, services: PluginServices) -> None:
    await zone_store.delete(services.storage, event.domain)


@plugin.on(AccountRemoved)
async def account_removed(event: AccountRemoved, services: PluginServices) -> None:
    """Every zone the account had, its main domain's included."""
    owned = await services.storage.table(zone_store.ZONES).find(user=event.user)
    for domain in {event.domain, *owned}:
        await zone_store.delete(services.storage, domain)
