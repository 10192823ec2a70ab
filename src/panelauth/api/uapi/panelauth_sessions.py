"""UAPI `PanelauthSessions::list` and `PanelauthSessions::kill`: one's own sessions (SE-9).

panelauth's own module. The sessions are those of the identity the call acts for: the cPanel
account (on the cPanel port, or through WHM for the account named), or in Webmail the mailbox
alone. Webmail-safe; no feature; a restricted WHM token needs `cpanel-api` only. Another
identity's session and an absent one get the same 403. Every end is a PURGE with `kill`.
"""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Api, Registry
from panelauth.api.session_view import describe
from panelauth.core.session_manager import KILL
from panelauth.errors import InvalidArgument, PermissionDenied
from panelauth.protocol.params import Params

registry = Registry()
MODULE = "PanelauthSessions"


def _owner(ctx: CallContext) -> str:
    """The identity whose sessions the call sees: the Webmail mailbox, else the account."""
    return ctx.mailbox or ctx.acting_account().user


@registry.cpanel(Api.UAPI, MODULE, "list", sets_password=False, webmail_safe=True)
async def list_sessions(ctx: CallContext, args: Params) -> list[dict[str, Any]]:
    sessions = await ctx.runtime.sessions.live_sessions(_owner(ctx), exact=True)
    return [describe(s, ctx.identity.session_id) for s in sessions]


@registry.cpanel(Api.UAPI, MODULE, "kill", sets_password=False, webmail_safe=True)
async def kill_sessions(ctx: CallContext, args: Params) -> dict[str, Any]:
    session_id, others = args.get("session", ""), args.get_bool("others")
    if bool(session_id) == others:
        raise InvalidArgument("Give exactly one of “session” or “others=1”.")
    manager = ctx.runtime.sessions
    owner, address = _owner(ctx), ctx.client_address
    if session_id:
        session = await ctx.store.get_session(session_id)
        if session is None or session.user != owner:
            raise PermissionDenied()
        return {"killed": int(await manager.purge(session.session_id, KILL, address))}
    killed = 0
    for session in await manager.live_sessions(owner, exact=True):
        if session.session_id != ctx.identity.session_id:
            killed += int(await manager.purge(session.session_id, KILL, address))
    return {"killed": killed}
