"""`get_loggedin_url` without I/O (w§18): the login request, and reading its answer into
`(login_ok, login_message, login_url, security_token)`, after cPanel's
`Cpanel::LogMeIn::get_loggedin_url`."""

from __future__ import annotations

import json
from typing import NamedTuple
from urllib.parse import quote, urlencode, urlsplit

from panelauth.client.answers import Response
from panelauth.client.core import FORM, USER_AGENT, Request, session_cookie
from panelauth.protocol.services import Service

_SERVICES = {"cpanel": Service.CPANEL, "whm": Service.WHM, "webmail": Service.WEBMAIL}


class LoggedInUrl(NamedTuple):
    login_ok: int  # 1 or 0
    login_message: str  # "Login OK", the login answer's message, or "status: parse-error: ..."
    login_url: str | None
    security_token: str | None


def service_port(service: str) -> int:
    """2083 for `cpanel` (and any unknown value), 2087 for `whm`, 2096 for `webmail`."""
    return _SERVICES.get(service.lower(), Service.CPANEL).tls_port


def loggedin_request(
    user: str,
    password: str,
    hostname: str,
    service: str = "cpanel",
    goto_uri: str = "/",
    active_token_for_reuse: str | None = None,
    *,
    port: int | None = None,
) -> Request:
    """`POST https://<hostname>:<port>/login/?login_only=1` with `Connection: close`."""
    fields = [("user", user), ("pass", password), ("goto_uri", goto_uri or "/")]
    if active_token_for_reuse is not None:
        fields.append(("active_token_for_reuse", active_token_for_reuse))
    url = f"https://{hostname}:{port or service_port(service)}/login/?login_only=1"
    headers = {"User-Agent": USER_AGENT, "Content-Type": FORM, "Connection": "close"}
    return Request("POST", url, headers, urlencode(fields).encode())


def read_loggedin(response: Response, request: Request, goto_uri: str = "/") -> LoggedInUrl:
    """The result tuple of the login answer (w§18)."""
    try:
        document = json.loads(response.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        page = response.body.decode("utf-8", "replace")
        return LoggedInUrl(0, f"status: parse-error: {page}", None, None)
    token = document.get("security_token")
    cookie = session_cookie(response)
    if not 200 <= response.status < 400 or not token or cookie is None:
        message = document.get("message") or f"HTTP {response.status}"
        return LoggedInUrl(0, str(message), None, None)
    origin = urlsplit(request.url)
    value = cookie.partition("=")[2]
    url = f"{origin.scheme}://{origin.netloc}{token}/login/?session={value}"
    if goto_uri and goto_uri != "/":
        url += f"&goto_uri={quote(goto_uri, safe='')}"
    return LoggedInUrl(1, "Login OK", url, str(token))
