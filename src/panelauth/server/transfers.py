"""Session transfers between cPanel, WHM and Webmail (w§17, SS-5, SS-6).

The source is a live, fully verified cookie session with its security token, over TLS. The
answer is a one-time hand-off URL on the target service, consumed like an SSO URL (w§10.3).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web

from panelauth.core.authentication import SessionAuthenticator
from panelauth.core.models import Identity, IdentityKind
from panelauth.core.session_manager import handoff_kind
from panelauth.core.sessions import Session, SessionState
from panelauth.errors import TransferDenied
from panelauth.protocol.services import Listener, Service
from panelauth.server import pages, responses
from panelauth.server.render import error_response
from panelauth.server.request_info import RequestFacts, public_host
from panelauth.server.rules import check_page_request
from panelauth.server.state import ServerState

ROUTES = {
    (Service.WHM, "xfercpanel"): Service.CPANEL,
    (Service.CPANEL, "xferwhm"): Service.WHM,
    (Service.CPANEL, "xferwebmail"): Service.WEBMAIL,
    (Service.WEBMAIL, "xfercpanel"): Service.CPANEL,
}


class Transfers:
    def __init__(self, listener: Listener, state: ServerState, sessions: SessionAuthenticator):
        self.listener = listener
        self.state = state
        self.sessions = sessions

    async def handle(
        self, request: web.BaseRequest, info: RequestFacts
    ) -> tuple[web.StreamResponse, Identity | None]:
        path = info.path
        target_service = ROUTES.get((self.listener.service, path.segments[0]))
        if target_service is None or len(path.segments) > 2:
            return responses.html_response(404, _page(self.listener.service, "Not Found")), None
        form = await info.form(request) if request.method == "POST" else {}
        supplied = path.security_token or form.get("token") or None
        check_page_request(info)
        session, identity = await self.sessions.resolve(
            info.cookies, self.listener.service, supplied, info.address
        )
        named = path.segments[1] if len(path.segments) == 2 else ""
        wanted = form.get("user") or named or dict(_query(info.query)).get("user", "")
        try:
            user, account = await self._target(target_service, session, identity, wanted)
        except TransferDenied as denied:  # a failing store is not a denial: 503 (w§15.5)
            return error_response(denied, self.listener.service, None), identity
        creator = identity.user
        created = await self.state.sessions.create(
            user=user,
            account=account,
            service=target_service,
            kind=handoff_kind(target_service),
            state=SessionState.UNUSED,
            creator=creator,
            possessor=creator if creator != user else session.possessor,
            method="handle_auth_transfer",
            path="xfer",
            address=info.address,
            bind=False,
        )
        offset = self.listener.port_offset
        host = public_host(request, self.state.settings)
        location = (
            f"https://{host}:{target_service.tls_port + offset}"
            f"{created.session.security_token}/login/?session={created.cookie_value}"
        )
        return responses.redirect(302, location), identity

    async def _target(
        self, target: Service, session: Session, identity: Identity, wanted: str
    ) -> tuple[str, str | None]:
        """(user, account) of the target session, or TransferDenied (w§17 table)."""
        store = self.state.runtime.store
        if target is Service.CPANEL and self.listener.service is Service.WHM:
            account = await store.get_account(wanted) if wanted else None
            if account is None or account.is_root:
                raise TransferDenied()
            if not identity.is_root and identity.user not in (account.user, account.owner):
                raise TransferDenied()
            return account.user, account.user
        if target is Service.WHM:
            account = await store.get_account(identity.account or "")
            if account is None or not account.is_reseller:
                raise TransferDenied()
            return account.user, None if account.is_root else account.user
        if target is Service.WEBMAIL:
            owner = identity.account or ""
            if not wanted or wanted == owner:
                return owner, owner
            mailbox = await store.get_mailbox(wanted.lower())
            if mailbox is None or mailbox.account != owner:
                raise TransferDenied()
            return mailbox.address, owner
        # Webmail -> cPanel: only the owning cPanel identity, never a plain mailbox login (SS-6)
        owner = identity.account or ""
        if identity.kind is not IdentityKind.MAIL or owner not in (session.user, session.possessor):
            raise TransferDenied()
        return owner, owner

    async def links(self, session: Session, identity: Identity) -> list[pages.Link]:
        token = session.security_token
        service = self.listener.service
        found: list[pages.Link] = []
        if service is Service.CPANEL:
            found.append(pages.Link("to-webmail", f"{token}/xferwebmail/", "Webmail"))
            account = await self.state.runtime.store.get_account(identity.account or "")
            if account is not None and account.is_reseller:
                found.append(pages.Link("to-whm", f"{token}/xferwhm/", "WHM"))
        elif service is Service.WEBMAIL and (identity.account or "") in (
            session.user,
            session.possessor,
        ):
            found.append(pages.Link("to-cpanel", f"{token}/xfercpanel/", "cPanel"))
        return found


def _query(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, errors="strict", max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return []


def _page(service: Service, heading: str) -> str:
    return pages.render("not_found.html", service, heading=heading)
