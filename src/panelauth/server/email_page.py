"""cPanel's "Email Accounts" page (issue 12): the account's mailboxes, and the way into Webmail.

It calls the API functions themselves through the dispatcher: UAPI `Email::list_pops`,
`add_pop`, `passwd_pop` and `delete_pop` (feature `popaccts`), `DomainInfo::list_domains` (the
domains a new mailbox may use) and `Session::create_webmail_session_for_mail_user` (feature
`webmail`: the "Webmail" button shows only when that call is allowed), so features, ownership
and logs are exactly the API's. Every change is a POST to the page's own `/cpsessN` path;
changing a password re-authenticates the principal (security_pages.reauthenticate), deleting
needs its confirmation box ticked.

The Webmail button answers 303 to the hand-off's login URL on the Webmail TLS port of the
host the browser used (shifted by this server's port offset); opening it once logs that
browser into Webmail as the mailbox (w§10.2, §10.3). Browsers follow a form's redirect only
to origins the page's CSP `form-action` lists, so this page adds that one Webmail origin.

`list_pops` carries no quota: the table reads each listed mailbox's quota from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from panelauth.api.outcome import Outcome
from panelauth.api.registry import Api
from panelauth.core.models import Identity
from panelauth.core.passwords import validate_new_password
from panelauth.core.reauthentication import principal_of
from panelauth.errors import InvalidArgument, PanelauthError
from panelauth.protocol.params import Params
from panelauth.protocol.services import Listener, Service
from panelauth.server import responses
from panelauth.server.page_call import PageCall
from panelauth.server.request_info import service_origin
from panelauth.server.security_pages import reauthenticate
from panelauth.server.state import ServerState

MAX_LOCAL_PART: Final = 64
MAX_ADDRESS: Final = 254  # RFC 5321's longest forward path, less its angle brackets
WEBMAIL_SESSION: Final = ("Session", "create_webmail_session_for_mail_user")
PASSWORDS_DIFFER: Final = "The passwords do not match."
CHOOSE_MAILBOX: Final = "Choose one of your email accounts."
# the fields a refused form gets back (never a password)
KEPT_FIELDS: Final = ("action", "email", "domain", "quota")


@dataclass(frozen=True, slots=True)
class Shown:
    """One row of the table."""

    email: str
    quota: str
    suspended: bool


class _Refused(Exception):
    """A change refused before or by its function: the page again, with `status` and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EmailPage:
    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.service = listener.service
        self.state = state
        # the hand-off URL keeps the shift of the port this page was reached on
        self.port_offset = listener.port_offset

    async def page(self, call: PageCall) -> web.StreamResponse:
        request, info = call.request, call.info
        status, message = 200, None
        kept: dict[str, str] = {}
        if request.method == "POST":
            form = await info.form(request)
            try:
                if form.get("action") == "webmail":
                    return await self._webmail(call, form)
                message = await self._change(call, form)
            except _Refused as refused:
                status, message = refused.status, refused.message
                kept = {key: form[key] for key in KEPT_FIELDS if key in form}
        return await self._render(call, status, message, kept)

    # -- changes -----------------------------------------------------------------------------------

    async def _change(self, call: PageCall, form: dict[str, str]) -> str:
        action = form.get("action", "")
        if action == "add":
            return await self._add(call, form)
        if action == "password":
            return await self._password(call, form)
        if action == "delete":
            return await self._delete(call, form)
        raise _Refused(400, "This page does not know that action.")

    async def _add(self, call: PageCall, form: dict[str, str]) -> str:
        local, domain = form.get("email", "").strip(), form.get("domain", "")
        if not local:
            raise _Refused(400, "Enter the name before the @.")
        if len(local) > MAX_LOCAL_PART:
            raise _Refused(400, f"The name before the @ is at most {MAX_LOCAL_PART} characters.")
        password = _new_password(form, "password")
        quota = form.get("quota", "").strip() or "0"  # empty: unlimited
        params = [("email", local), ("domain", domain), ("password", password), ("quota", quota)]
        created = _data(await self._call(call, "Email", "add_pop", params))
        address = str(created).replace("+", "@", 1)
        return f"The email account {address} was created."

    async def _password(self, call: PageCall, form: dict[str, str]) -> str:
        # the form is checked before the re-authentication, which may spend a code
        address = _address(form)
        password = _new_password(form, "new_password")
        refused = await reauthenticate(self.state, self.service, call.identity, form, call.info)
        if refused is not None:
            raise _Refused(403, refused)
        params = [("email", address), ("password", password)]
        _data(await self._call(call, "Email", "passwd_pop", params))
        return f"The password of {address} was changed. Its sessions have ended."

    async def _delete(self, call: PageCall, form: dict[str, str]) -> str:
        address = _address(form)
        if form.get("confirm") != "1":
            raise _Refused(400, f"Tick “Sure” to delete {address}.")
        _data(await self._call(call, "Email", "delete_pop", [("email", address)]))
        return f"The email account {address} was deleted."

    async def _webmail(self, call: PageCall, form: dict[str, str]) -> web.Response:
        """303 to the one-time URL that logs this browser into Webmail as the mailbox."""
        local, at, domain = _address(form).rpartition("@")
        if not at:
            raise _Refused(400, CHOOSE_MAILBOX)
        module, name = WEBMAIL_SESSION
        params = [("login", local), ("domain", domain)]
        answer = _data(await self._call(call, module, name, params))
        location = (
            f"{self._webmail_origin(call.request)}{answer['token']}/login/"
            f"?session={quote(answer['session'], safe='')}"
        )
        return responses.redirect(303, location)

    def _webmail_origin(self, request: web.BaseRequest) -> str:
        """Webmail's TLS port on the host the browser used (when it is one of this server's
        names, SS-8), shifted like this page's port. The function's answer names no host."""
        return service_origin(request, self.state.settings, Service.WEBMAIL, self.port_offset)

    async def _call(
        self, call: PageCall, module: str, name: str, params: list[tuple[str, str]]
    ) -> Outcome:
        return await self.state.dispatcher.cpanel(
            Api.UAPI,
            call.identity,
            self.service,
            module,
            name,
            Params(params),
            client_address=call.info.address,
            host=call.request.host,
            port_offset=self.port_offset,
        )

    # -- the page ----------------------------------------------------------------------------------

    async def _render(
        self, call: PageCall, status: int, message: str | None, kept: dict[str, str]
    ) -> web.Response:
        listed = await self._call(call, "Email", "list_pops", [])
        if listed.error is not None:
            status, message = _status(listed.error), listed.error.message
        rows = listed.data if listed.error is None else []
        domains = await self._domains(call)
        webmail = await self._may_open_webmail(call.identity)
        return call.render(
            "email.html",
            status=status,
            # the Webmail button's answer redirects to Webmail's port, another origin
            form_targets=(self._webmail_origin(call.request),) if webmail else (),
            message=message,
            refused=status != 200,
            kept=kept,
            mailboxes=await self._shown(call.identity, rows),
            domains=domains,
            chosen_domain=kept.get("domain", domains[0] if domains else ""),
            webmail=webmail,
            principal=principal_of(call.identity),
        )

    async def _shown(self, identity: Identity, rows: list[dict[str, Any]]) -> list[Shown]:
        """The rows `list_pops` answered, with each mailbox's quota (which it does not carry)."""
        store = self.state.runtime.store
        quotas = {
            mailbox.address: mailbox.quota_mb
            for mailbox in await store.list_mailboxes(identity.account or "")
        }
        return [
            Shown(
                email=row["email"],
                quota=_quota(quotas.get(row["email"], 0)),
                suspended=bool(row.get("suspended_login")),
            )
            for row in sorted(rows, key=lambda row: str(row["email"]))
        ]

    async def _domains(self, call: PageCall) -> list[str]:
        """The account's domains, the primary first (`DomainInfo::list_domains`)."""
        listed = await self._call(call, "DomainInfo", "list_domains", [])
        if listed.error is not None:
            return []
        data = listed.data
        others = [*data["addon_domains"], *data["parked_domains"], *data["sub_domains"]]
        return [data["main_domain"], *sorted(set(others) - {data["main_domain"]})]

    async def _may_open_webmail(self, identity: Identity) -> bool:
        module, name = WEBMAIL_SESSION
        return await self.state.dispatcher.permits_cpanel(
            Api.UAPI, identity, self.service, module, name
        )


def _address(form: dict[str, str]) -> str:
    """The mailbox a row's form names (its ownership is the function's to check)."""
    address = form.get("email", "").strip()
    if not address:
        raise _Refused(400, CHOOSE_MAILBOX)
    if len(address) > MAX_ADDRESS:
        raise _Refused(400, f"An email address is at most {MAX_ADDRESS} characters.")
    return address


def _new_password(form: dict[str, str], field: str) -> str:
    password = form.get(field, "")
    if password != form.get("confirm_password", ""):
        raise _Refused(400, PASSWORDS_DIFFER)
    try:
        validate_new_password(password)
    except InvalidArgument as invalid:
        raise _Refused(400, invalid.message) from None
    return password


def _data(outcome: Outcome) -> Any:
    """The function's data; its refusal, in its own words, as the page's answer."""
    if outcome.error is not None:
        raise _Refused(_status(outcome.error), outcome.error.message)
    return outcome.data


def _status(error: PanelauthError) -> int:
    # a functional failure answers 200 in an API; a page says it was refused
    return max(error.status, 400)


def _quota(megabytes: int) -> str:
    return "Unlimited" if megabytes == 0 else f"{megabytes:,} MB"
