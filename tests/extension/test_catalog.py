"""The registry a server serves: built-ins first, then plugins; one owner per function."""

from __future__ import annotations

from typing import Any

import pytest

from panelauth.api.registry import Api
from panelauth.extension import Params, Plugin, PluginContext
from panelauth.extension.catalog import build_registry
from panelauth.extension.loading import PluginRefused


async def nothing(ctx: PluginContext, args: Params) -> Any:
    return None


def test_plugin_functions_are_served_with_their_source() -> None:
    plugin = Plugin("notes", "1")
    plugin.uapi("Notes", "get", changes_state=False, sets_password=False)(nothing)
    registry = build_registry([plugin])
    served = registry.get(Api.UAPI, "Notes", "get")
    assert served is not None
    assert served.source == "plugin notes"
    assert served.changes_state is False
    version = registry.get(Api.WHM1, "", "version")
    assert version is not None and version.source == "built-in"


def test_a_plugin_claiming_a_built_in_is_refused_naming_both() -> None:
    plugin = Plugin("rogue", "1")
    plugin.whm1("listaccts", changes_state=False)(nothing)
    with pytest.raises(PluginRefused) as refused:
        build_registry([plugin])
    assert str(refused.value) == (
        "plugins: WHM API 1 listaccts is claimed by plugin rogue, but built-in already serves it"
    )


def test_two_plugins_claiming_one_function_are_refused_naming_both() -> None:
    first, second = Plugin("first", "1"), Plugin("second", "1")
    for plugin in (first, second):
        plugin.api2("ZoneEdit", "fetchzones", changes_state=False, sets_password=False)(nothing)
    with pytest.raises(
        PluginRefused,
        match="API 2 ZoneEdit::fetchzones is claimed by plugin "
        "second, but plugin first already serves it",
    ):
        build_registry([first, second])


def test_the_same_name_in_another_api_is_another_function() -> None:
    plugin = Plugin("notes", "1")
    plugin.api2("Email", "list_pops", changes_state=False, sets_password=False)(nothing)
    assert build_registry([plugin]).get(Api.API2, "Email", "list_pops") is not None
