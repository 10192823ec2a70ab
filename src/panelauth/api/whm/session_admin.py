"""WHM API 1 `panelauth_list_sessions` and `panelauth_kill_sessions` (SE-9, docs/api.md).

panelauth's own functions (cPanel has no equivalent). Any WHM user may call them; ownership
decides what they reach: root every session, a reseller its own and those of the accounts it
owns (their mailboxes' included). An absent user or session and one the caller may not see get
the same 403 (no enumeration). Every end is a session-log PURGE with the reason `kill`.
"""

from __future__ import annotations

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry, Reply
from panelauth.api.session_view import describe
from panelauth.core.session_manager import KILL
from panelauth.core.sessions import Session
from panelauth.errors import InvalidArgument, PermissionDenied
from panelauth.protocol.params import Params

registry = Registry()


async def _users(ctx: CallContext) -> list[str]:
    """The caller and the accounts it owns (root: every account)."""
    me = ctx.identity.user
    owner = None if ctx.identity.is_root else me
    owned = [a.user for a in await ctx.store.list_accounts(owner=owner) if a.user != me]
    return [me, *owned]


async def _target(ctx: CallContext, user: str) -> str:
    """A user whose sessions the caller may see, or the one 403 for absent and foreign."""
    account = await ctx.store.get_account(user)
    if account is None:
        raise PermissionDenied()
    if account.is_root:
        if not ctx.identity.is_root:
            raise PermissionDenied()
    elif not ctx.may_manage(account):
        raise PermissionDenied()
    return account.user


async def _visible(ctx: CallContext, user: str) -> list[Session]:
    sessions = ctx.runtime.sessions
    if user:
        return await sessions.live_sessions(await _target(ctx, user))
    found: dict[str, Session] = {}
    for name in await _users(ctx):
        for session in await sessions.live_sessions(name):
            found.setdefault(session.session_id, session)
    return sorted(found.values(), key=lambda s: (s.created_at, s.session_id))


async def _may_see(ctx: CallContext, session: Session) -> bool:
    if ctx.identity.is_root:
        return True
    account = await ctx.store.get_account(session.account or session.user)
    return account is not None and not account.is_root and ctx.may_manage(account)


@registry.whm1("panelauth_list_sessions")
async def panelauth_list_sessions(ctx: CallContext, args: Params) -> Reply:
    current = ctx.identity.session_id
    data = [describe(s, current) for s in await _visible(ctx, args.get("user", ""))]
    return Reply({"sessions": data}, reason="OK")


@registry.whm1("panelauth_kill_sessions")
async def panelauth_kill_sessions(ctx: CallContext, args: Params) -> Reply:
    user, session_id, every = args.get("user", ""), args.get("session", ""), args.get_bool("all")
    if [bool(user), bool(session_id), every].count(True) != 1:
        raise InvalidArgument("Give exactly one of “user”, “session” or “all=1”.")
    sessions = ctx.runtime.sessions
    address = ctx.client_address
    killed = 0
    if session_id:
        session = await ctx.store.get_session(session_id)
        if session is None or not await _may_see(ctx, session):
            raise PermissionDenied()
        killed = int(await sessions.purge(session.session_id, KILL, address))
    else:
        # the caller's own session survives `user` and `all` (end it with `session`)
        keep = ctx.identity.session_id
        for session in await _visible(ctx, user):
            if session.session_id != keep:
                killed += int(await sessions.purge(session.session_id, KILL, address))
    return Reply({"killed": killed}, reason=f"Ended {killed} session(s).")
