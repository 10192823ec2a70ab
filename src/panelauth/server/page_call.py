"""One request for a page behind the session: what every page handler receives (issue 12).

The router (server/browser.py) has resolved the session and its security token, admitted the
address (BF-1) and checked that the identity may open the page (server/navigation.py); the
handler does the page's own work and renders inside the shared frame with `render`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from panelauth.core.models import Identity
from panelauth.core.sessions import Session
from panelauth.protocol.services import Service
from panelauth.server import pages, responses
from panelauth.server.navigation import Frame, PageEntry
from panelauth.server.request_info import RequestFacts


@dataclass(frozen=True, slots=True)
class PageCall:
    request: web.BaseRequest
    session: Session
    identity: Identity
    info: RequestFacts
    entry: PageEntry
    frame: Frame

    @property
    def service(self) -> Service:
        return self.frame.service

    @property
    def token(self) -> str:
        """The session's `/cpsessN` (a page that rotated the session passes the new one)."""
        return self.frame.token

    @property
    def action(self) -> str:
        """Where the page's forms post: its own path under the security token."""
        return f"{self.frame.token}{self.entry.href}"

    def rotated(self, session: Session) -> PageCall:
        """The same call under a successor session's token (PW-9)."""
        frame = dataclasses.replace(self.frame, token=session.security_token)
        return dataclasses.replace(self, session=session, frame=frame)

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        heading: str | None = None,
        form_targets: tuple[str, ...] = (),
        **values: Any,
    ) -> web.Response:
        html = pages.render(
            template,
            self.service,
            heading=heading or self.entry.title,
            frame=self.frame,
            action=self.action,
            token=self.frame.token,
            **values,
        )
        return responses.html_response(status, html, form_targets=form_targets)


class Page(Protocol):
    def __call__(self, call: PageCall) -> Awaitable[web.StreamResponse]: ...
