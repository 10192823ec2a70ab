"""UAPI `Session::create_webmail_session_for_*` (w§10.2): a cPanel user's way into Webmail.

Feature `webmail`; not Webmail-safe (a Webmail identity never mints sessions, w§16.6). The
caller acts for its own account: itself, or a mailbox the account owns; an absent mailbox and
another account's get the same 403. Through WHM the caller (root or the owning reseller) is
the session's creator and possessor. The session is an SSO hand-off (api/handoffs): used once
by `POST https://host:2096<token>/login` with `session=`, within 5 minutes, then 15 minutes
idle. In the `check_password` variant a wrong password is result 0 and a failed login for the
mailbox (MailboxPasswordIncorrect; the edge writes login_log).
"""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.handoffs import Handoff, create_handoff, valid_address, valid_locale
from panelauth.api.registry import Api, Registry
from panelauth.core.hulk import Method
from panelauth.core.models import Mailbox
from panelauth.core.validation import normalize_domain, validate_local_part
from panelauth.errors import (
    AuthenticationFailed,
    FunctionFailed,
    MailboxPasswordIncorrect,
    PermissionDenied,
)
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.secret import Secret

registry = Registry()
FEATURE = "webmail"
METHOD = "create_webmail_session"
TAG_SELF = "CREATE_WEBMAIL_SESSION_FOR_SELF"
TAG_MAIL_USER = "CREATE_WEBMAIL_SESSION_FOR_MAIL_USER"


def _options(ctx: CallContext, args: Params) -> str | None:
    """Validate `locale`; the bound address from `remote_address` (None: bound at first use)."""
    if args.get("locale"):
        valid_locale(args.get("locale", ""))
    remote = args.get("remote_address", "")
    return valid_address(remote) if remote else None


def _answer(handoff: Handoff) -> dict[str, Any]:
    return {
        "hostname": None,
        "token": handoff.created.session.security_token,
        "session": handoff.session_value,
    }


async def _mailbox(ctx: CallContext, args: Params) -> Mailbox:
    local = validate_local_part(args.require("login"))
    domain = normalize_domain(args.require("domain"))
    mailbox = await ctx.store.get_mailbox(f"{local}@{domain}")
    if mailbox is None or mailbox.account != ctx.acting_account().user:
        raise PermissionDenied()
    if mailbox.suspended_login:
        raise FunctionFailed(f"The email account “{mailbox.address}” is suspended.")
    return mailbox


async def _webmail_session(
    ctx: CallContext, user: str, account: str, tag: str, bound: str | None
) -> dict[str, Any]:
    """The unused Webmail hand-off for `user` (the account itself or one of its mailboxes)."""
    handoff = await create_handoff(
        ctx,
        user=user,
        account=account,
        service=Service.WEBMAIL,
        method=METHOD,
        tag=tag,
        bound_address=bound,
    )
    return _answer(handoff)


async def _for_mailbox(ctx: CallContext, mailbox: Mailbox, bound: str | None) -> dict[str, Any]:
    return await _webmail_session(ctx, mailbox.address, mailbox.account, TAG_MAIL_USER, bound)


@registry.cpanel(
    Api.UAPI, "Session", "create_webmail_session_for_self", sets_password=False, feature=FEATURE
)
async def create_webmail_session_for_self(ctx: CallContext, args: Params) -> dict[str, Any]:
    bound = _options(ctx, args)
    account = ctx.acting_account()
    return await _webmail_session(ctx, account.user, account.user, TAG_SELF, bound)


@registry.cpanel(
    Api.UAPI,
    "Session",
    "create_webmail_session_for_mail_user",
    sets_password=False,
    feature=FEATURE,
)
async def create_webmail_session_for_mail_user(ctx: CallContext, args: Params) -> dict[str, Any]:
    bound = _options(ctx, args)
    return await _for_mailbox(ctx, await _mailbox(ctx, args), bound)


@registry.cpanel(
    Api.UAPI,
    "Session",
    "create_webmail_session_for_mail_user_check_password",
    sets_password=False,
    feature=FEATURE,
)
async def create_webmail_session_for_mail_user_check_password(
    ctx: CallContext, args: Params
) -> dict[str, Any]:
    bound = _options(ctx, args)
    mailbox = await _mailbox(ctx, args)
    given = Secret(args.require("password"))
    guard = ctx.runtime.guard
    webmail, password = Service.WEBMAIL.value, Method.PASSWORD
    try:
        # regulated like a Webmail login (BF-1): refused unchecked when blocked (BF-2)
        async with guard.attempt(ctx.client_address, mailbox.address, webmail, password) as gate:
            await gate.reserve()
            verified = await ctx.runtime.passwords.verify(mailbox.password_hash, given)
            if not verified.ok:
                raise MailboxPasswordIncorrect(mailbox.address)
    except AuthenticationFailed as refused:
        raise MailboxPasswordIncorrect(mailbox.address, refused.detail) from None
    return await _for_mailbox(ctx, mailbox, bound)
