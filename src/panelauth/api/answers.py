"""Turning results and errors into each API's envelope and HTTP status (w§15)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from panelauth.api.registry import Api, Reply
from panelauth.errors import (
    FunctionNotFound,
    PanelauthError,
    PermissionDenied,
    ServiceUnavailable,
)
from panelauth.protocol import envelopes
from panelauth.protocol.envelopes import JsonObject


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    document: JsonObject
    retry_after: int | None = None  # seconds, for a 503 (w§15.5): the Retry-After header

    @property
    def succeeded(self) -> bool:
        return self.status == 200 and envelope_result(self.document) == 1


def envelope_result(document: JsonObject) -> int:
    """The result flag of any of the envelopes (1 or 0)."""
    if (
        "metadata" in document
        and isinstance(document["metadata"], dict)
        and "result" in document["metadata"]
    ):
        return int(document["metadata"]["result"])
    if "status" in document:
        return int(document["status"])
    if "cpanelresult" in document:
        return int(document["cpanelresult"].get("event", {}).get("result", 0))
    if "result" in document and isinstance(document["result"], dict):
        return int(document["result"].get("status", 0))
    return 0


def _text(error: PanelauthError) -> list[str]:
    """The error text(s): the fixed reason, plus a detail for Permission denied (w§15.6)."""
    if isinstance(error, PermissionDenied) and error.message != error.reason:
        return [error.reason, error.message]
    return [error.message]


def success(api: Api, module: str, name: str, result: Any) -> Answer:
    reply = result if isinstance(result, Reply) else Reply(result)
    if api is Api.WHM1:
        return Answer(
            200,
            envelopes.whm1_success(
                name, reply.data, reason=reply.reason, raw_output=reply.raw_output
            ),
        )
    if api is Api.UAPI:
        return Answer(200, envelopes.uapi_success(reply.data, messages=list(reply.messages)))
    return Answer(200, envelopes.api2_success(module, name, reply.data))


def failure(api: Api, module: str, name: str, error: PanelauthError) -> Answer:
    """The error in the API's envelope: the one place an error becomes an answer (w§15.6).

    Only the error's `message` is shown; a StoreUnavailable's message is its plain reason,
    never the backend's own text. A 503 carries its Retry-After."""
    texts = _text(error)
    retry = error.retry_after_seconds if isinstance(error, ServiceUnavailable) else None
    if api is Api.WHM1:
        if isinstance(error, FunctionNotFound):
            reason = envelopes.whm1_not_found_reason(name)
        else:
            reason = " ".join(texts)
        return Answer(error.status, envelopes.whm1_failure(name, reason), retry)
    if api is Api.UAPI:
        return Answer(error.status, envelopes.uapi_failure(*texts), retry)
    return Answer(error.status, envelopes.api2_failure(module, name, " ".join(texts)), retry)
