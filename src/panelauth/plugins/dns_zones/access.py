"""Which zone a call may touch: the caller's own domains only, with the extension API's checks."""

from __future__ import annotations

from panelauth.extension import Account, PermissionDenied, PluginContext

from . import zone_store
from .zone import Zone


def acting_account(ctx: PluginContext) -> Account:
    """The account a UAPI or API 2 call acts on (always set there)."""
    if ctx.account is None:
        raise PermissionDenied()
    return ctx.account


async def zone_for(ctx: PluginContext, domain: str) -> Zone:
    """The zone of `domain` if the domain is the caller's (else the 403 everyone gets)."""
    account = await ctx.require_domain(domain)
    name = domain.strip().lower().removesuffix(".")
    return await zone_store.load(ctx.storage, ctx.clock, account, name)


async def save(ctx: PluginContext, zone: Zone) -> None:
    await zone_store.save(ctx.storage, zone)
