"""WHM API 1 `twofactorauth_*` (w§13.1): the policy switch, users' configurations, issuers.

Rights (w§16.3): a WHM user always acts on itself. Acting on another user needs the
`create-acct` ACL [KB-2FA] and ownership of that account (root: every account). A user that
does not exist and one owned by someone else give the same 403, except to root, which learns
that the account does not exist (no enumeration, as `managed_account`).

Enrolling, changing or removing a user's second factor ends that user's other sessions with
`kill` (w§9, TF-9); the caller's own session stays. The core use cases
(core.credential_changes) do that and write the accounting record.
"""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry
from panelauth.api.whm.accounts import managed_account
from panelauth.core.models import Account
from panelauth.core.totp import validate_issuer
from panelauth.core.two_factor import SYSTEM_ISSUER_KEY
from panelauth.errors import FunctionFailed, InvalidArgument, PermissionDenied
from panelauth.protocol.params import Params

registry = Registry()
OTHERS_ACL = "create-acct"  # cPanel requires it for a reseller's two-factor administration


def _require_others_acl(ctx: CallContext) -> None:
    if not ctx.identity.has_acl(OTHERS_ACL):
        raise PermissionDenied(f"This function requires the “{OTHERS_ACL}” privilege.")


async def _target(ctx: CallContext, user: str) -> tuple[str, Account | None]:
    """The user a call acts on (default: the caller) and its account, if the caller may."""
    if not user or user == ctx.identity.user:
        return ctx.identity.user, await ctx.store.get_account(ctx.identity.user)
    _require_others_acl(ctx)
    account = await managed_account(ctx, user)
    return account.user, account


async def _config(ctx: CallContext, user: str, account: Account | None) -> dict[str, Any]:
    domain = ctx.runtime.settings.hostname  # root's primary domain is the server's own name
    if account is not None and not account.is_root:
        domain = account.domain
    return {
        "is_enabled": int(await ctx.runtime.two_factor.enrolled(user)),
        "primary_domain": domain,
    }


@registry.whm1("twofactorauth_policy_status")
async def twofactorauth_policy_status(ctx: CallContext, args: Params) -> dict[str, int]:
    return {"is_enabled": int(await ctx.runtime.two_factor.policy_enabled())}


@registry.whm1("twofactorauth_enable_policy", acl="all")
async def twofactorauth_enable_policy(ctx: CallContext, args: Params) -> None:
    await ctx.runtime.credential_changes().set_two_factor_policy(
        actor=ctx.identity.user, enabled=True
    )


@registry.whm1("twofactorauth_disable_policy", acl="all")
async def twofactorauth_disable_policy(ctx: CallContext, args: Params) -> None:
    await ctx.runtime.credential_changes().set_two_factor_policy(
        actor=ctx.identity.user, enabled=False
    )


@registry.whm1("twofactorauth_generate_tfa_config")
async def twofactorauth_generate_tfa_config(ctx: CallContext, args: Params) -> dict[str, str]:
    """A fresh secret and its otpauth URI; nothing is stored or enabled (w§13.3)."""
    user, account = await _target(ctx, args.get("user", ""))
    new = await ctx.runtime.credential_changes().new_two_factor_secret(user, account)
    return {"secret": new.secret, "otpauth_str": new.otpauth_uri}


@registry.whm1("twofactorauth_set_tfa_config")
async def twofactorauth_set_tfa_config(ctx: CallContext, args: Params) -> dict[str, int]:
    """Enable two-factor with a secret proven by a current code, which is then spent (TF-9)."""
    user, _ = await _target(ctx, args.get("user", ""))
    await ctx.runtime.credential_changes().enrol_two_factor(
        user,
        args.require("secret"),
        args.require("tfa_token"),
        actor=ctx.identity.user,
        keep=ctx.identity.session_id,
        address=ctx.client_address,
    )
    return {"success": 1}


@registry.whm1("twofactorauth_get_user_configs")
async def twofactorauth_get_user_configs(
    ctx: CallContext, args: Params
) -> dict[str, dict[str, Any]]:
    user = args.get("user", "")
    if user:
        targets = [await _target(ctx, user)]
    else:
        caller = ctx.identity.user
        targets = [(caller, await ctx.store.get_account(caller))]
        if ctx.identity.has_acl(OTHERS_ACL):
            owner = None if ctx.identity.is_root else caller
            owned = await ctx.store.list_accounts(owner=owner)
            targets += [(a.user, a) for a in owned if a.user != caller and ctx.may_manage(a)]
    return {name: await _config(ctx, name, account) for name, account in targets}


@registry.whm1("twofactorauth_remove_user_config")
async def twofactorauth_remove_user_config(ctx: CallContext, args: Params) -> dict[str, Any]:
    """Remove each named user's second factor; refusals are reported per user in `failed`."""
    users = list(dict.fromkeys(user for user in args.get_list("user") if user))
    if not users:
        raise InvalidArgument("The “user” parameter is required.")
    modified: list[str] = []
    failed: dict[str, str] = {}
    changes = ctx.runtime.credential_changes()
    for name in users:
        try:
            user, _ = await _target(ctx, name)
        except (PermissionDenied, FunctionFailed) as error:
            failed[name] = error.message
            continue
        if not await changes.remove_two_factor(
            user, actor=ctx.identity.user, keep=ctx.identity.session_id, address=ctx.client_address
        ):
            failed[name] = "Two-factor authentication is not configured for this user."
            continue
        modified.append(user)
    return {"users_modified": modified, "failed": failed}


@registry.whm1("twofactorauth_set_issuer")
async def twofactorauth_set_issuer(ctx: CallContext, args: Params) -> None:
    """Root names the system-wide issuer; a reseller the one of itself and its accounts."""
    issuer = validate_issuer(args.require("issuer"))
    _require_others_acl(ctx)  # the issuer shows in other users' authenticator apps
    owner = None if ctx.identity.is_root else ctx.identity.user
    await ctx.runtime.credential_changes().set_two_factor_issuer(
        actor=ctx.identity.user, owner=owner, issuer=issuer
    )


@registry.whm1("twofactorauth_get_issuer")
async def twofactorauth_get_issuer(ctx: CallContext, args: Params) -> dict[str, str]:
    """The issuer the caller's users see, and the system-wide one (each with its fallback)."""
    account = await ctx.store.get_account(ctx.identity.user)
    system = await ctx.store.get_setting(SYSTEM_ISSUER_KEY)
    return {
        "issuer": await ctx.runtime.two_factor.issuer_for(account),
        "system_wide_issuer": system or ctx.runtime.settings.hostname,
    }
