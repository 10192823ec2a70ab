"""Two-factor pages: the code form of a pending login (w§9, D5) and enrolment (w§13).

Enrolment and removal run the core use cases (core.credential_changes) that UAPI
`TwoFactorAuth::*`, WHM `twofactorauth_*` and the command line run, with the same right (the
`twofactorauth` feature on cPanel and Webmail), so every path decides, ends sessions and
records alike (AZ-1). Removal also needs a re-authentication in the same form (ASVS 7.5.1, see
security_pages).
"""

from __future__ import annotations

import segno
from aiohttp import web
from markupsafe import Markup

from panelauth.core.hulk import Method
from panelauth.core.models import Identity
from panelauth.core.reauthentication import principal_of
from panelauth.core.sessions import Session
from panelauth.core.stores import StepUse
from panelauth.errors import AuthenticationFailed, FunctionFailed, TwoFactorFailed
from panelauth.protocol.cookies import set_cookie_header
from panelauth.protocol.paths import RequestPath
from panelauth.protocol.services import Listener
from panelauth.server import pages, responses
from panelauth.server.navigation import HOMES
from panelauth.server.page_call import PageCall
from panelauth.server.request_info import RequestFacts
from panelauth.server.security_pages import NOT_OFFERED, offered, reauthenticate
from panelauth.server.state import ServerState


class TwoFactorPages:
    def __init__(self, listener: Listener, state: ServerState):
        self.listener = listener
        self.service = listener.service
        self.state = state
        self.landing = HOMES[listener.service]

    # -- the pending-2FA session: only the code form or logout (w§9, TF-5) ---------------------

    async def pending(
        self, request: web.BaseRequest, path: RequestPath, info: RequestFacts, session: Session
    ) -> web.StreamResponse:
        action = f"{session.security_token}{path.path}"
        if request.method != "POST":
            return self._code_form(session, action, None)
        code = (await info.form(request)).get("tfatoken", "")
        sessions = self.state.sessions
        runtime = self.state.runtime
        try:
            # regulated like any code (BF-1): refused unchecked while blocked (BF-2)
            async with runtime.guard.attempt(
                info.address, session.user, self.service.value, Method.OTP
            ):
                verified = await runtime.two_factor.verify(session.user, code)
                # CV-8: success makes a new session, spending the code in the same transaction
                created = await sessions.successor(
                    session,
                    method=session.method,
                    path="form",
                    address=info.address,
                    user_agent=request.headers.get("User-Agent", ""),
                    spend=StepUse(session.user, verified.step, "session", info.address),
                )
        except (TwoFactorFailed, AuthenticationFailed) as failed:
            self._log_failure(session, info, failed.detail)
            return self._code_form(session, action, "The security code is not valid.")
        await sessions.purge(session.session_id, "loginsuccess", info.address)
        self.state.login_log.success(address=info.address, user=session.user, service=self.service)
        response = responses.redirect(302, f"{created.session.security_token}/{self.landing}")
        response.headers["Set-Cookie"] = set_cookie_header(self.service, created.cookie_value)
        return response

    def _code_form(self, session: Session, action: str, message: str | None) -> web.Response:
        html = pages.render(
            "tfa_login.html",
            self.service,
            heading="Two-Factor Authentication",
            action=action,
            token=session.security_token,
            message=message,
        )
        return responses.html_response(200, html)

    def _log_failure(self, session: Session, info: RequestFacts, detail: str) -> None:
        self.state.authentication_failed(
            address=info.address,
            claimed_user=session.user,
            request=info.request_line,
            service=self.service,
            reason=detail,
            factor="totp",
        )

    # -- enrolment ------------------------------------------------------------------------------

    async def setup(self, call: PageCall) -> web.Response:
        request, session, identity, info = call.request, call.session, call.identity, call.info
        can = (await offered(self.state, self.service, identity)).two_factor
        http_status, message = 200, None
        if request.method == "POST":
            form = await info.form(request)
            if not can:
                http_status, message = 403, NOT_OFFERED
            elif form.get("action") == "remove":
                http_status, message = await self._remove(session, identity, form, info)
            else:
                http_status, message = await self._enrol(session, identity, form, info)
        runtime = self.state.runtime
        enabled = await runtime.two_factor.enrolled(identity.user)
        secret = qr_svg = ""
        if can and not enabled:
            account = await runtime.store.get_account(identity.account or identity.user)
            try:
                new = await runtime.credential_changes().new_two_factor_secret(
                    identity.user, account
                )
            except FunctionFailed:
                pass  # the policy is off: the page says so
            else:
                secret = new.secret
                qr_svg = segno.make(new.otpauth_uri, error="m").svg_inline(scale=4)
        return call.render(
            "tfa_setup.html",
            status=http_status,
            message=message,
            policy_enabled=await runtime.two_factor.policy_enabled(),
            enabled=enabled,
            user=identity.user,
            principal=principal_of(identity),
            secret=secret,
            qr_svg=Markup(qr_svg),  # noqa: S704 - segno's own SVG
        )

    async def _enrol(
        self, session: Session, identity: Identity, form: dict[str, str], info: RequestFacts
    ) -> tuple[int, str]:
        """Turn the own second factor on with a code of the shown key (TF-9)."""
        try:
            await self.state.runtime.credential_changes().enrol_two_factor(
                identity.user,
                form.get("secret", ""),
                form.get("tfa_token", ""),
                actor=identity.user,
                keep=session.session_id,
                address=info.address,
            )
        except FunctionFailed as refused:
            return 200, refused.message
        return 200, "Saved."

    async def _remove(
        self, session: Session, identity: Identity, form: dict[str, str], info: RequestFacts
    ) -> tuple[int, str]:
        """Remove the identity's own second factor, after a re-authentication (TF-9)."""
        refused = await reauthenticate(self.state, self.service, identity, form, info)
        if refused is not None:
            return 403, refused
        removed = await self.state.runtime.credential_changes().remove_two_factor(
            identity.user, actor=identity.user, keep=session.session_id, address=info.address
        )
        if not removed:
            return 200, "Two-factor authentication is not configured."
        return 200, "Two-factor authentication is off. Your other sessions have ended."
