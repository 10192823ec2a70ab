"""Single sign-on URLs handed out by API functions (w§10.1, §10.2, D8).

The session is an ordinary SessionManager record of kind `sso`, state `unused`, two-factor
satisfied; it is used through the login path like a transfer hand-off (w§10.3,
`SessionManager.consume_handoff`), once, within 5 minutes, then lives 15 minutes idle.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from panelauth.api.context import CallContext
from panelauth.core.session_manager import Created
from panelauth.core.sessions import SessionKind, SessionState
from panelauth.errors import InvalidArgument
from panelauth.protocol.services import Service

_LOCALE = re.compile(r"[a-z0-9_-]{1,16}")


@dataclass(frozen=True, slots=True)
class Handoff:
    created: Created
    expires: int  # creation + 300 (w§10.1)

    @property
    def session_value(self) -> str:
        """`<id>,<secret>` as the answer's `session` shows it (not URL-encoded)."""
        return unquote(self.created.cookie_value)


def valid_locale(locale: str) -> str:
    """w§10.1: lower case, at most 16 characters."""
    if not _LOCALE.fullmatch(locale):
        raise InvalidArgument(
            "The “locale” parameter must be a lower-case locale tag of at most 16 characters."
        )
    return locale


def valid_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidArgument("The “remote_address” parameter must be an IP address.") from None


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def create_handoff(
    ctx: CallContext,
    *,
    user: str,
    account: str | None,
    service: Service,
    method: str,
    tag: str,
    bound_address: str | None = None,
) -> Handoff:
    """An unused SSO session for `user`, created by the caller and logged NEW (w§14.1)."""
    creator = ctx.identity.user
    created = await ctx.runtime.sessions.create(
        user=user,
        account=account,
        service=service,
        kind=SessionKind.SSO,
        state=SessionState.UNUSED,
        creator=creator,
        possessor=creator if creator != user else ctx.identity.possessor,
        method=method,
        path="api",
        address=bound_address or ctx.client_address,
        bind=bound_address is not None,
        tag=tag,
    )
    expires = int(created.session.created_at + ctx.runtime.sessions.policy.unused)
    return Handoff(created, expires)


def login_url(ctx: CallContext, host: str, service: Service, handoff: Handoff) -> str:
    """`https://host:<TLS port>/cpsessN/login/?session=...` (w§10.1, §10.3)."""
    port = service.tls_port + ctx.port_offset
    token = handoff.created.session.security_token
    return f"https://{url_host(host)}:{port}{token}/login/?session={handoff.created.cookie_value}"


def query_value(value: str) -> str:
    return quote(value, safe="/")
