"""Which plugins load: only those `plugins:` names, and each refusal in one line."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from panelauth.extension import Plugin
from panelauth.extension import loading as loading_module
from panelauth.extension.loading import ENTRY_POINT_GROUP, PluginRefused, load_plugins

# a module of this test package, importable by entry points
not_a_plugin = object()
misnamed = Plugin("other", "1")


def installed(monkeypatch: pytest.MonkeyPatch, **points: str) -> None:
    """Pretend these entry points (name -> "module:attribute") are the installed ones."""
    fake = [EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in points.items()]

    def entry_points(**select: Any) -> list[EntryPoint]:
        assert select == {"group": ENTRY_POINT_GROUP}
        return fake

    monkeypatch.setattr(loading_module, "entry_points", entry_points)


def test_the_installed_example_loads_by_its_entry_point_name() -> None:
    (plugin,) = load_plugins(["example"])
    assert plugin.name == "example"
    assert {f.name for f in plugin.functions} >= {"set_note", "example_list_notes"}


def test_nothing_is_loaded_unless_named() -> None:
    assert load_plugins([]) == ()


def test_a_plugin_that_is_not_installed_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch)
    with pytest.raises(PluginRefused, match="plugins: “dns” is not installed"):
        load_plugins(["dns"])


def test_a_plugin_that_fails_to_import_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, broken="panelauth_no_such_module_anywhere:plugin")
    with pytest.raises(PluginRefused) as refused:
        load_plugins(["broken"])
    message = str(refused.value)
    assert message.startswith("plugins: “broken” (panelauth_no_such_module_anywhere:plugin) ")
    assert "failed to import: ModuleNotFoundError" in message
    assert "\n" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_an_entry_point_that_is_no_plugin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, odd=f"{__name__}:not_a_plugin")
    with pytest.raises(PluginRefused, match=r"is a object, not a panelauth\.extension\.Plugin"):
        load_plugins(["odd"])


def test_a_plugin_under_another_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, alias=f"{__name__}:misnamed")
    with pytest.raises(PluginRefused, match="the entry point “alias” holds the plugin “other”"):
        load_plugins(["alias"])
