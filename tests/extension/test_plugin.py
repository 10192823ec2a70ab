"""Declaring a plugin: what is refused at import, before panelauth ever loads it."""

from __future__ import annotations

from typing import Any

import pytest

from panelauth.api.registry import Api
from panelauth.extension import AccountCreated, Params, Plugin, PluginContext


async def nothing(ctx: PluginContext, args: Params) -> Any:
    return None


def test_the_decorators_record_each_function_with_its_requirements() -> None:
    plugin = Plugin("dns", "0.1")
    plugin.whm1("dns_list", acl="list-accts", changes_state=False)(nothing)
    plugin.api2("ZoneEdit", "fetchzones", changes_state=False, sets_password=False)(nothing)
    plugin.uapi(
        "DNS", "mass_edit_zone", changes_state=True, sets_password=False, feature="zoneedit"
    )(nothing)
    declared = {(f.api, f.module, f.name): f for f in plugin.functions}
    assert declared[(Api.WHM1, "", "dns_list")].acl == "list-accts"
    assert declared[(Api.API2, "ZoneEdit", "fetchzones")].changes_state is False
    edit = declared[(Api.UAPI, "DNS", "mass_edit_zone")]
    assert (edit.feature, edit.changes_state, edit.webmail_safe) == ("zoneedit", True, False)


@pytest.mark.parametrize("name", ["", "Upper", "has space", "1starts-with-digit", "x" * 65])
def test_a_plugin_name_that_cannot_be_a_namespace_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="plugin name"):
        Plugin(name, "1")


def test_an_unknown_acl_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match="unknown WHM ACL 'list-everything'"):
        Plugin("p", "1").whm1("f", acl="list-everything", changes_state=False)


@pytest.mark.parametrize(("module", "name"), [("DNS", "bad-name"), ("Bad::Module", "f")])
def test_names_the_paths_cannot_carry_are_refused(module: str, name: str) -> None:
    with pytest.raises(ValueError, match="is not a module or function name"):
        Plugin("p", "1").uapi(module, name, changes_state=False, sets_password=False)


def test_migration_versions_are_unique_and_positive() -> None:
    plugin = Plugin("p", "1")

    async def step(storage: Any) -> None:
        return None

    plugin.migration(2)(step)
    plugin.migration(1)(step)
    assert [version for version, _ in plugin.migrations] == [1, 2]
    for version in (1, 0):
        with pytest.raises(ValueError, match="versions are unique"):
            plugin.migration(version)


def test_only_panelauth_events_can_be_subscribed() -> None:
    plugin = Plugin("p", "1")

    async def handler(event: Any, services: Any) -> None:
        return None

    plugin.on(AccountCreated)(handler)
    assert plugin.event_handlers == [(AccountCreated, handler)]
    with pytest.raises(ValueError, match="is not a panelauth event"):
        plugin.on(str)(handler)  # type: ignore[arg-type]
