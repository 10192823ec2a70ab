"""Driving browser sessions by hand: cookies are kept explicitly, not by a jar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from panelauth.protocol.sessionlog import SessionLogEvent, parse_session_log_line

Client = TestClient[web.Request, None]


@dataclass
class Browser:
    cookie: str  # "name=value"
    token: str  # "/cpsessNNNNNNNNNN"

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": self.cookie}


def set_cookie(response: ClientResponse) -> str:
    """The `name=value` of the response's Set-Cookie."""
    return response.headers["Set-Cookie"].split(";", 1)[0]


async def login(client: Client, user: str, password: str) -> Browser:
    response = await client.post("/login/?login_only=1", data={"user": user, "pass": password})
    assert response.status == 200, await response.text()
    body = await response.json()
    return Browser(set_cookie(response), body["security_token"])


def session_events(logs: Path) -> list[SessionLogEvent]:
    path = logs / "session_log"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        event = parse_session_log_line(line)
        assert event is not None, f"not a session-log line: {line!r}"
        events.append(event)
    return events
