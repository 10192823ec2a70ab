"""WHM API 1 reseller functions (root only): set up, remove, list, ACLs."""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry, Reply
from panelauth.api.whm.accounts import managed_account
from panelauth.core.acls import ACL_NAMES
from panelauth.errors import InvalidArgument
from panelauth.protocol.params import Params

registry = Registry()


@registry.whm1("setupreseller", acl="all", changes_accounts=True)
async def setupreseller(ctx: CallContext, args: Params) -> Reply:
    account = await managed_account(ctx, args.require("user"))
    await ctx.accounts().make_reseller(account.user)
    if args.get_bool("makeowner"):
        await ctx.store.set_owner(account.user, account.user)
    return Reply(None, raw_output="")


@registry.whm1("unsetupreseller", acl="all", changes_accounts=True)
async def unsetupreseller(ctx: CallContext, args: Params) -> Reply:
    account = await managed_account(ctx, args.require("user"))
    if not account.is_reseller:
        raise InvalidArgument(f"“{account.user}” is not a reseller.")
    for owned in await ctx.store.list_accounts(owner=account.user):
        if owned.user != account.user:
            await ctx.store.set_owner(owned.user, "root")
    await ctx.store.set_owner(account.user, "root")
    await ctx.accounts().unmake_reseller(account.user)
    return Reply(None, raw_output="")


@registry.whm1("listresellers", acl="all")
async def listresellers(ctx: CallContext, args: Params) -> dict[str, Any]:
    accounts = await ctx.store.list_accounts()
    return {"reseller": [a.user for a in accounts if a.is_reseller]}


@registry.whm1("setacls", acl="all", changes_accounts=True)
async def setacls(ctx: CallContext, args: Params) -> Reply:
    account = await managed_account(ctx, args.require("reseller"))
    granted = set()
    for key, value in args.items():
        if key.startswith("acl-"):
            name = key[4:]
            if name not in ACL_NAMES:
                raise InvalidArgument(f"Unknown privilege: {name}.")
            if value not in ("0", "1"):
                raise InvalidArgument(f"The “{key}” parameter must be 1 or 0.")
            if value == "1":
                granted.add(name)
    await ctx.accounts().set_acls(account.user, frozenset(granted))
    return Reply(None, raw_output="")
