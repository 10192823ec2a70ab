"""Rendering: an Outcome (or an error) becomes the envelope of the API that was called (w§15).

`render` is the only place an API envelope is built: the gateway calls it at the edge, the
command line for what it prints. Errors raised by an API function, and errors of the request
that are answered in the envelope (w§15.6), take the same path.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from panelauth.api.outcome import Outcome
from panelauth.errors import FunctionNotFound, PanelauthError, PermissionDenied, ServiceUnavailable
from panelauth.protocol import envelopes
from panelauth.protocol.cookies import set_cookie_header
from panelauth.protocol.envelopes import JsonObject
from panelauth.protocol.services import Service


class Envelope(enum.Enum):
    WHM1 = "whm1"  # /json-api/<fn>
    APPLIST = "applist"  # legacy API 0 `applist` without api.version (w§15.1)
    UAPI = "uapi"  # /execute/<Module>/<fn>, flat
    API2 = "api2"  # /json-api/cpanel
    UAPI_CPANEL = "uapi_cpanel"  # UAPI through WHM, in WHM API 1's envelope (w§15.4)
    # UAPI through /json-api/cpanel?cpanel_jsonapi_apiversion=3, the flat result under
    # `result` beside apiversion, func and module (w§15.3)
    UAPI_JSONAPI = "uapi_jsonapi"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What was called, as far as its envelope needs to know."""

    envelope: Envelope
    module: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered answer: HTTP status, the JSON document and the headers it implies."""

    status: int
    document: Any
    succeeded: bool
    retry_after: int | None = None  # seconds, for a 503 (w§15.5): the Retry-After header
    set_cookie: str | None = None  # a successor session's cookie (PW-9): the Set-Cookie header


def render(outcome: Outcome, endpoint: Endpoint, service: Service) -> Answer:
    """The outcome in the envelope of `endpoint` (w§15.1-15.4, w§15.6)."""
    error = outcome.error
    envelope = endpoint.envelope
    if error is not None:
        if envelope is Envelope.UAPI_CPANEL:
            return _uapi_cpanel_failure(error)
        return _failure(outcome, error, endpoint)
    session = outcome.session
    if envelope is Envelope.API2:
        document = envelopes.api2_success(endpoint.module, endpoint.name, outcome.data)
    elif envelope is Envelope.APPLIST:
        document = outcome.data
    elif envelope is Envelope.WHM1:
        document = envelopes.whm1_success(
            endpoint.name, outcome.data, reason=outcome.reason, raw_output=outcome.raw_output
        )
    elif envelope is Envelope.UAPI:
        document = _uapi_success(outcome)
    elif envelope is Envelope.UAPI_JSONAPI:
        document = envelopes.uapi_wrapped(endpoint.module, endpoint.name, _uapi_success(outcome))
    else:
        document = envelopes.whm1_success(endpoint.name, {"uapi": _uapi_success(outcome)})
    if session is None:
        return Answer(200, document, True)
    if envelope is not Envelope.API2:
        # the client's old /cpsess token no longer works: it learns the new one here, in the
        # UAPI result's metadata when the result is wrapped
        holder = document["result"] if envelope is Envelope.UAPI_JSONAPI else document
        holder["metadata"]["security_token"] = session.session.security_token
    cookie = set_cookie_header(service, session.cookie_value)
    return Answer(200, document, True, set_cookie=cookie)


def render_error(error: PanelauthError, endpoint: Endpoint) -> Answer:
    """An error of the request (not of the function), in the envelope of the API it called."""
    return _failure(Outcome(error=error), error, endpoint)


def _uapi_success(outcome: Outcome) -> JsonObject:
    document = envelopes.uapi_success(outcome.data, messages=list(outcome.messages))
    document["status"] = outcome.uapi_status
    if outcome.warnings:
        document["warnings"] = list(outcome.warnings)
    return document


def _failure(outcome: Outcome, error: PanelauthError, endpoint: Endpoint) -> Answer:
    """Only the error's `message` is shown; a StoreUnavailable's message is its plain reason,
    never the backend's own text. A 503 carries its Retry-After."""
    texts = error_texts(error)
    retry = error.retry_after_seconds if isinstance(error, ServiceUnavailable) else None
    envelope = endpoint.envelope
    if envelope is Envelope.UAPI:
        document = envelopes.uapi_failure(*texts)
    elif envelope is Envelope.UAPI_JSONAPI:
        failure = envelopes.uapi_failure(*texts)
        document = envelopes.uapi_wrapped(endpoint.module, endpoint.name, failure)
    elif envelope is Envelope.API2:
        document = envelopes.api2_failure(endpoint.module, endpoint.name, " ".join(texts))
    else:  # WHM API 1, and the request errors of applist and uapi_cpanel
        if isinstance(error, FunctionNotFound):
            reason = envelopes.whm1_not_found_reason(endpoint.name)
        else:
            reason = " ".join(texts)
        document = envelopes.whm1_failure(endpoint.name, reason, raw_output=outcome.raw_output)
    return Answer(error.status, document, False, retry)


def _uapi_cpanel_failure(error: PanelauthError) -> Answer:
    """The inner UAPI call failed (w§15.4): a functional failure is WHM's success with the
    flat failure under `data.uapi`; a refusal is WHM's failure with the UAPI error texts."""
    texts = error_texts(error)
    if error.status == 200:
        document = envelopes.whm1_success("uapi_cpanel", {"uapi": envelopes.uapi_failure(*texts)})
        return Answer(200, document, False)
    retry = error.retry_after_seconds if isinstance(error, ServiceUnavailable) else None
    document = envelopes.whm1_failure("uapi_cpanel", " ".join(texts))
    return Answer(error.status, document, False, retry)


def error_texts(error: PanelauthError) -> list[str]:
    """The error text(s): the fixed reason, plus a detail for Permission denied (w§15.6)."""
    if isinstance(error, PermissionDenied) and error.message != error.reason:
        return [error.reason, error.message]
    return [error.message]
