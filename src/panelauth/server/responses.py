"""Building HTTP answers: every JSON body comes from the JSON encoder (RX-4)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from panelauth.errors import PanelauthError, ServiceUnavailable
from panelauth.protocol.envelopes import ACCESS_DENIED_BODY, TWO_FACTOR_FAILED_BODY

JSON = "application/json; charset=utf-8"
TEXT_JSON = 'text/plain; charset="utf-8"'
HTML = "text/html; charset=utf-8"

# Tokens travel in URLs, so nothing may leak them through Referer (CS-5).
BASE_HEADERS = {
    "Server": "panelauth",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache, no-store, must-revalidate, private",
}

# RX-2: no inline script, nothing from elsewhere, framed only by ourselves
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)
_ACCESS_DENIED = orjson.dumps(ACCESS_DENIED_BODY)
_TWO_FACTOR_FAILED = orjson.dumps(TWO_FACTOR_FAILED_BODY)


def json_response(
    status: int, document: Any, *, content_type: str = JSON, reason: str | None = None
) -> web.Response:
    headers = dict(BASE_HEADERS)
    headers["Content-Type"] = content_type
    return web.Response(body=orjson.dumps(document), status=status, reason=reason, headers=headers)


def with_retry_after(response: web.Response, error: PanelauthError) -> web.Response:
    if isinstance(error, ServiceUnavailable):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def access_denied() -> web.Response:
    """The single answer for every rejected credential on an API path (w§15.6)."""
    headers = dict(BASE_HEADERS)
    headers["Content-Type"] = TEXT_JSON
    return web.Response(body=_ACCESS_DENIED, status=403, reason="Forbidden", headers=headers)


def two_factor_failed() -> web.Response:
    headers = dict(BASE_HEADERS)
    headers["Content-Type"] = TEXT_JSON
    return web.Response(body=_TWO_FACTOR_FAILED, status=403, reason="Forbidden", headers=headers)


def text_response(status: int, text: str, *, reason: str | None = None) -> web.Response:
    headers = dict(BASE_HEADERS)
    headers["Content-Type"] = "text/plain; charset=utf-8"
    return web.Response(text=text, status=status, reason=reason, headers=headers)


def html_response(status: int, html: str, *, form_targets: tuple[str, ...] = ()) -> web.Response:
    """A page. `form_targets`: other origins a form of it may reach, by its answer's redirect
    too (a browser applies `form-action` to a form's redirects): the one-time login URL of
    another service's port, and nothing else."""
    headers = dict(BASE_HEADERS)
    headers["Content-Type"] = HTML
    policy = CONTENT_SECURITY_POLICY
    if form_targets:
        policy = policy.replace(
            "form-action 'self'", " ".join(("form-action 'self'", *form_targets))
        )
    headers["Content-Security-Policy"] = policy
    headers["X-Frame-Options"] = "SAMEORIGIN"
    return web.Response(text=html, status=status, headers=headers)


def redirect(status: int, location: str) -> web.Response:
    headers = dict(BASE_HEADERS)
    headers["Location"] = location
    return web.Response(status=status, headers=headers)


TOKEN_SCOPE_TEXT = "Token authentication allows access to UAPI or API 2 calls only."


def cpanel_token_scope(in_cpanelresult: bool) -> web.Response:
    """w§2.4: a cPanel token outside UAPI/API 2; JSON on /json-api/cpanel, else plain text."""
    if in_cpanelresult:
        document = {
            "cpanelresult": {
                "apiversion": 1,
                "data": None,
                "event": {"result": 0},
                "error": TOKEN_SCOPE_TEXT,
            }
        }
        return json_response(403, document)
    return text_response(403, TOKEN_SCOPE_TEXT)
