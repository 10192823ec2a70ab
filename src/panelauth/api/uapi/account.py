"""UAPI `Variables`, `Features` and `DomainInfo`: what a cPanel account is and may do."""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Api, Registry
from panelauth.core.features import FEATURES, feature_enabled
from panelauth.core.models import Account
from panelauth.protocol.params import Params

registry = Registry()


async def feature_map(ctx: CallContext, account: Account) -> dict[str, int]:
    settings = await ctx.store.get_feature_list(account.feature_list)
    names = sorted(set(FEATURES) | set(settings or {}))
    return {name: int(feature_enabled(settings, name)) for name in names}


@registry.cpanel(
    Api.UAPI, "Variables", "get_user_information", sets_password=False, webmail_safe=True
)
async def get_user_information(ctx: CallContext, args: Params) -> dict[str, Any]:
    account = ctx.acting_account()
    info: dict[str, Any] = {
        "user": account.user,
        "domain": account.domain,
        "domains": [account.domain],
        "dead_domains": [],
        "owner": account.owner,
        "plan": account.plan,
        "feature_list": account.feature_list,
        "contact_email": account.contact_email,
        "created": int(account.created_at),
        "theme": "jupiter",
        "lang": "en",
        "locale": "en",
        "home": f"/home/{account.user}",
        "mailbox_format": "maildir",
        "feature": await feature_map(ctx, account),
    }
    if ctx.mailbox is not None:
        # Webmail sees its own mailbox and nothing of the account's configuration (w§16.6)
        info = {"user": ctx.mailbox, "domain": account.domain, "locale": "en", "lang": "en"}
    wanted = args.get_list("name")
    if wanted:
        info = {key: info[key] for key in wanted if key in info}
    return info


@registry.cpanel(Api.UAPI, "Features", "list_features", sets_password=False)
async def list_features(ctx: CallContext, args: Params) -> dict[str, int]:
    return await feature_map(ctx, ctx.acting_account())


@registry.cpanel(Api.UAPI, "DomainInfo", "list_domains", sets_password=False)
async def list_domains(ctx: CallContext, args: Params) -> dict[str, Any]:
    account = ctx.acting_account()
    return {
        "main_domain": account.domain,
        "addon_domains": [],
        "parked_domains": [],
        "sub_domains": [],
    }
