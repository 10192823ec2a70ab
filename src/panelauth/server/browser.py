"""HTML paths: login and logout, landing pages, hand-off URLs and session transfers (w§3-§10, §17).

Header authentication is ignored here (w§2.0): pages are reached with a session cookie and the
`/cpsess` token only. Nothing here writes session state for a request that is not
authenticated (CV-1), except the bounded wrong-token counter.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from aiohttp import web

from panelauth.core.authentication import AuthAttempt, SessionAuthenticator
from panelauth.core.models import Identity
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.stores import StepUse
from panelauth.errors import AuthenticationFailed, SessionRefused, TwoFactorFailed
from panelauth.protocol.authorization import MalformedCredentials, form_credentials
from panelauth.protocol.cookies import (
    clear_cookie_header,
    encode_cookie_value,
    parse_cookie_value,
    set_cookie_header,
)
from panelauth.protocol.paths import RequestPath, safe_goto
from panelauth.protocol.services import Listener, Service
from panelauth.server import navigation, pages, responses
from panelauth.server.access_key_page import AccessKeyPage
from panelauth.server.accounts_page import AccountsPage
from panelauth.server.email_page import EmailPage
from panelauth.server.home_page import HomePage
from panelauth.server.hulk_pages import HulkPage
from panelauth.server.navigation import HOMES
from panelauth.server.page_call import Page, PageCall
from panelauth.server.render import not_found_page
from panelauth.server.request_info import RequestFacts
from panelauth.server.rules import check_page_request
from panelauth.server.security_pages import SecurityPages
from panelauth.server.session_pages import SessionsPage
from panelauth.server.state import ServerState
from panelauth.server.token_pages import TokensPage
from panelauth.server.transfers import Transfers
from panelauth.server.twofactor_pages import TwoFactorPages

log = logging.getLogger(__name__)

PURGE_ON_CONSUME = {
    Service.CPANEL: "xfercpanel",
    Service.WHM: "xferwhm",
    Service.WEBMAIL: "xferwebmail",
}


class Browser:
    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.listener = listener
        self.service = listener.service
        self.state = state
        self.sessions = SessionAuthenticator(state.sessions)
        self.transfers = Transfers(listener, state, self.sessions)
        self.two_factor = TwoFactorPages(listener, state)
        self.security = SecurityPages(listener, state)
        self.hulk = HulkPage(listener, state)
        self.access_key = AccessKeyPage(listener, state)
        self.sessions_page = SessionsPage(listener.service, state)
        self.home = HomePage(state)
        # every page behind the session, by its path (server/navigation.py lists and guards them)
        self.handlers: dict[str, Page] = {
            HOMES[self.service]: self.home.page,
            "twofactor": self.two_factor.setup,
            "security": self.security.page,
            "sessions": self.sessions_page.page,
            "accesskey": self.access_key.page,
            "cphulk": self.hulk.page,
            "tokens": TokensPage(listener, state).page,
            "accounts": AccountsPage(listener, state).page,
            "email": EmailPage(listener, state).page,
        }

    async def handle(
        self, request: web.BaseRequest, info: RequestFacts
    ) -> tuple[web.StreamResponse, Identity | None]:
        path = info.path
        segments = path.segments
        first = segments[0] if segments else ""
        if first == "unprotected" and len(segments) == 2:
            return _static(segments[1]), None
        if first in ("logout",) and len(segments) <= 2:
            return await self._logout(request, info), None
        if first == "login" and len(segments) <= 2:
            return await self._login_path(request, path, info), None
        if segments in ((), ("",)) and path.security_token is None:
            return self._login_page(200, None), None
        if first.startswith("xfer"):
            return await self.transfers.handle(request, info)
        return await self._page(request, path, info)

    # -- login ---------------------------------------------------------------------------------

    def _login_page(self, status: int, code: str | None) -> web.Response:
        return responses.html_response(status, pages.login_page(self.service, code))

    async def _login_path(
        self, request: web.BaseRequest, path: RequestPath, info: RequestFacts
    ) -> web.StreamResponse:
        query = dict(parse_qsl(info.query, keep_blank_values=True))
        if request.method == "GET":
            if "session" in query:
                return await self._consume(request, path, info, query["session"], query)
            return self._login_page(200, query.get("msg_code"))
        if request.method != "POST":
            return responses.text_response(405, "Method Not Allowed")
        form = await info.form(request)
        if "session" in form:
            return await self._consume(request, path, info, form["session"], form)
        return await self.login(request, info, form, json_answer="login_only" in query)

    async def login(
        self,
        request: web.BaseRequest,
        info: RequestFacts,
        form: dict[str, str],
        *,
        json_answer: bool,
    ) -> web.StreamResponse:
        """`POST /login` (302) or `/login/?login_only=1` (JSON), w§3 and D4."""
        user = form.get("user", "")
        guard = self.state.runtime.guard
        gate = None
        try:
            credentials = form_credentials(user, form.get("pass", ""))
            # the password and the code are one attempt for brute-force protection: it is
            # settled once both are known, so right passwords with wrong codes add up (BF-1)
            identity, gate = await self.state.authenticator.first_factor(
                AuthAttempt(credentials, self.service, info.address, check_second_factor=False)
            )
            state, spend = await self._second_factor(identity, form.get("tfa_token"), info)
            # w§3.5: a new session every time; the one this browser held is replaced
            created = await self.state.sessions.create(
                user=identity.user,
                account=identity.account,
                service=self.service,
                kind=SessionKind.PASSWORD,
                state=state,
                creator=identity.user,
                method="handle_form_login",
                path="form",
                address=info.address,
                bind=True,
                user_agent=info.user_agent or "",
                spend=spend,
            )
        except (MalformedCredentials, AuthenticationFailed, TwoFactorFailed) as failure:
            if gate is not None:  # the password passed: a wrong or replayed code is counted
                await guard.fail(gate, failure)
            detail = failure.reason if isinstance(failure, MalformedCredentials) else failure.detail
            return await self._refuse_login(request, info, user, detail, json_answer)
        except Exception:
            if gate is not None:
                await guard.release(gate)
            raise
        if gate is not None:
            # complete: its pair is cleared; pending a code: only taken back (BF-7)
            done = guard.succeed if state is SessionState.ACTIVE else guard.release
            await done(gate)
        for old, _ in await self.state.sessions.live(info.cookies, self.service):
            if old.session_id != created.session.session_id:
                await self.state.sessions.purge(old.session_id, "loginsuccess", info.address)
        if state is SessionState.ACTIVE:
            self.state.login_log.success(
                address=info.address, user=identity.user, service=self.service
            )
        token = created.session.security_token
        landing = f"{token}{safe_goto(form.get('goto_uri')) or '/' + HOMES[self.service]}"
        cookie = set_cookie_header(self.service, created.cookie_value)
        if json_answer:
            document = {"status": 1, "security_token": token, "redirect": landing}
            response = responses.json_response(200, document)
        else:
            response = responses.redirect(302, landing)
        response.headers["Set-Cookie"] = cookie
        return response

    async def _refuse_login(
        self,
        request: web.BaseRequest,
        info: RequestFacts,
        user: str,
        detail: str,
        json_answer: bool,
    ) -> web.Response:
        await self._login_failed(request, info, user, detail)
        if json_answer:
            document = {"status": 0, "message": "see_login_log"}
            return responses.json_response(401, document, reason="Access Denied")
        response = self._login_page(401, "invalid_login")
        response.set_status(401, "Access Denied")
        return response

    async def _second_factor(
        self, identity: Identity, code: str | None, info: RequestFacts
    ) -> tuple[SessionState, StepUse | None]:
        """D5: a code with the password gives a full session; none gives a pending one.

        The code's step is spent by the transaction that creates the session (TF-2).
        """
        two_factor = self.state.runtime.two_factor
        if not await two_factor.required(identity.user):
            return SessionState.ACTIVE, None
        if not code:
            return SessionState.PENDING_2FA, None
        verified = await two_factor.verify(identity.user, code)
        return SessionState.ACTIVE, StepUse(identity.user, verified.step, "session", info.address)

    async def _login_failed(
        self, request: web.BaseRequest, info: RequestFacts, user: str, detail: str
    ) -> None:
        self.state.authentication_failed(
            address=info.address,
            claimed_user=user,
            request=info.request_line,
            service=self.service,
            reason=detail,
            factor="password",
        )
        # a failed re-login ends the session it was made from (w§14.1 "badpass")
        for old, _ in await self.state.sessions.live(info.cookies, self.service):
            if old.user == user:
                await self.state.sessions.purge(old.session_id, "badpass", info.address)

    # -- hand-off URLs (w§10.3, §17) -------------------------------------------------------------

    async def _consume(
        self,
        request: web.BaseRequest,
        path: RequestPath,
        info: RequestFacts,
        value: str,
        params: dict[str, str],
    ) -> web.StreamResponse:
        sessions = self.state.sessions
        handoff = await sessions.consume_handoff(
            value, self.service, path.security_token, info.address
        )
        if handoff is None:
            # the same browser, already holding the session, just goes on (w§10.3)
            for held, _ in await sessions.live(info.cookies, self.service):
                if held.state is SessionState.ACTIVE and held.security_token == path.security_token:
                    return responses.redirect(302, f"{held.security_token}/{HOMES[self.service]}")
            # a remote-login URL (w§18): a live password session, usable again
            adopted = await sessions.adopt(value, self.service, path.security_token, info.address)
            if adopted is None:
                return self._login_page(401, "invalid_session")
            credential = parse_cookie_value(value)
            assert credential is not None  # adopt found the session by it
            target = safe_goto(params.get("goto_uri")) or "/" + HOMES[self.service]
            response = responses.redirect(302, f"{adopted.security_token}{target}")
            cookie = encode_cookie_value(credential.session_id, credential.secret)
            response.headers["Set-Cookie"] = set_cookie_header(self.service, cookie)
            return response
        credential = parse_cookie_value(value)
        assert credential is not None  # consume_handoff accepted it
        session = handoff
        cookie_value = encode_cookie_value(credential.session_id, credential.secret)
        if handoff.kind is not SessionKind.SSO:
            # a transfer: the hand-off is spent and a new session begins (w§17)
            await sessions.purge(handoff.session_id, PURGE_ON_CONSUME[self.service], info.address)
            created = await sessions.successor(
                handoff,
                method="handle_auth_transfer",
                path="xfer",
                address=info.address,
                user_agent=info.user_agent or "",
            )
            session, cookie_value = created.session, created.cookie_value
        self.state.login_log.success(
            address=info.address,
            user=session.user,
            service=self.service,
            possessor=session.possessor,
        )
        target = safe_goto(params.get("goto_uri")) or "/" + HOMES[self.service]
        response = responses.redirect(302, f"{session.security_token}{target}")
        response.headers["Set-Cookie"] = set_cookie_header(self.service, cookie_value)
        return response

    # -- logout (w§7) ----------------------------------------------------------------------------

    async def _logout(self, request: web.BaseRequest, info: RequestFacts) -> web.Response:
        for session, _ in await self.state.sessions.live(info.cookies, self.service):
            await self.state.sessions.purge(session.session_id, "logout", info.address)
        response = responses.redirect(302, "/")
        response.headers["Set-Cookie"] = clear_cookie_header(self.service)
        return response

    # -- cookie-authenticated pages ---------------------------------------------------------------

    async def _page(
        self, request: web.BaseRequest, path: RequestPath, info: RequestFacts
    ) -> tuple[web.StreamResponse, Identity | None]:
        if not info.cookies:
            return responses.redirect(302, "/login/"), None
        check_page_request(info)
        try:
            session, identity = await self.sessions.resolve(
                info.cookies, self.service, path.security_token, info.address
            )
        except SessionRefused as refused:
            if isinstance(refused.pending, Session):
                return await self.two_factor.pending(request, path, info, refused.pending), None
            raise  # the login page or Token Denied (server/render.py)
        await self.state.runtime.guard.admit_session(info.address, identity)  # pages too (BF-1)
        entry = navigation.entry_for(self.service, path.segments)
        shown = [
            page
            for page in await navigation.visible(self.state, self.service, identity)
            if page.path in self.handlers
        ]
        if entry is None or entry not in shown:
            return not_found_page(self.service), identity  # unknown, or not this user's
        frame = navigation.frame(
            self.service,
            user=identity.user,
            possessor=session.possessor,
            token=session.security_token,
            shown=shown,
            current=entry,
            transfers=await self.transfers.links(session, identity),
        )
        call = PageCall(request, session, identity, info, entry, frame)
        return await self.handlers[entry.path](call), identity


def _static(name: str) -> web.Response:
    found = pages.static_file(name)
    if found is None:
        return responses.text_response(404, "Not Found")
    body, content_type = found
    headers = dict(responses.BASE_HEADERS)
    headers["Content-Type"] = content_type
    headers["Cache-Control"] = "public, max-age=3600"
    return web.Response(body=body, headers=headers)
