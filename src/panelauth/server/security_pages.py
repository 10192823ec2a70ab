"""The Password & Security page, and re-authentication for changes made from pages (ASVS 7.5.1).

Changing the password (here), creating an API token (token_pages), removing two-factor
(twofactor_pages) and generating or converting the remote access key (access_key_page) need
the current password or a current code of the principal in the same form: the possessor
of a session root or a reseller opened into an account, else the session's user. A wrong answer
changes nothing, re-renders the form and is a failed authentication in login_log. The API
functions are unchanged: a script's every call carries its own credential.

The changes themselves are core use cases (core.credential_changes), shared with the API
functions and the command line. After its own password change the session is replaced by a
successor (PW-9): the page answers with the new cookie and links under the new `/cpsess` path.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from panelauth.core.features import feature_enabled
from panelauth.core.models import Identity
from panelauth.core.passwords import validate_new_password
from panelauth.core.reauthentication import Reauthenticator, principal_of
from panelauth.core.session_manager import Created
from panelauth.core.sessions import Session
from panelauth.errors import FunctionFailed
from panelauth.protocol.cookies import set_cookie_header
from panelauth.protocol.services import Listener, Service
from panelauth.secret import Secret
from panelauth.server.page_call import PageCall
from panelauth.server.request_info import RequestFacts
from panelauth.server.state import ServerState

REAUTH_MISSING = "Enter the current password or a current security code."
REAUTH_WRONG = "The current password or security code is not correct. Nothing was changed."
NOT_OFFERED = "This change is not available here."


@dataclass(frozen=True, slots=True)
class Offered:
    """The changes a page may make for an identity: the same rights as the API functions."""

    password: bool
    two_factor: bool  # enrol and remove the own second factor (feature twofactorauth)


async def offered(state: ServerState, service: Service, identity: Identity) -> Offered:
    if service is Service.WHM:
        return Offered(password=True, two_factor=True)
    store = state.runtime.store
    account = await store.get_account(identity.account or "")
    features = await store.get_feature_list(account.feature_list) if account else None
    tfa = feature_enabled(features, "twofactorauth")
    if service is Service.WEBMAIL:
        # a mailbox changes its own password; the default mailbox's is the account's (cPanel)
        return Offered(password="@" in identity.user, two_factor=tfa)
    return Offered(password=True, two_factor=tfa)


async def reauthenticate(
    state: ServerState,
    service: Service,
    identity: Identity,
    form: dict[str, str],
    info: RequestFacts,
) -> str | None:
    """None when the form re-authenticates its principal; else the message to show.

    A wrong password or code is logged as a failed authentication (LG-2).
    """
    runtime = state.runtime
    reauthenticator = Reauthenticator(
        runtime.store, runtime.passwords, runtime.two_factor, runtime.guard
    )
    outcome = await reauthenticator.verify(
        identity,
        password=Secret(form.get("current_password", "")),
        code=form.get("current_code", ""),
        address=info.address,
        service=service.value,
    )
    if outcome.accepted:
        return None
    if outcome.factor is None:
        return REAUTH_MISSING
    state.authentication_failed(
        address=info.address,
        claimed_user=outcome.principal,
        request=info.request_line,
        service=service,
        reason=f"reauthentication: {outcome.detail}",
        factor=outcome.factor.value,
    )
    return REAUTH_WRONG


class SecurityPages:
    def __init__(self, listener: Listener, state: ServerState):
        self.service = listener.service
        self.state = state

    async def page(self, call: PageCall) -> web.Response:
        request, session, identity, info = call.request, call.session, call.identity, call.info
        can = await offered(self.state, self.service, identity)
        status, message = 200, None
        rotated: Created | None = None
        if request.method == "POST":
            form = await info.form(request)
            action = form.get("action")
            try:
                if action == "password" and can.password:
                    message, rotated = await self._change_password(session, identity, form, info)
                else:
                    status, message = 403, NOT_OFFERED
            except FunctionFailed as invalid:
                status, message = 400, invalid.message
            except _Refused as refused:
                status, message = 403, refused.message
        if rotated is not None:
            call = call.rotated(rotated.session)  # the old cookie and /cpsess token are gone
        response = call.render(
            "security.html",
            status=status,
            message=message,
            refused=status != 200,
            user=identity.user,
            principal=principal_of(identity),
            password=can.password,
        )
        if rotated is not None:
            response.headers["Set-Cookie"] = set_cookie_header(self.service, rotated.cookie_value)
        return response

    async def _change_password(
        self, session: Session, identity: Identity, form: dict[str, str], info: RequestFacts
    ) -> tuple[str, Created | None]:
        new = form.get("new_password", "")
        if new != form.get("confirm_password", ""):
            raise FunctionFailed("The new passwords do not match.")
        validate_new_password(new)  # before the re-authentication, which may spend a code
        await self._reauthenticate(identity, form, info)
        changed = await self.state.runtime.credential_changes().change_password(
            identity.user,
            Secret(new),
            actor=identity.user,
            caller_session=session.session_id,
            address=info.address,
        )
        return "The password was changed. Your other sessions have ended.", changed.rotated

    async def _reauthenticate(
        self, identity: Identity, form: dict[str, str], info: RequestFacts
    ) -> None:
        refused = await reauthenticate(self.state, self.service, identity, form, info)
        if refused is not None:
            raise _Refused(refused)


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
