"""UAPI `TwoFactorAuth` (w§13.2): a user's own second factor; feature `twofactorauth`.

Webmail-safe: in Webmail the two-factor identity is the logged-in mailbox (its address is the
otpauth label, w§13.3); on cPanel and through WHM it is the account user. Enrolling or
removing ends the identity's other sessions with `kill` (w§9, TF-9), in the core use cases
(core.credential_changes), as for WHM, the pages and the command line.
"""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Api, Registry
from panelauth.core.models import Account
from panelauth.protocol.params import Params

registry = Registry()
MODULE = "TwoFactorAuth"
FEATURE = "twofactorauth"


def _identity(ctx: CallContext) -> tuple[str, Account]:
    """The two-factor identity of this call and the cPanel account behind it."""
    account = ctx.acting_account()
    return ctx.mailbox or account.user, account


@registry.cpanel(
    Api.UAPI,
    MODULE,
    "get_user_configuration",
    sets_password=False,
    feature=FEATURE,
    webmail_safe=True,
)
async def get_user_configuration(ctx: CallContext, args: Params) -> dict[str, Any]:
    user, account = _identity(ctx)
    two_factor = ctx.runtime.two_factor
    if not await two_factor.enrolled(user):
        return {"is_enabled": 0}
    return {"is_enabled": 1, "issuer": await two_factor.issuer_for(account)}


@registry.cpanel(
    Api.UAPI,
    MODULE,
    "generate_user_configuration",
    sets_password=False,
    feature=FEATURE,
    webmail_safe=True,
)
async def generate_user_configuration(ctx: CallContext, args: Params) -> dict[str, str]:
    """A fresh secret and its otpauth URI; nothing is stored or enabled (w§13.3)."""
    user, account = _identity(ctx)
    new = await ctx.runtime.credential_changes().new_two_factor_secret(user, account)
    return {"secret": new.secret, "otpauth_str": new.otpauth_uri}


@registry.cpanel(
    Api.UAPI,
    MODULE,
    "set_user_configuration",
    sets_password=False,
    feature=FEATURE,
    webmail_safe=True,
)
async def set_user_configuration(ctx: CallContext, args: Params) -> dict[str, int]:
    """Enable two-factor with a secret proven by a current code, which is then spent (TF-9)."""
    user, _ = _identity(ctx)
    await ctx.runtime.credential_changes().enrol_two_factor(
        user,
        args.require("secret"),
        args.require("tfa_token"),
        actor=ctx.identity.user,
        keep=ctx.identity.session_id,
        address=ctx.client_address,
    )
    return {"tfa_configured": 1}


@registry.cpanel(
    Api.UAPI,
    MODULE,
    "remove_user_configuration",
    sets_password=False,
    feature=FEATURE,
    webmail_safe=True,
)
async def remove_user_configuration(ctx: CallContext, args: Params) -> dict[str, int]:
    user, _ = _identity(ctx)
    removed = await ctx.runtime.credential_changes().remove_two_factor(
        user, actor=ctx.identity.user, keep=ctx.identity.session_id, address=ctx.client_address
    )
    return {"tfa_removed": int(removed)}
