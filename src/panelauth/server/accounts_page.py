"""WHM's List Accounts (issue 12): being built."""

from __future__ import annotations

from aiohttp import web

from panelauth.protocol.services import Listener
from panelauth.server.page_call import PageCall
from panelauth.server.render import not_found_page
from panelauth.server.state import ServerState


class AccountsPage:
    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.service = listener.service
        self.state = state

    async def page(self, call: PageCall) -> web.Response:
        return not_found_page(call.service)
