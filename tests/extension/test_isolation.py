"""A plugin's bugs stay its own: one calm answer in the API's envelope and one log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from panelauth.api.context import Runtime
from panelauth.core.models import Account
from panelauth.extension import (
    InvalidArgument,
    NotFound,
    Params,
    PermissionDenied,
    Plugin,
    PluginContext,
)
from panelauth.extension.isolation import FAILED
from tests.api.helpers import BOB, ROOT, metadata, uapi, whm
from tests.extension.conftest import serving

SECRET_TEXT = "db password is hunter2"

plugin = Plugin("buggy", "1")


@plugin.uapi("Buggy", "crash", changes_state=False, sets_password=False)
async def crash(ctx: PluginContext, args: Params) -> Any:
    raise RuntimeError(SECRET_TEXT)


@plugin.whm1("buggy_crash", changes_state=False)
async def whm_crash(ctx: PluginContext, args: Params) -> Any:
    settings: dict[str, int] = {}
    return settings["missing"]  # a plugin's bug: KeyError


@plugin.uapi("Buggy", "unserialisable", changes_state=False, sets_password=False)
async def unserialisable(ctx: PluginContext, args: Params) -> Any:
    return {"a set": {1, 2}}


@plugin.uapi("Buggy", "typed", changes_state=False, sets_password=False)
async def typed(ctx: PluginContext, args: Params) -> Any:
    kind = args.require("kind")
    if kind == "invalid":
        raise InvalidArgument("The “zone” is malformed.")
    if kind == "missing":
        raise NotFound("No such zone.")
    raise PermissionDenied("Not yours.")


@plugin.uapi("Buggy", "echo", changes_state=False, sets_password=False)
async def echo(ctx: PluginContext, args: Params) -> Any:
    return {"names": args.get_list("name"), "user": ctx.user, "from": ctx.client_address}


async def test_an_unexpected_exception_is_a_calm_uapi_failure_and_one_log_line(
    runtime: Runtime, bob: Account, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = serving(runtime, plugin)
    with caplog.at_level(logging.ERROR):
        answer = await uapi(dispatcher, BOB, "Buggy", "crash")
    assert answer.status == 200
    assert answer.document["status"] == 0
    assert answer.document["errors"] == [FAILED]
    assert SECRET_TEXT not in str(answer.document)
    lines = [r for r in caplog.records if r.name == "panelauth.extension.isolation"]
    assert [r.getMessage() for r in lines] == [
        "plugin buggy: UAPI Buggy::crash raised RuntimeError"
    ]


async def test_an_unexpected_exception_in_whm_api_1_is_a_result_0(
    runtime: Runtime, root: Account, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await whm(serving(runtime, plugin), ROOT, "buggy_crash")
    assert answer.status == 200
    assert metadata(answer)["result"] == 0
    assert metadata(answer)["reason"] == FAILED
    assert "plugin buggy: WHM API 1 buggy_crash raised KeyError" in caplog.text


async def test_data_json_cannot_carry_is_a_failure_not_a_500(
    runtime: Runtime, bob: Account
) -> None:
    answer = await uapi(serving(runtime, plugin), BOB, "Buggy", "unserialisable")
    assert (answer.status, answer.document["status"]) == (200, 0)


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [
        ("invalid", 200, "The “zone” is malformed."),
        ("missing", 200, "No such zone."),
        ("denied", 403, "Not yours."),
    ],
)
async def test_typed_errors_are_answered_as_the_built_ins_are(
    runtime: Runtime, bob: Account, kind: str, status: int, error: str
) -> None:
    answer = await uapi(serving(runtime, plugin), BOB, "Buggy", "typed", kind=kind)
    assert answer.status == status
    assert answer.document["status"] == 0
    assert error in answer.document["errors"]


async def test_a_function_gets_the_caller_and_arguments_with_n_lists(
    runtime: Runtime, bob: Account
) -> None:
    answer = await uapi(serving(runtime, plugin), BOB, "Buggy", "echo", name__0="a", name__1="b")
    assert answer.document["data"] == {"names": ["a", "b"], "user": "bob", "from": "192.0.2.1"}


async def test_without_the_plugin_its_functions_are_unknown(runtime: Runtime, bob: Account) -> None:
    answer = await uapi(serving(runtime), BOB, "Buggy", "echo")
    assert answer.status == 404
