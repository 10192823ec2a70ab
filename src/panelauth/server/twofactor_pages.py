"""Two-factor pages: the code form of a pending login (w§9, D5), enrolment (w§13) and, on WHM,
its administration (issue 12).

Enrolment and removal run the core use cases (core.credential_changes) that UAPI
`TwoFactorAuth::*`, WHM `twofactorauth_*` and the command line run, with the same right (the
`twofactorauth` feature on cPanel and Webmail), so every path decides, ends sessions and
records alike (AZ-1). Removal also needs a re-authentication in the same form (ASVS 7.5.1, see
security_pages).

On WHM the page also calls WHM API 1 `twofactorauth_*` through the dispatcher, so ACLs,
ownership and records are exactly the API's: the policy switch (ACL `all`), the issuer (root
names the server's, a reseller with `create-acct` its accounts'), and the users the caller may
manage with their status. Removing a user's second factor needs its "Sure" box and the same
re-authentication as the own removal; an account the caller may not manage is refused as the
API refuses it, like an absent one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import segno
from aiohttp import web
from markupsafe import Markup

from panelauth.api.outcome import Outcome
from panelauth.api.whm.twofactor import OTHERS_ACL
from panelauth.core.hulk import Method
from panelauth.core.models import Identity
from panelauth.core.reauthentication import principal_of
from panelauth.core.sessions import Session
from panelauth.core.stores import StepUse
from panelauth.errors import AuthenticationFailed, FunctionFailed, TwoFactorFailed
from panelauth.protocol.cookies import set_cookie_header
from panelauth.protocol.params import Params
from panelauth.protocol.paths import RequestPath
from panelauth.protocol.services import Listener, Service
from panelauth.server import pages, responses
from panelauth.server.navigation import HOMES
from panelauth.server.page_call import PageCall
from panelauth.server.request_info import RequestFacts
from panelauth.server.security_pages import NOT_OFFERED, offered, reauthenticate
from panelauth.server.state import ServerState

UNKNOWN_ACTION: Final = "This page does not know that action."
# WHM's actions, each a WHM API 1 call; the policy switch's functions by the action's name
POLICY_FUNCTIONS: Final = {
    "policy_on": "twofactorauth_enable_policy",
    "policy_off": "twofactorauth_disable_policy",
}
ADMIN_ACTIONS: Final = frozenset({*POLICY_FUNCTIONS, "issuer", "remove_user"})
USER_FIELD_MAX: Final = 64  # user names have at most 16 characters; longer is never looked up
KEPT_MAX: Final = 256  # what a refused form shows again of a typed value


@dataclass(frozen=True, slots=True)
class Change:
    """What a POST came to: the answer's status, the message shown, and what was typed (never
    a secret) to fill the refused form again."""

    status: int
    message: str
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.status >= 400


@dataclass(frozen=True, slots=True)
class UserRow:
    user: str
    domain: str
    enabled: bool
    own: bool  # the caller's own row: its removal is the own section's


@dataclass(frozen=True, slots=True)
class Administration:
    """WHM's part of the page: what its user may see and change there."""

    root: bool
    policy_switch: bool
    issuer: str | None  # the issuer the caller's users see; None: the caller may not set it
    system_issuer: str
    users: tuple[UserRow, ...]


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

    # -- enrolment, and on WHM its administration -------------------------------------------

    async def setup(self, call: PageCall) -> web.Response:
        request, identity = call.request, call.identity
        can = (await offered(self.state, self.service, identity)).two_factor
        change = None
        if request.method == "POST":
            change = await self._change(call, can, await call.info.form(request))
        administration = None
        if self.service is Service.WHM:
            administration = await self._administration(identity, call.info)
        return call.render(
            "tfa_setup.html",
            status=change.status if change else 200,
            message=change.message if change else None,
            refused=change.refused if change else False,
            kept=change.kept if change else {},
            policy_enabled=await self.state.runtime.two_factor.policy_enabled(),
            user=identity.user,
            principal=principal_of(identity),
            admin=administration,
            **await self._own(identity, can),
        )

    async def _change(self, call: PageCall, can: bool, form: dict[str, str]) -> Change:
        session, identity, info = call.session, call.identity, call.info
        action = form.get("action", "")
        if self.service is Service.WHM and action in ADMIN_ACTIONS:
            return await self._administer(identity, info, action, form)
        if not can:
            return Change(403, NOT_OFFERED)
        if action == "remove":
            return await self._remove(session, identity, form, info)
        if action == "enable":
            return await self._enrol(session, identity, form, info)
        return Change(400, UNKNOWN_ACTION)

    async def _own(self, identity: Identity, can: bool) -> dict[str, Any]:
        """The own second factor: on, or a fresh key and its QR code to enrol with."""
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
        return {
            "enabled": enabled,
            "secret": secret,
            "qr_svg": Markup(qr_svg),  # noqa: S704 - segno's own SVG
        }

    async def _enrol(
        self, session: Session, identity: Identity, form: dict[str, str], info: RequestFacts
    ) -> Change:
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
            return Change(400, refused.message)
        return Change(200, "Saved.")

    async def _remove(
        self, session: Session, identity: Identity, form: dict[str, str], info: RequestFacts
    ) -> Change:
        """Remove the identity's own second factor, after a re-authentication (TF-9)."""
        refused = await reauthenticate(self.state, self.service, identity, form, info)
        if refused is not None:
            return Change(403, refused)
        removed = await self.state.runtime.credential_changes().remove_two_factor(
            identity.user, actor=identity.user, keep=session.session_id, address=info.address
        )
        if not removed:  # a second submission of the same form: nothing left to remove
            return Change(409, "Two-factor authentication is not configured.")
        return Change(200, "Two-factor authentication is off. Your other sessions have ended.")

    # -- WHM: the policy, the issuer and the users' second factors (WHM API 1) ----------------

    async def _administration(self, identity: Identity, info: RequestFacts) -> Administration:
        dispatcher = self.state.dispatcher
        switch = all(dispatcher.permits_whm1(identity, name) for name in POLICY_FUNCTIONS.values())
        issuer, system_issuer = None, ""
        # the function refuses callers without `create-acct` itself; the page hides its form
        if dispatcher.permits_whm1(identity, "twofactorauth_set_issuer") and identity.has_acl(
            OTHERS_ACL
        ):
            issuers = await self._whm1(identity, info, "twofactorauth_get_issuer")
            if issuers.error is None:
                issuer, system_issuer = issuers.data["issuer"], issuers.data["system_wide_issuer"]
        listed = await self._whm1(identity, info, "twofactorauth_get_user_configs")
        users = () if listed.error is not None else _rows(listed.data, identity.user)
        return Administration(identity.is_root, switch, issuer, system_issuer, users)

    async def _administer(
        self, identity: Identity, info: RequestFacts, action: str, form: dict[str, str]
    ) -> Change:
        if action in POLICY_FUNCTIONS:
            name = POLICY_FUNCTIONS[action]
            # turning it off for everyone lowers every account's protection at once: like
            # removing one second factor, it needs the principal's password or code, asked
            # only of a caller the function itself would obey (a refusal spends no code)
            if action == "policy_off" and self.state.dispatcher.permits_whm1(identity, name):
                refused = await reauthenticate(self.state, self.service, identity, form, info)
                if refused is not None:
                    return Change(403, refused)
            outcome = await self._whm1(identity, info, name)
            if action == "policy_on":
                return _answer(outcome, "Two-factor authentication is on for this server.")
            return _answer(
                outcome,
                "Two-factor authentication is off for this server: nobody is asked for a "
                "security code until it is on again.",
            )
        if action == "issuer":
            issuer = form.get("issuer", "")
            outcome = await self._whm1(identity, info, "twofactorauth_set_issuer", issuer=issuer)
            return _answer(
                outcome,
                f"The issuer is now “{issuer}”. It names new enrolments in authenticator apps; "
                "existing ones keep theirs.",
                kept={"issuer": issuer[:KEPT_MAX]},
            )
        return await self._remove_user(identity, info, form)

    async def _remove_user(
        self, identity: Identity, info: RequestFacts, form: dict[str, str]
    ) -> Change:
        """Remove a managed user's second factor: confirmed, re-authenticated, then the API's
        own call, which decides ownership again."""
        user = form.get("user", "")
        if not user:
            return Change(400, "Choose a user.")
        if len(user) > USER_FIELD_MAX:
            return Change(400, "That user name is too long.")
        kept = {"remove": user}  # reopens that user's form
        if form.get("confirm") != "1":
            return Change(
                400, f"Tick “Sure” to remove the two-factor authentication of {user}.", kept
            )
        # the API's rules before the re-authentication, which may spend a code: an account
        # the caller may not manage is refused here exactly as the API refuses it
        configs = await self._whm1(identity, info, "twofactorauth_get_user_configs", user=user)
        if configs.error is not None:
            return _refusal(configs, kept)
        if not configs.data.get(user, {}).get("is_enabled"):
            return Change(409, f"Two-factor authentication is not configured for {user}.")
        refused = await reauthenticate(self.state, self.service, identity, form, info)
        if refused is not None:
            return Change(403, refused, kept)
        outcome = await self._whm1(identity, info, "twofactorauth_remove_user_config", user=user)
        if outcome.error is not None:
            return _refusal(outcome, kept)
        failed: dict[str, str] = outcome.data["failed"]
        if failed:  # removed meanwhile by another request: nothing was changed
            return Change(409, failed.get(user, next(iter(failed.values()))))
        return Change(
            200, f"Two-factor authentication is off for {user}. Their other sessions have ended."
        )

    async def _whm1(
        self, identity: Identity, info: RequestFacts, name: str, **params: str
    ) -> Outcome:
        return await self.state.dispatcher.whm1(
            identity, name, Params(list(params.items())), client_address=info.address
        )


def _answer(outcome: Outcome, success: str, kept: dict[str, str] | None = None) -> Change:
    if outcome.error is not None:
        return _refusal(outcome, kept or {})
    return Change(200, success)


def _refusal(outcome: Outcome, kept: dict[str, str]) -> Change:
    """A function's refusal in its own words (FunctionFailed answers 200 in an API)."""
    assert outcome.error is not None
    return Change(max(outcome.error.status, 400), outcome.error.message, kept)


def _rows(configs: dict[str, dict[str, Any]], caller: str) -> tuple[UserRow, ...]:
    """The caller first, then the others by name."""
    rows = [
        UserRow(name, config["primary_domain"], bool(config["is_enabled"]), name == caller)
        for name, config in configs.items()
    ]
    return tuple(sorted(rows, key=lambda row: (not row.own, row.user)))
