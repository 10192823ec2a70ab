"""Two-factor pages: the code form of a pending login (w§9, D5) and enrolment (w§13).

Enrolment runs the same API functions as UAPI `TwoFactorAuth::*` (cPanel, Webmail) and WHM
`twofactorauth_*`, so the page and the API decide alike (AZ-1). Removal needs a
re-authentication in the same form (ASVS 7.5.1, see security_pages) and then runs the core use
case those functions share.
"""

from __future__ import annotations

from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup

from panelauth.api.answers import Answer
from panelauth.api.registry import Api
from panelauth.core.models import Identity
from panelauth.core.reauthentication import principal_of
from panelauth.core.sessions import Session
from panelauth.core.stores import StepUse
from panelauth.core.two_factor import TwoFactorFailed
from panelauth.protocol.cookies import set_cookie_header
from panelauth.protocol.params import Params
from panelauth.protocol.paths import RequestPath
from panelauth.protocol.services import Listener, Service
from panelauth.server import pages, responses
from panelauth.server.request_info import RequestInfo
from panelauth.server.security_pages import NOT_OFFERED, offered, reauthenticate
from panelauth.server.state import ServerState

SETUP_PATH = "twofactor"


class TwoFactorPages:
    def __init__(self, listener: Listener, state: ServerState, landings: dict[Service, str]):
        self.listener = listener
        self.service = listener.service
        self.state = state
        self.landing = landings[listener.service]

    # -- the pending-2FA session: only the code form or logout (w§9, TF-5) ---------------------

    async def pending(
        self, request: web.BaseRequest, path: RequestPath, info: RequestInfo, session: Session
    ) -> web.StreamResponse:
        action = f"{session.security_token}{path.path}"
        if request.method != "POST":
            return self._code_form(session, action, None)
        code = (await info.form(request)).get("tfatoken", "")
        sessions = self.state.sessions
        try:
            verified = await self.state.runtime.two_factor.verify(session.user, code)
            # CV-8: success makes a new session, spending the code in the same transaction
            created = await sessions.successor(
                session,
                method=session.method,
                path="form",
                address=info.address,
                user_agent=request.headers.get("User-Agent", ""),
                spend=StepUse(session.user, verified.step, "session", info.address),
            )
        except TwoFactorFailed as failed:
            self._log_failure(session, info, failed)
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

    def _log_failure(self, session: Session, info: RequestInfo, failed: TwoFactorFailed) -> None:
        self.state.authentication_failed(
            address=info.address,
            claimed_user=session.user,
            request=info.request_line,
            service=self.service,
            reason=failed.detail,
            factor="totp",
        )

    # -- enrolment ------------------------------------------------------------------------------

    async def setup(
        self, request: web.BaseRequest, session: Session, identity: Identity, info: RequestInfo
    ) -> web.Response:
        http_status, message = 200, None
        if request.method == "POST":
            form = await info.form(request)
            if form.get("action") == "remove":
                http_status, message = await self._remove(session, identity, form, info)
            else:
                args = Params(
                    [("secret", form.get("secret", "")), ("tfa_token", form.get("tfa_token", ""))]
                )
                answer = await self._call(identity, info, "set", args)
                message = "Saved." if answer.succeeded else _reason(answer)
        status = await self._call(identity, info, "get", Params())
        enabled = _enabled(status, identity.user)
        secret = qr_svg = ""
        if not enabled:
            generated = await self._call(identity, info, "generate", Params())
            data = generated.document.get("data") or {}
            if generated.succeeded and isinstance(data, dict):
                secret = str(data["secret"])
                qr_svg = segno.make(str(data["otpauth_str"]), error="m").svg_inline(scale=4)
        html = pages.render(
            "tfa_setup.html",
            self.service,
            heading="Two-Factor Authentication",
            message=message,
            policy_enabled=await self.state.runtime.two_factor.policy_enabled(),
            enabled=enabled,
            user=identity.user,
            principal=principal_of(identity),
            secret=secret,
            qr_svg=Markup(qr_svg),  # noqa: S704 - segno's own SVG
            action=f"{session.security_token}/{SETUP_PATH}/",
            token=session.security_token,
            landing=self.landing,
        )
        return responses.html_response(http_status, html)

    async def _remove(
        self, session: Session, identity: Identity, form: dict[str, str], info: RequestInfo
    ) -> tuple[int, str]:
        """Remove the identity's own second factor, after a re-authentication (TF-9)."""
        if not (await offered(self.state, self.service, identity)).remove_two_factor:
            return 403, NOT_OFFERED
        refused = await reauthenticate(self.state, self.service, identity, form, info)
        if refused is not None:
            return 403, refused
        removed = await self.state.runtime.credential_changes().remove_two_factor(
            identity.user, actor=identity.user, keep=session.session_id, address=info.address
        )
        if not removed:
            return 200, "Two-factor authentication is not configured."
        return 200, "Two-factor authentication is off. Your other sessions have ended."

    async def _call(self, identity: Identity, info: RequestInfo, verb: str, args: Params) -> Answer:
        dispatcher = self.state.dispatcher
        if self.service is Service.WHM:
            names = {
                "get": "twofactorauth_get_user_configs",
                "generate": "twofactorauth_generate_tfa_config",
                "set": "twofactorauth_set_tfa_config",
            }
            if verb == "get":
                args = Params([("user", identity.user)])
            return await dispatcher.whm1(identity, names[verb], args, client_address=info.address)
        names = {
            "get": "get_user_configuration",
            "generate": "generate_user_configuration",
            "set": "set_user_configuration",
        }
        return await dispatcher.cpanel(
            Api.UAPI,
            identity,
            self.service,
            "TwoFactorAuth",
            names[verb],
            args,
            client_address=info.address,
        )


def _enabled(answer: Answer, user: str) -> bool:
    data: Any = answer.document.get("data")
    if not isinstance(data, dict):
        return False
    if "is_enabled" in data:  # UAPI
        return bool(data["is_enabled"])
    entry = data.get(user)  # WHM: {<user>: {is_enabled, ...}}
    return isinstance(entry, dict) and bool(entry.get("is_enabled"))


def _reason(answer: Answer) -> str:
    document = answer.document
    if "metadata" in document:
        return str(document["metadata"].get("reason", "Failed."))
    return "; ".join(document.get("errors") or ["Failed."])
