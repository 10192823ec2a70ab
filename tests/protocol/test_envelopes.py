"""Response documents of WHM API 1, UAPI and API 2, and the fixed error bodies (w§15)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from panelauth.protocol import envelopes


def compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def test_access_denied_body_is_byte_for_byte_the_spec_answer() -> None:
    assert compact(envelopes.ACCESS_DENIED_BODY) == (
        '{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access '
        'denied","result":"0"},"type":"text"}}'
    )


def test_two_factor_failed_body_is_byte_for_byte_the_spec_answer() -> None:
    assert compact(envelopes.TWO_FACTOR_FAILED_BODY) == (
        '{"data":{"reason":"TwoFactorAuth check failed","result":"0"},'
        '"error":"TwoFactorAuth check failed","type":"text"}'
    )


def test_whm1_success_carries_data_and_metadata() -> None:
    assert envelopes.whm1_success("listaccts", {"acct": []}) == {
        "metadata": {"command": "listaccts", "reason": "OK", "result": 1, "version": 1},
        "data": {"acct": []},
    }


def test_whm1_success_omits_missing_data_and_adds_raw_output() -> None:
    document = envelopes.whm1_success("passwd", None, reason="Done", raw_output="")
    assert document == {
        "metadata": {
            "command": "passwd",
            "reason": "Done",
            "result": 1,
            "version": 1,
            "output": {"raw": ""},
        }
    }


@pytest.mark.parametrize("data", [[], {}, 0, ""])
def test_whm1_success_keeps_falsy_data(data: Any) -> None:
    assert envelopes.whm1_success("f", data)["data"] == data


def test_whm1_failure_has_result_zero_and_no_data() -> None:
    assert compact(envelopes.whm1_failure("listaccts", "Function not found")) == (
        '{"metadata":{"command":"listaccts","reason":"Function not found","result":0,"version":1}}'
    )
    with_raw = envelopes.whm1_failure("createacct", "No", raw_output="log")
    assert with_raw["metadata"]["output"] == {"raw": "log"}
    assert "data" not in with_raw


def test_uapi_success_is_the_flat_result() -> None:
    assert envelopes.uapi_success({"a": 1}) == {
        "status": 1,
        "errors": None,
        "messages": None,
        "warnings": None,
        "data": {"a": 1},
        "metadata": {},
    }


def test_uapi_success_with_messages_and_metadata() -> None:
    document = envelopes.uapi_success([], messages=["Saved."], metadata={"paginate": {}})
    assert document["messages"] == ["Saved."]
    assert document["metadata"] == {"paginate": {}}
    assert envelopes.uapi_success(None, messages=[])["messages"] is None


def test_uapi_failure_matches_the_spec_example() -> None:
    assert compact(envelopes.uapi_failure("Permission denied")) == (
        '{"status":0,"errors":["Permission denied"],"messages":null,"warnings":null,'
        '"data":null,"metadata":{}}'
    )
    assert envelopes.uapi_failure("a", "b")["errors"] == ["a", "b"]


def test_uapi_wrapped_is_the_command_line_shape() -> None:
    flat = envelopes.uapi_success({"x": 1})
    assert envelopes.uapi_wrapped("Email", "list_pops", flat) == {
        "apiversion": 3,
        "func": "list_pops",
        "module": "Email",
        "result": flat,
    }


def test_api2_success_matches_the_spec_layout() -> None:
    assert compact(envelopes.api2_success("Email", "listpops", [])) == (
        '{"cpanelresult":{"apiversion":2,"module":"Email","func":"listpops","data":[],'
        '"event":{"result":1}}}'
    )


def test_api2_failure_matches_the_spec_example() -> None:
    assert compact(envelopes.api2_failure("Email", "addpop", "Permission denied")) == (
        '{"cpanelresult":{"apiversion":2,"module":"Email","func":"addpop","data":null,'
        '"event":{"result":0},"error":"Permission denied"}}'
    )
    legacy = envelopes.api2_failure("Email", "f", "No", apiversion=1)
    assert legacy["cpanelresult"]["apiversion"] == 1


def test_whm1_not_found_reason_uses_cpanels_phrase() -> None:
    assert envelopes.whm1_not_found_reason("nosuch") == (
        'Function not found: Unknown app ("nosuch") requested for this version (1) of the API.'
    )


def test_whm1_not_found_reason_stays_data_in_json() -> None:
    reason = envelopes.whm1_not_found_reason('x"}<script>')
    assert json.loads(compact(envelopes.whm1_failure("x", reason)))["metadata"]["reason"] == reason
