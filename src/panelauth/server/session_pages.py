"""Sessions pages (issue 12, SE-9): WHM's "Active Sessions" (root and resellers: their own and
their accounts' sessions) and "My Sessions" on cPanel and Webmail (the user's own).

They call the API functions themselves through the dispatcher (WHM API 1
`panelauth_list_sessions` / `panelauth_kill_sessions`, UAPI `PanelauthSessions::list` / `kill`),
so ownership, ACLs and the session log's `kill` purges are exactly the API's. Every change is a
POST to the page's `/cpsessN` path; ending all of a user's sessions needs its box ticked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from panelauth.api.outcome import Outcome
from panelauth.api.registry import Api
from panelauth.core.models import Identity
from panelauth.errors import InvalidArgument
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.page_call import PageCall
from panelauth.server.request_info import RequestFacts
from panelauth.server.state import ServerState

SERVICE_NAMES: Final = {"cpaneld": "cPanel", "whostmgrd": "WHM", "webmaild": "Webmail"}


class SessionsPage:
    def __init__(self, service: Service, state: ServerState) -> None:
        self.service = service
        self.state = state

    async def page(self, call: PageCall) -> web.Response:
        request, identity, info = call.request, call.identity, call.info
        status, message = 200, None
        if request.method == "POST":
            form = await info.form(request)
            outcome = await self._kill(identity, form, info)
            if outcome.error is not None:
                # a refusal in the function's own words (FunctionFailed answers 200 in an API)
                status, message = max(outcome.error.status, 400), outcome.error.message
            else:
                message = f"Ended {outcome.data['killed']} session(s)."
        listed = await self._call(identity, info, "list", Params([]))
        rows: list[dict[str, Any]] = []
        if listed.error is not None:
            status, message = listed.error.status, listed.error.message
        else:
            rows = listed.data["sessions"] if self.service is Service.WHM else listed.data
        return call.render(
            "sessions.html",
            status=status,
            message=message,
            refused=status != 200,
            whm=self.service is Service.WHM,
            sessions=[_row(row) for row in rows],
            users=sorted({row["user"] for row in rows if not row["current"]}),
        )

    async def _kill(self, identity: Identity, form: dict[str, str], info: RequestFacts) -> Outcome:
        action = form.get("action", "")
        if action == "end":
            params = [("session", form.get("session", ""))]
        elif action == "end_user" and self.service is Service.WHM:
            if form.get("confirm") != "1":
                return Outcome(error=InvalidArgument("Tick the confirmation box to end them all."))
            params = [("user", form.get("user", ""))]
        elif action == "end_others" and self.service is not Service.WHM:
            params = [("others", "1")]
        else:
            return Outcome(error=InvalidArgument("This page does not know that action."))
        if not params[0][1]:
            return Outcome(error=InvalidArgument("Choose what to end."))
        return await self._call(identity, info, "kill", Params(params))

    async def _call(
        self, identity: Identity, info: RequestFacts, verb: str, params: Params
    ) -> Outcome:
        dispatcher = self.state.dispatcher
        if self.service is Service.WHM:
            name = "panelauth_list_sessions" if verb == "list" else "panelauth_kill_sessions"
            return await dispatcher.whm1(identity, name, params, client_address=info.address)
        return await dispatcher.cpanel(
            Api.UAPI,
            identity,
            self.service,
            "PanelauthSessions",
            verb,
            params,
            client_address=info.address,
        )


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "service_name": SERVICE_NAMES.get(row["service"], row["service"]),
        "created_at": _when(row["created"]),
        "last_seen_at": _when(row["last_seen"]),
    }


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
