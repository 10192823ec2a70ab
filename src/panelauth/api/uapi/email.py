"""Mail accounts: UAPI `Email::add_pop/list_pops/delete_pop/passwd_pop`, API 2 `Email::listpops`.

All need the `popaccts` feature ("Email Accounts"). Only `passwd_pop` is Webmail-safe, and in
Webmail it acts only on the logged-in mailbox (w§16.6). `add_pop` and `passwd_pop` declare
`sets_password`: `add_pop` creates a mailbox with a password, so a restricted WHM token needs
`passwd` for either (w§16.7, docs/api.md).
"""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Api, Registry, Reply
from panelauth.core.models import Mailbox
from panelauth.core.patterns import compile_search
from panelauth.core.validation import normalize_domain, validate_local_part
from panelauth.errors import InvalidArgument, NotFound, PermissionDenied
from panelauth.protocol.params import Params

registry = Registry()
FEATURE = "popaccts"


def _address(ctx: CallContext, args: Params) -> tuple[str, str]:
    """(local part, domain) from `email` (a name or an address) and optional `domain`."""
    email = args.require("email")
    local, at, domain = email.rpartition("@")
    if not at:
        local, domain = email, args.get("domain", "") or ctx.acting_account().domain
    return validate_local_part(local), normalize_domain(domain)


async def _own_mailbox(ctx: CallContext, args: Params) -> Mailbox:
    local, domain = _address(ctx, args)
    address = f"{local}@{domain}"
    if ctx.mailbox is not None and ctx.mailbox != address:
        raise PermissionDenied("Webmail may act only on its own mailbox.")
    mailbox = await ctx.store.get_mailbox(address)
    if mailbox is None or mailbox.account != ctx.acting_account().user:
        raise NotFound(f"The email account “{address}” does not exist.")
    return mailbox


def _entry(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "email": mailbox.address,
        "login": mailbox.address,
        "suspended_incoming": 0,
        "suspended_login": int(mailbox.suspended_login),
    }


async def _entries(ctx: CallContext, args: Params) -> list[dict[str, Any]]:
    mailboxes = await ctx.store.list_mailboxes(ctx.acting_account().user)
    pattern = args.get("regex", "")
    if pattern:
        matches = compile_search(pattern)
        mailboxes = [m for m in mailboxes if matches(m.address)]
    return [_entry(m) for m in mailboxes]


@registry.cpanel(Api.UAPI, "Email", "add_pop", sets_password=True, feature=FEATURE)
async def add_pop(ctx: CallContext, args: Params) -> str:
    if args.get("password_hash"):
        raise InvalidArgument("The “password_hash” parameter is not supported; send “password”.")
    local, domain = _address(ctx, args)
    quota_text = args.get("quota", "0") or "0"
    if quota_text == "unlimited":
        quota_text = "0"
    if not quota_text.isdigit() or len(quota_text) > 9:
        raise InvalidArgument("The “quota” parameter must be a number of megabytes or “unlimited”.")
    mailbox = await ctx.accounts().add_mailbox(
        ctx.acting_account(),
        local_part=local,
        domain=domain,
        password=args.require("password"),
        quota_mb=int(quota_text),
    )
    return f"{mailbox.local_part}+{mailbox.domain}"


@registry.cpanel(Api.UAPI, "Email", "list_pops", sets_password=False, feature=FEATURE)
async def list_pops(ctx: CallContext, args: Params) -> list[dict[str, Any]]:
    return await _entries(ctx, args)


@registry.cpanel(Api.UAPI, "Email", "delete_pop", sets_password=False, feature=FEATURE)
async def delete_pop(ctx: CallContext, args: Params) -> None:
    mailbox = await _own_mailbox(ctx, args)
    await ctx.runtime.account_changes().remove_mailbox(
        mailbox.address, actor=ctx.identity.user, client=ctx.client_address
    )


@registry.cpanel(
    Api.UAPI, "Email", "passwd_pop", sets_password=True, feature=FEATURE, webmail_safe=True
)
async def passwd_pop(ctx: CallContext, args: Params) -> Reply:
    mailbox = await _own_mailbox(ctx, args)
    changed = await ctx.runtime.credential_changes().change_password(
        mailbox.address,
        args.require("password"),
        actor=ctx.identity.user,
        caller_session=ctx.identity.session_id,
        address=ctx.client_address,
        path="api",
    )
    return Reply(None, session=changed.rotated)


@registry.cpanel(Api.API2, "Email", "listpops", sets_password=False, feature=FEATURE)
async def listpops(ctx: CallContext, args: Params) -> list[dict[str, Any]]:
    return [{"email": e["email"], "login": e["login"]} for e in await _entries(ctx, args)]
