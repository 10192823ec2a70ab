"""WHM's "List Accounts" page (issue 12): the accounts a user may see, searched by user, domain
or owner, and the changes its privileges allow: create an account, suspend (with a reason) and
unsuspend, remove, and "Log in" to an account's cPanel through single sign-on.

Every read and change is a WHM API 1 call through the dispatcher (`listaccts`, `createacct`,
`suspendacct`, `unsuspendacct`, `removeacct`, `create_user_session`), so privileges, ownership
(a reseller reaches its own accounts only; an absent and a foreign account get the same 403)
and the logs are exactly the API's. The page offers only the actions `permits_whm1` allows.
Every change is a POST to the page's `/cpsessN` path; removing needs its "Sure" box ticked.
"Log in" answers 303 to the one-time URL `create_user_session` makes: on the host the browser used
(when it is one of this server's names, SS-8) and the cPanel TLS port of this server, port offset
included. That origin is the one other place the page's forms may lead (`form_targets`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from panelauth.api.outcome import Outcome
from panelauth.errors import InvalidArgument
from panelauth.protocol.params import Params
from panelauth.protocol.services import Listener, Service
from panelauth.server import responses
from panelauth.server.page_call import PageCall
from panelauth.server.render import not_found_page
from panelauth.server.request_info import service_origin
from panelauth.server.state import ServerState

MAX_SEARCH_CHARS: Final = 128
# account names are at most 16 characters: a longer one names no account, and is not echoed
MAX_USER_CHARS: Final = 64
# each action of the page's forms, and the WHM API 1 function that does it
FUNCTIONS: Final = {
    "create": "createacct",
    "suspend": "suspendacct",
    "unsuspend": "unsuspendacct",
    "remove": "removeacct",
    "login": "create_user_session",
}
# what the page says when an action on one account succeeds ("Log in" leaves the page)
DONE: Final = {
    "suspend": "The account “{user}” was suspended.",
    "unsuspend": "The account “{user}” was unsuspended.",
    "remove": "The account “{user}” was removed.",
    "login": "",
}
# what the create form sends on to `createacct`; all but the password are kept after a refusal
CREATE_FIELDS: Final = ("username", "domain", "password", "contactemail", "plan")
KEPT_FIELDS: Final[tuple[str, ...]] = (
    "action",
    "user",
    "reason",
    "username",
    "domain",
    "contactemail",
    "plan",
)


class AccountsPage:
    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.service = listener.service
        self.state = state
        # a server run with `--port-offset` hands out login URLs on its own shifted ports
        self.port_offset = listener.port_offset

    async def page(self, call: PageCall) -> web.StreamResponse:
        if self.service is not Service.WHM:
            return not_found_page(self.service)
        request = call.request
        search = request.query.get("search", "").strip()
        status, message = 200, None
        kept: dict[str, str] = {}
        if request.method == "POST":
            form = await call.info.form(request)
            outcome, done = await self._change(call, form)
            if outcome.error is not None:
                # a refusal in the function's own words (FunctionFailed answers 200 in an API)
                status, message = max(outcome.error.status, 400), outcome.error.message
                kept = {key: form[key] for key in KEPT_FIELDS if key in form}
            elif form.get("action") == "login":
                return responses.redirect(303, outcome.data["url"])
            else:
                message = done
        if len(search) > MAX_SEARCH_CHARS and message is None:
            status = 400
            message = f"The search is too long: at most {MAX_SEARCH_CHARS} characters."
        return await self._render(call, search, status, message, kept)

    async def _change(self, call: PageCall, form: dict[str, str]) -> tuple[Outcome, str]:
        """The outcome of the form's action, and what the page says when it succeeds."""
        action = form.get("action", "")
        name = FUNCTIONS.get(action)
        if name is None:
            return _refused("This page does not know that action."), ""
        if action == "create":
            params = Params([(key, form.get(key, "")) for key in CREATE_FIELDS])
            user = form.get("username", "")
            return await self._call(call, name, params), f"The account “{user}” was created."
        user = form.get("user", "")
        if not user:
            return _refused("Choose an account."), ""
        if len(user) > MAX_USER_CHARS:
            return _refused("There is no account with a name that long."), ""
        if action == "remove" and form.get("confirm") != "1":
            return _refused("Tick the “Sure” box to remove the account."), ""
        pairs = [("user", user)]
        if action == "suspend":
            pairs.append(("reason", form.get("reason", "")))
        elif action == "login":
            pairs.append(("service", Service.CPANEL.value))
        outcome = await self._call(call, name, Params(pairs))
        return outcome, DONE[action].format(user=user)

    async def _render(
        self,
        call: PageCall,
        search: str,
        status: int,
        message: str | None,
        kept: dict[str, str],
    ) -> web.Response:
        listed = await self._call(call, "listaccts", Params([]))
        entries: list[dict[str, Any]] = []
        if listed.error is not None:
            status, message = max(listed.error.status, 400), listed.error.message
        else:
            entries = listed.data["acct"]
        applied = search if len(search) <= MAX_SEARCH_CHARS else ""
        rows = [_row(entry, call.identity.user) for entry in entries if _matches(entry, applied)]
        dispatcher = self.state.dispatcher
        may = {
            action: dispatcher.permits_whm1(call.identity, name)
            for action, name in FUNCTIONS.items()
        }
        cpanel = service_origin(call.request, self.state.settings, Service.CPANEL, self.port_offset)
        return call.render(
            "accounts.html",
            status=status,
            form_targets=(cpanel,) if may["login"] else (),
            message=message,
            refused=status != 200,
            kept=kept,
            search=search,
            max_search=MAX_SEARCH_CHARS,
            # a change made while searching comes back to the same search
            post_to=call.action + (f"?{urlencode({'search': applied})}" if applied else ""),
            rows=rows,
            total=len(entries),
            may=may,
            any_action=any(may[action] for action in ("suspend", "unsuspend", "remove", "login")),
        )

    async def _call(self, call: PageCall, name: str, params: Params) -> Outcome:
        return await self.state.dispatcher.whm1(
            call.identity,
            name,
            params,
            client_address=call.info.address,
            # the Host as sent: create_user_session puts it in its URL only if it is one of
            # this server's names, else the configured hostname (SS-8)
            host=call.request.host,
            port_offset=self.port_offset,
        )


def _refused(text: str) -> Outcome:
    return Outcome(error=InvalidArgument(text))


def _matches(entry: dict[str, Any], search: str) -> bool:
    """Plain text, any case, anywhere in the user name, the domain or the owner: the page filters
    what `listaccts` returned rather than use its one-field regular expressions, so a typed "."
    or "(" means itself."""
    wanted = search.casefold()
    return any(wanted in str(entry[key]).casefold() for key in ("user", "domain", "owner"))


def _row(entry: dict[str, Any], me: str) -> dict[str, Any]:
    return {
        "user": entry["user"],
        "domain": entry["domain"],
        "owner": entry["owner"],
        "plan": entry["plan"],
        "suspended": bool(entry["suspended"]),
        "reason": entry["suspendreason"],
        "created": datetime.fromtimestamp(entry["unix_startdate"], UTC).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "own": entry["user"] == me,  # a reseller cannot suspend or remove its own account
    }
