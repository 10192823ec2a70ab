"""WHM API 1 `create_user_session` (w§10.1, D8): a single-use login URL for an account.

Rights (w§10.1, §16.3): the ACL `create-user-session` (declared, so a reseller or a token
without it is refused before anything is looked up); root for any account, but never a
cPanel or Webmail session for itself; a reseller for itself and the accounts it owns (and
their mailboxes). An absent target and one the caller may not act for get the same 403.
Every other refusal is result 0 with a reason, and nothing is stored.
"""

from __future__ import annotations

import re
from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.handoffs import (
    create_handoff,
    login_url,
    query_value,
    valid_locale,
)
from panelauth.api.registry import Registry, Reply
from panelauth.core.models import Account
from panelauth.errors import FunctionFailed, InvalidArgument, PermissionDenied
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service

registry = Registry()
ACL = "create-user-session"
METHOD = "create_user_session"
_APP = re.compile(r"[A-Za-z0-9_]{1,64}")
# documented application keys and where they land (w§10.1 `app`); an unknown key lands on
# the service's home page
APP_LANDINGS: dict[Service, dict[str, str]] = {
    Service.CPANEL: {
        "Email_Accounts": "/frontend/jupiter/email_accounts/index.html",
        "FileManager_Home": "/frontend/jupiter/filemanager/index.html",
    },
    Service.WEBMAIL: {},
    Service.WHM: {},
}


def _service(text: str) -> Service:
    try:
        return Service(text)
    except ValueError:
        raise InvalidArgument(
            "The “service” parameter must be cpaneld, whostmgrd or webmaild."
        ) from None


async def _target(ctx: CallContext, user: str, service: Service) -> tuple[str, Account]:
    """(identity, account) of the session, or the one 403 for absent and foreign targets."""
    store = ctx.store
    if service is Service.WEBMAIL and "@" in user:
        mailbox = await store.get_mailbox(user.lower())
        account = await store.get_account(mailbox.account) if mailbox is not None else None
        if mailbox is None or account is None or not ctx.may_manage(account):
            raise PermissionDenied()
        if mailbox.suspended_login:
            raise FunctionFailed(f"The email account “{mailbox.address}” is suspended.")
        return mailbox.address, account
    account = await store.get_account(user)
    if account is None:
        raise PermissionDenied()
    if account.is_root:
        if not ctx.identity.is_root:
            raise PermissionDenied()
    elif not ctx.may_manage(account):
        raise PermissionDenied()
    return account.user, account


async def _check(ctx: CallContext, account: Account, service: Service) -> None:
    if account.is_root and service is not Service.WHM:
        raise FunctionFailed("root has no cPanel or Webmail session.")
    if service is Service.WHM and not (account.is_root or account.is_reseller):
        raise FunctionFailed("whostmgrd sessions exist only for root and resellers.")
    if account.suspended:
        raise FunctionFailed(f"The account “{account.user}” is suspended.")


def _preferred_host(ctx: CallContext, account: Account, text: str) -> str:
    host = text.strip().lower().strip("[]")
    served = ctx.runtime.settings.is_server_name(host) or (
        not account.is_root and host == account.domain.lower()
    )
    if not served:
        raise InvalidArgument("The “preferred_domain” parameter must name this server.")
    return host


@registry.whm1("create_user_session", acl=ACL)
async def create_user_session(ctx: CallContext, args: Params) -> Reply:
    user = args.require("user")
    service = _service(args.require("service"))
    name, account = await _target(ctx, user, service)
    await _check(ctx, account, service)
    app = args.get("app", "")
    if app and not _APP.fullmatch(app):
        raise InvalidArgument("The “app” parameter is not a valid application key.")
    locale = valid_locale(args.get("locale", "")) if args.get("locale") else ""
    preferred = args.get("preferred_domain", "")
    host = _preferred_host(ctx, account, preferred) if preferred else ctx.public_host()
    # `cp_security_token` is accepted and ignored: a fresh token is always issued (w§10.1)
    handoff = await create_handoff(
        ctx,
        user=name,
        account=None if account.is_root else account.user,
        service=service,
        method=METHOD,
        tag=METHOD,
    )
    url = login_url(ctx, host, service, handoff)
    landing = APP_LANDINGS[service].get(app)
    if landing:
        url += f"&goto_uri={query_value(landing)}"
    if locale:
        url += f"&locale={locale}"
    data: dict[str, Any] = {
        "url": url,
        "session": handoff.session_value,
        "cp_security_token": handoff.created.session.security_token,
        "expires": handoff.expires,
        "service": service.value,
    }
    if locale:
        data["locale"] = locale
    return Reply(data, reason="Created session")
