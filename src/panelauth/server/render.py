"""The edge: an answer or an error becomes an HTTP response, here and nowhere else.

`answer_response` puts a rendered API answer (api/answers.render) on the wire;
`error_response` is the one function that turns any error of the tree (errors.py) into its
response, by the error's `form` and by whether an API path or a page was asked for.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from panelauth.api.answers import Answer, Endpoint, Envelope, render_error
from panelauth.errors import Form, PanelauthError, ServiceUnavailable, SessionRefused
from panelauth.protocol.services import Service
from panelauth.server import pages, responses

_JSON_HEADERS = {**responses.BASE_HEADERS, "Content-Type": responses.JSON}


def not_found_page(service: Service) -> web.Response:
    """The 404 page: a path nobody serves, or a page this identity may not know of."""
    return responses.html_response(
        404, pages.render("not_found.html", service, heading="Not Found")
    )


def answer_response(answer: Answer) -> web.Response:
    """An API answer on the wire; a 503 tells the client when to retry (w§15.5)."""
    headers = dict(_JSON_HEADERS)
    if answer.retry_after is not None:
        headers["Retry-After"] = str(answer.retry_after)
    if answer.set_cookie is not None:
        headers["Set-Cookie"] = answer.set_cookie  # a rotated session (PW-9)
    return web.Response(body=orjson.dumps(answer.document), status=answer.status, headers=headers)


def error_response(
    error: PanelauthError,
    service: Service,
    endpoint: Endpoint | None,
    *,
    json_login: bool = False,
) -> web.Response:
    """The answer to `error` on an API path (`endpoint`) or a page (None) (w§15.6).

    `json_login`: the page is `POST /login/?login_only=1`, which answers JSON (w§3.1).
    """
    form = error.form
    if form is Form.ACCESS_DENIED:
        return responses.access_denied()
    if form is Form.TWO_FACTOR:
        return responses.two_factor_failed()
    if form is Form.SESSION and isinstance(error, SessionRefused):
        if error.token_denied:
            return token_denied(service)
        if endpoint is None:
            return responses.redirect(302, f"/login/?msg_code={error.code}")
        if error.pending is not None:
            return responses.two_factor_failed()
        return responses.access_denied()
    if form is Form.TOKEN_SCOPE:
        in_cpanelresult = endpoint is not None and endpoint.envelope is Envelope.API2
        return responses.cpanel_token_scope(in_cpanelresult)
    if form is Form.CROSS_SITE and endpoint is None:
        return responses.html_response(403, pages.token_denied_page(service))
    if form is Form.PAGE:
        html = pages.render("not_found.html", service, heading=error.reason)
        return responses.html_response(error.status, html)
    if endpoint is not None:
        return answer_response(render_error(error, endpoint))
    return _page_error(error, service, json_login)


def token_denied(service: Service) -> web.Response:
    """401 Token Denied (w§6)."""
    response = responses.html_response(401, pages.token_denied_page(service))
    response.set_status(401, "Token Denied")
    return response


def _page_error(error: PanelauthError, service: Service, json_login: bool) -> web.Response:
    """An error on an HTML path: the JSON login keeps its JSON shape (w§3.1), a 503 is a
    small page with the plain reason (w§15.5), anything else plain text."""
    if json_login:
        document = {"status": 0, "message": error.reason}
        response = responses.json_response(error.status, document)
    elif isinstance(error, ServiceUnavailable):
        html = pages.unavailable_page(service, error.reason)
        response = responses.html_response(error.status, html)
    else:
        response = responses.text_response(error.status, error.reason)
    return responses.with_retry_after(response, error)
