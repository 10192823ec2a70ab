"""Reading answers (sans-I/O): an HTTP answer becomes a `Result` or one typed error (w§15).

Only the shapes documented in docs/wire.md §15 are read; nothing here depends on panelauth-only
behaviour, so the same code reads a cPanel & WHM server's answers.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from panelauth.client.errors import (
    AccessDenied,
    ClientError,
    FunctionFailed,
    FunctionNotFound,
    PermissionDenied,
    ServerBusy,
    SslRequired,
    TokenDenied,
    TokenScopeDenied,
    TwoFactorFailed,
    UnexpectedAnswer,
)

ACCESS_DENIED = "Access denied"
TWO_FACTOR = "TwoFactorAuth check failed"
TOKEN_SCOPE = "Token authentication allows access to UAPI or API 2 calls only."


class Api(enum.Enum):
    """Which envelope an answer comes in."""

    WHM1 = "whm1"  # {"data", "metadata": {"result", "reason"}} (w§15.1)
    UAPI = "uapi"  # flat {"status", "errors", "messages", "warnings", "data"} (w§15.2)
    API2 = "api2"  # {"cpanelresult": {"data", "event": {"result"}, "error"}} (w§15.3)
    UAPI_CPANEL = "uapi_cpanel"  # WHM API 1 with the flat UAPI result under data.uapi (w§15.4)


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer as the core needs it; the sync and async clients fill it in."""

    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes
    reason: str = ""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


@dataclass(frozen=True, slots=True)
class Result:
    """A successful call: `data` unwrapped from its envelope, with what came along."""

    data: Any
    messages: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    document: Any = field(default=None, compare=False, repr=False)
    """The answer's JSON document as the server sent it (for `uapi_cpanel`, the inner UAPI
    result), for callers that print the envelope, such as `panelauth whmapi1 --url`."""


def retry_after(response: Response) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = (response.header("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date = response.header("Date")
    try:
        now = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        now = None
    if now is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _json(response: Response) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        return None


def _texts(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return (str(value),)


def envelope_reason(document: Any) -> tuple[str, ...]:
    """The failure texts of any envelope (WHM API 1, UAPI, API 2), or ()."""
    if not isinstance(document, dict):
        return ()
    if isinstance(document.get("cpanelresult"), dict):
        result = document["cpanelresult"]
        data = result.get("data")
        reason = result.get("error") or (data.get("reason") if isinstance(data, dict) else None)
        return _texts(reason)
    if isinstance(document.get("metadata"), dict) and "result" in document["metadata"]:
        return _texts(document["metadata"].get("reason"))
    if "errors" in document:
        return _texts(document.get("errors"))
    return _texts(document.get("error"))


def failure(response: Response) -> ClientError | None:
    """The error an answer stands for when its status is not 200, else None (w§15.5, w§15.6)."""
    status = response.status
    if status == 200:
        return None
    document = _json(response)
    texts = envelope_reason(document)
    text = texts[0] if texts else response.body[:200].decode("utf-8", "replace").strip()
    if status == 503:
        return ServerBusy(text or "Service unavailable", retry_after=retry_after(response))
    if status == 401:
        return TokenDenied("the security token was refused", status=401)
    if status == 404:
        return FunctionNotFound(text or "Function not found", errors=texts, status=404)
    if status == 403:
        if text == ACCESS_DENIED:
            return AccessDenied(text, status=403)
        if text == TWO_FACTOR:
            return TwoFactorFailed(text, status=403)
        if text == TOKEN_SCOPE:
            return TokenScopeDenied(text, status=403)
        if text.startswith("SSL is required"):
            return SslRequired(text, status=403)
        return PermissionDenied(" ".join(texts) or text or "Permission denied", status=403)
    return UnexpectedAnswer(f"HTTP {status} {response.reason}: {text}".strip(), status=status)


def interpret(api: Api, response: Response) -> Result:
    """A 200 answer in `api`'s envelope: its Result, or FunctionFailed (w§15.1-15.4)."""
    document = _json(response)
    if not isinstance(document, dict):
        raise UnexpectedAnswer("the answer is not a JSON object", status=response.status)
    if api is Api.UAPI:
        return _uapi(document)
    if api is Api.API2:
        return _api2(document)
    result = _whm1(document)
    if api is Api.WHM1:
        return result
    if not isinstance(result.data, dict) or not isinstance(result.data.get("uapi"), dict):
        raise UnexpectedAnswer("uapi_cpanel answer without data.uapi", status=200)
    return _uapi(result.data["uapi"])


def _whm1(document: dict[str, Any]) -> Result:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or "result" not in metadata:
        raise UnexpectedAnswer("not a WHM API 1 answer", status=200)
    if str(metadata["result"]) != "1":
        reason = str(metadata.get("reason") or "failed")
        raise FunctionFailed(reason, data=document.get("data"), document=document)
    output: dict[str, Any] = metadata["output"] if isinstance(metadata.get("output"), dict) else {}
    return Result(
        document.get("data"),
        _texts(output.get("messages")),
        _texts(output.get("warnings")),
        metadata,
        document,
    )


def _uapi(document: dict[str, Any]) -> Result:
    if "status" not in document:
        raise UnexpectedAnswer("not a UAPI answer", status=200)
    if str(document["status"]) != "1":
        errors = _texts(document.get("errors")) or ("failed",)
        raise FunctionFailed(
            "; ".join(errors), errors=errors, data=document.get("data"), document=document
        )
    metadata = document.get("metadata")
    return Result(
        document.get("data"),
        _texts(document.get("messages")),
        _texts(document.get("warnings")),
        metadata if isinstance(metadata, dict) else {},
        document,
    )


def _api2(document: dict[str, Any]) -> Result:
    result = document.get("cpanelresult")
    if not isinstance(result, dict):
        raise UnexpectedAnswer("not an API 2 answer", status=200)
    event: dict[str, Any] = result["event"] if isinstance(result.get("event"), dict) else {}
    if str(event.get("result")) != "1" or result.get("error"):
        reason = str(result.get("error") or event.get("reason") or "failed")
        raise FunctionFailed(reason, data=result.get("data"), document=document)
    metadata = {key: value for key, value in result.items() if key != "data"}
    return Result(result.get("data"), metadata=metadata, document=document)
