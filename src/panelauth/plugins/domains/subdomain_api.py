"""`SubDomain`: UAPI `addsubdomain`, and API 2 `addsubdomain`, `listsubdomains`,
`delsubdomain` (docs/domains.md has the reference pages and every choice made)."""

from __future__ import annotations

from typing import Any

from panelauth.extension import (
    Account,
    InvalidArgument,
    Params,
    PermissionDenied,
    PluginContext,
)
from panelauth.plugins.domains import subdomains
from panelauth.plugins.domains.names import (
    MAX_DOMAIN,
    document_root,
    full_name,
    shown,
    subdomain_label,
)
from panelauth.plugins.domains.plugin import plugin
from panelauth.plugins.domains.settings import load_settings
from panelauth.plugins.domains.subdomains import Subdomain

FEATURE = "subdomains"
HOME = "/home"
MAX_FILTER = 253  # listsubdomains' `regex`, matched as plain text


def acting(ctx: PluginContext) -> Account:
    account = ctx.account
    if account is None:  # UAPI and API 2 always act as an account; be explicit all the same
        raise PermissionDenied()
    return account


async def create(ctx: PluginContext, args: Params) -> Subdomain:
    account = acting(ctx)
    label = subdomain_label(args.require("domain"), disallowdot=args.get_bool("disallowdot"))
    args.get_bool("canoff")  # accepted and checked; panelauth writes no web server setting
    rootdomain = await root_domain(ctx, account, args.require("rootdomain"))
    subdomain = Subdomain(
        domain=full_name(label, rootdomain),
        subdomain=label,
        rootdomain=rootdomain,
        user=account.user,
        dir=document_root(args.get("dir"), label),
        created=ctx.clock.now(),
    )
    settings = await load_settings(ctx.storage)
    await subdomains.add(ctx.storage, subdomain, limit=settings.max_subdomains)
    ctx.log.info("%s added the subdomain %s", account.user, subdomain.domain)
    return subdomain


async def root_domain(ctx: PluginContext, account: Account, value: str) -> str:
    """The account's own domain named by `rootdomain` (panelauth: its one main domain)."""
    name = value.strip().lower().removesuffix(".")
    if name in {s.domain for s in await subdomains.of_account(ctx.storage, account.user)}:
        raise InvalidArgument(
            f"“{shown(name)}” is a subdomain; create the deeper name under “{account.domain}”."
        )
    await ctx.require_domain(name)  # someone else's, or no one's: PermissionDenied
    return name


@plugin.uapi("SubDomain", "addsubdomain", changes_state=True, sets_password=False, feature=FEATURE)
async def uapi_addsubdomain(ctx: PluginContext, args: Params) -> None:
    """cPanel's UAPI answers `data: null`."""
    await create(ctx, args)


@plugin.api2("SubDomain", "addsubdomain", changes_state=True, sets_password=False, feature=FEATURE)
async def api2_addsubdomain(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    subdomain = await create(ctx, args)
    return [{"result": 1, "reason": f"The subdomain “{subdomain.domain}” has been added."}]


@plugin.api2(
    "SubDomain", "listsubdomains", changes_state=False, sets_password=False, feature=FEATURE
)
async def listsubdomains(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    account = acting(ctx)
    wanted = (args.get("regex") or "").strip().lower()
    if len(wanted) > MAX_FILTER:
        raise InvalidArgument(f"The “regex” parameter has at most {MAX_FILTER} characters.")
    home = f"{HOME}/{account.user}"
    return [
        {
            "domain": subdomain.domain,
            "subdomain": subdomain.subdomain,
            "rootdomain": subdomain.rootdomain,
            "domainkey": subdomain.domainkey,
            "dir": home + subdomain.dir,
            "basedir": subdomain.dir.lstrip("/"),
            "reldir": "home:" + subdomain.dir.lstrip("/"),
            "status": "not redirected",
        }
        for subdomain in await subdomains.of_account(ctx.storage, account.user)
        if wanted in subdomain.domain
    ]


@plugin.api2("SubDomain", "delsubdomain", changes_state=True, sets_password=False, feature=FEATURE)
async def delsubdomain(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    account = acting(ctx)
    name = args.require("domain")
    if len(name) > MAX_DOMAIN:
        raise InvalidArgument(f"A domain name has at most {MAX_DOMAIN} characters.")
    removed = await subdomains.remove(ctx.storage, account.user, name)
    ctx.log.info("%s removed the subdomain %s", account.user, removed.domain)
    return [{"result": 1, "reason": f"The subdomain “{removed.domain}” has been removed."}]
