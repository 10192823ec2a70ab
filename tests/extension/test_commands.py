"""The command line with plugins: `functions`, `migrate`, and refusals before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panelauth.cli.main import cli
from tests.e2e.conftest import CHEAP_CONFIG

EXAMPLE_FUNCTIONS = {
    ("UAPI", "ExampleNotes", "get_note"),
    ("UAPI", "ExampleNotes", "set_note"),
    ("WHM API 1", "", "example_list_notes"),
}


def data_dir_with(tmp_path: Path, extra: str = "") -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "panelauth.yaml").write_text(CHEAP_CONFIG + extra)
    return directory


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args])
    return result.exit_code, result.output


def test_functions_lists_every_built_in_as_json(tmp_path: Path) -> None:
    code, output = run(data_dir_with(tmp_path), "functions", "--output=json")
    assert code == 0, output
    listed = json.loads(output)
    keys = {(f["api"], f["module"], f["function"]) for f in listed}
    assert ("WHM API 1", "", "createacct") in keys
    assert not keys & EXAMPLE_FUNCTIONS
    createacct = next(f for f in listed if f["function"] == "createacct")
    assert createacct["source"] == "built-in"
    assert createacct["acl"] == "create-acct"
    assert createacct["services"] == ["whostmgrd"]


def test_functions_lists_an_enabled_plugins_functions_with_their_source(tmp_path: Path) -> None:
    data_dir = data_dir_with(tmp_path, "plugins: [example]\n")
    code, output = run(data_dir, "functions", "--output=json")
    assert code == 0, output
    by_key = {(f["api"], f["module"], f["function"]): f for f in json.loads(output)}
    assert set(by_key) >= EXAMPLE_FUNCTIONS
    set_note = by_key[("UAPI", "ExampleNotes", "set_note")]
    assert set_note["source"] == "plugin example"
    assert set_note["changes_state"] is True
    assert set_note["services"] == ["cpaneld", "whostmgrd"]
    assert set_note["whm_token_acls"] == ["cpanel-api"]
    assert by_key[("WHM API 1", "", "example_list_notes")]["acl"] == "list-accts"


def test_functions_prints_a_table_by_default(tmp_path: Path) -> None:
    code, output = run(data_dir_with(tmp_path, "plugins: [example]\n"), "functions")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["API", "MODULE", "FUNCTION", "SOURCE", "SERVICES", "REQUIREMENTS"]
    row = next(line for line in lines if "set_note" in line)
    assert row.split()[:5] == ["UAPI", "ExampleNotes", "set_note", "plugin", "example"]
    assert row.rstrip().endswith("changes state")


@pytest.mark.parametrize("command", [["functions"], ["serve"], ["whmapi1", "version"]])
def test_a_plugin_that_is_not_installed_stops_every_command_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    data_dir = data_dir_with(tmp_path, "plugins: [absent_plugin]\n")
    assert run(data_dir, "init")[0] == 0  # init serves nothing: it does not load plugins
    code, output = run(data_dir, *command)
    assert code == 1
    assert output.splitlines()[-1].startswith("Error: plugins: “absent_plugin” is not installed")
    assert "Traceback" not in output
    assert "listening" not in output  # serve stops before it binds a port


@pytest.mark.parametrize("value", ["example", "[Example]", "[example, example]"])
def test_a_malformed_plugins_setting_is_refused(tmp_path: Path, value: str) -> None:
    code, output = run(data_dir_with(tmp_path, f"plugins: {value}\n"), "functions")
    assert code == 1
    assert output.startswith("Error: ") and "plugins: " in output


def test_migrate_brings_an_enabled_plugins_storage_up(tmp_path: Path) -> None:
    data_dir = data_dir_with(tmp_path, "plugins: [example]\n")
    assert run(data_dir, "init")[0] == 0
    code, output = run(data_dir, "migrate")
    assert code == 0, output
    assert "plugin example: storage version 1." in output
