"""WHM API 1 account functions: list, summarise, create, remove, suspend, password."""

from __future__ import annotations

import time
from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry, Reply
from panelauth.core.models import Account
from panelauth.core.patterns import compile_search
from panelauth.errors import InvalidArgument, NotFound, PermissionDenied
from panelauth.protocol.params import Params

registry = Registry()

_SEARCH_FIELDS = {
    "user": lambda a: a.user,
    "domain": lambda a: a.domain,
    "owner": lambda a: a.owner,
    "package": lambda a: a.plan,
}


def account_entry(account: Account) -> dict[str, Any]:
    """One account as listaccts/accountsummary describe it."""
    return {
        "user": account.user,
        "domain": account.domain,
        "owner": account.owner,
        "email": account.contact_email or "*unknown*",
        "plan": account.plan,
        "featurelist": account.feature_list,
        "suspended": int(account.suspended),
        "suspendreason": account.suspend_reason if account.suspended else "not suspended",
        "startdate": time.strftime("%y %b %d %H:%M", time.gmtime(account.created_at)),
        "unix_startdate": int(account.created_at),
        "theme": "jupiter",
        "is_locked": 0,
        "partition": "home",
        "maxpop": "unlimited",
        "temporary": 0,
    }


async def managed_account(ctx: CallContext, user: str) -> Account:
    """The account `user` if the caller may manage it.

    Root learns that an account does not exist (result 0); anyone else gets the same 403 for
    absent and foreign accounts, so a reseller cannot enumerate other owners' accounts.
    """
    account = await ctx.store.get_account(user)
    if account is None and ctx.identity.is_root:
        raise NotFound(f"The account “{user}” does not exist.")
    if account is None or not ctx.may_manage(account):
        raise PermissionDenied()
    return account


async def _visible_accounts(ctx: CallContext) -> list[Account]:
    if ctx.identity.is_root:
        return await ctx.store.list_accounts()
    owned = await ctx.store.list_accounts(owner=ctx.identity.user)
    own = await ctx.store.get_account(ctx.identity.user)
    if own is not None and own not in owned:
        owned.append(own)
    return sorted(owned, key=lambda a: a.user)


@registry.whm1("listaccts", acl="list-accts")
async def listaccts(ctx: CallContext, args: Params) -> dict[str, Any]:
    accounts = await _visible_accounts(ctx)
    search = args.get("search", "")
    if search:
        searchtype = args.get("searchtype", "user")
        field = _SEARCH_FIELDS.get(searchtype)
        if field is None:
            raise InvalidArgument("Unknown search type.")
        if args.get("searchmethod", "regex") == "exact":
            accounts = [a for a in accounts if field(a) == search]
        else:
            matches = compile_search(search, ignore_case=True)
            accounts = [a for a in accounts if matches(field(a))]
    entries = [account_entry(a) for a in accounts]
    wanted = [w for w in args.get("want", "").split(",") if w]
    if wanted:
        entries = [{k: v for k, v in entry.items() if k in wanted} for entry in entries]
    return {"acct": entries}


@registry.whm1("accountsummary", acl="acct-summary")
async def accountsummary(ctx: CallContext, args: Params) -> dict[str, Any]:
    user, domain = args.get("user", ""), args.get("domain", "").lower()
    if not user and not domain:
        raise InvalidArgument("You must specify a user or domain to get a summary of.")
    if not user:
        user = await ctx.store.domain_owner(domain) or ""
    if not user:
        raise NotFound("Account does not exist.")
    account = await managed_account(ctx, user)
    if domain and account.domain != domain:
        raise NotFound("Account does not exist.")
    return {"acct": [account_entry(account)]}


@registry.whm1("createacct", acl="create-acct", changes_accounts=True)
async def createacct(ctx: CallContext, args: Params) -> Reply:
    owner = args.get("owner", "") or ctx.identity.user
    if owner != ctx.identity.user:
        if not ctx.identity.is_root:
            raise PermissionDenied(
                "Without root access, you can only create accounts that you yourself own."
            )
        owner_account = await ctx.store.get_account(owner)
        if owner_account is None or not (owner_account.is_reseller or owner_account.is_root):
            raise InvalidArgument(f"The owner “{owner}” is not a reseller.")
    make_reseller = args.get_bool("reseller")
    if make_reseller and not ctx.identity.is_root:
        raise PermissionDenied("Only root may create reseller accounts.")
    account = await ctx.accounts().create(
        user=args.require("username"),
        domain=args.require("domain"),
        password=args.require("password"),
        owner=owner,
        plan=args.get("plan", "") or "default",
        feature_list=args.get("featurelist", "") or "default",
        contact_email=args.get("contactemail", ""),
    )
    if make_reseller:
        await ctx.accounts().make_reseller(account.user)
    raw = f"Account Creation Complete!!!\n+ {account.user} {account.domain} owner {owner}\n"
    data = {"package": account.plan, "ip": "127.0.0.1", "nameserver": None}
    return Reply(data, reason="Account Creation Ok", raw_output=raw)


@registry.whm1("removeacct", acl="kill-acct", changes_accounts=True)
async def removeacct(ctx: CallContext, args: Params) -> Reply:
    user = args.get("user", "") or args.require("username")
    account = await managed_account(ctx, user)
    if account.user == ctx.identity.user:
        raise PermissionDenied("You cannot remove your own account.")
    if account.is_reseller and await ctx.store.list_accounts(owner=account.user):
        raise InvalidArgument(f"The reseller “{user}” still owns accounts.")
    await ctx.runtime.account_changes().remove_account(
        account.user, actor=ctx.identity.user, address=ctx.client_address
    )
    return Reply(None, reason=f"{account.user} account removed", raw_output=f"Removed {user}\n")


@registry.whm1("suspendacct", acl="suspend-acct", changes_accounts=True)
async def suspendacct(ctx: CallContext, args: Params) -> Reply:
    account = await managed_account(ctx, args.require("user"))
    if account.user == ctx.identity.user:
        raise PermissionDenied("You cannot suspend your own account.")
    reason = _clean_reason(args.get("reason", "")) or "Suspended by the administrator"
    await ctx.runtime.account_changes().suspend(
        account.user, reason, actor=ctx.identity.user, address=ctx.client_address
    )
    return Reply(None, raw_output=f"{account.user} account suspended\n")


@registry.whm1("unsuspendacct", acl="suspend-acct", changes_accounts=True)
async def unsuspendacct(ctx: CallContext, args: Params) -> Reply:
    account = await managed_account(ctx, args.require("user"))
    await ctx.runtime.account_changes().unsuspend(account.user, actor=ctx.identity.user)
    return Reply(None, raw_output=f"{account.user} account unsuspended\n")


@registry.whm1("passwd", acl="passwd", changes_accounts=True)
async def passwd(ctx: CallContext, args: Params) -> Reply:
    user = args.require("user")
    # everyone may change their own password; other accounts only if managed
    own = user == ctx.identity.user
    account = await ctx.store.get_account(user) if own else await managed_account(ctx, user)
    if account is None:
        raise NotFound(f"The account “{user}” does not exist.")
    password = args.require("password")
    # PW-9: the user's sessions end; the caller's own one is rotated (docs/sessions.md)
    changed = await ctx.runtime.credential_changes().change_password(
        account.user,
        password,
        actor=ctx.identity.user,
        caller_session=ctx.identity.session_id,
        address=ctx.client_address,
        path="api",
    )
    return Reply(
        {"app": ["system"]},
        reason=f"Password changed for user “{account.user}”.",
        session=changed.rotated,
    )


def _clean_reason(text: str) -> str:
    """A suspension reason is stored and shown: printable text only, bounded."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise InvalidArgument("The reason must not contain control characters.")
    if len(text) > 1024:
        raise InvalidArgument("The reason is too long.")
    return text
