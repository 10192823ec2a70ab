"""Response documents of the three APIs and the fixed error bodies (w§15).

Builders return plain dicts; the server encodes them with a JSON encoder only (RX-4).
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]

# w§15.6: the single answer for every rejected credential on an API path
ACCESS_DENIED_BODY: JsonObject = {
    "cpanelresult": {
        "apiversion": "2",
        "error": "Access denied",
        "data": {"reason": "Access denied", "result": "0"},
        "type": "text",
    }
}

TWO_FACTOR_FAILED_BODY: JsonObject = {
    "data": {"reason": "TwoFactorAuth check failed", "result": "0"},
    "error": "TwoFactorAuth check failed",
    "type": "text",
}


def whm1_success(
    command: str, data: Any, *, reason: str = "OK", raw_output: str | None = None
) -> JsonObject:
    metadata: JsonObject = {"command": command, "reason": reason, "result": 1, "version": 1}
    if raw_output is not None:
        metadata["output"] = {"raw": raw_output}
    document: JsonObject = {"metadata": metadata}
    if data is not None:
        document["data"] = data
    return document


def whm1_failure(command: str, reason: str, *, raw_output: str | None = None) -> JsonObject:
    metadata: JsonObject = {"command": command, "reason": reason, "result": 0, "version": 1}
    if raw_output is not None:
        metadata["output"] = {"raw": raw_output}
    return {"metadata": metadata}


def uapi_success(
    data: Any, *, messages: list[str] | None = None, metadata: JsonObject | None = None
) -> JsonObject:
    return {
        "status": 1,
        "errors": None,
        "messages": messages or None,
        "warnings": None,
        "data": data,
        "metadata": metadata or {},
    }


def uapi_failure(*errors: str) -> JsonObject:
    return {
        "status": 0,
        "errors": list(errors),
        "messages": None,
        "warnings": None,
        "data": None,
        "metadata": {},
    }


def uapi_wrapped(module: str, function: str, flat: JsonObject) -> JsonObject:
    """The shape the command line and the docs show (w§15.2)."""
    return {"apiversion": 3, "func": function, "module": module, "result": flat}


def api2_success(module: str, function: str, data: Any) -> JsonObject:
    return {
        "cpanelresult": {
            "apiversion": 2,
            "module": module,
            "func": function,
            "data": data,
            "event": {"result": 1},
        }
    }


def api2_failure(module: str, function: str, error: str, *, apiversion: int = 2) -> JsonObject:
    return {
        "cpanelresult": {
            "apiversion": apiversion,
            "module": module,
            "func": function,
            "data": None,
            "event": {"result": 0},
            "error": error,
        }
    }


def whm1_not_found_reason(function: str) -> str:
    """The phrase cPanel uses on WHM ports for unknown functions (w§15.1), escaped as data."""
    return (
        f'Function not found: Unknown app ("{function}") requested for this version (1) of the API.'
    )
