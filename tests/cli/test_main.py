"""The `panelauth` command: init, whmapi1 and uapi as cPanel's tools behave (w§20)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from panelauth.cli.main import cli
from tests.e2e.conftest import CHEAP_CONFIG


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "panelauth.yaml").write_text(CHEAP_CONFIG)
    return directory


def run(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], env=env)
    return result.exit_code, result.output


def test_init_prints_the_root_password_once_and_is_idempotent(data_dir: Path) -> None:
    code, output = run(data_dir, "init", env={"PANELAUTH_ROOT_PASSWORD": ""})
    assert code == 0
    assert "root password (shown once): " in output
    database = (data_dir / "panelauth.db").read_bytes()
    code, again = run(data_dir, "init")
    assert code == 0
    assert "nothing changed" in again and "password" not in again
    assert (data_dir / "panelauth.db").read_bytes() == database
    assert (data_dir / "tls" / "key.pem").stat().st_mode & 0o077 == 0


def test_init_takes_the_root_password_from_the_environment(data_dir: Path) -> None:
    code, output = run(data_dir, "init", env={"PANELAUTH_ROOT_PASSWORD": "from-env-Pw-1"})
    assert code == 0 and "shown once" not in output
    code, output = run(
        data_dir, "whmapi1", "--output=json", "passwd", "user=root", "password=next-Pw-123"
    )
    assert code == 0, output


def test_whmapi1_prints_yaml_by_default(data_dir: Path) -> None:
    run(data_dir, "init")
    code, output = run(data_dir, "whmapi1", "version")
    assert code == 0
    assert output.startswith("---\n")
    document = yaml.safe_load(output)
    assert document["metadata"] == {"command": "version", "reason": "OK", "result": 1, "version": 1}


@pytest.mark.parametrize("output", ["json", "jsonpretty"])
def test_whmapi1_json_outputs(data_dir: Path, output: str) -> None:
    run(data_dir, "init")
    code, text = run(
        data_dir,
        "whmapi1",
        f"--output={output}",
        "createacct",
        "username=bob",
        "domain=bob.example",
        "password=bob-Pw-1234",
    )
    assert code == 0, text
    assert json.loads(text)["metadata"]["result"] == 1
    assert ("\n  " in text) == (output == "jsonpretty")


def test_whmapi1_exit_status_follows_the_result(data_dir: Path) -> None:
    run(data_dir, "init")
    code, output = run(data_dir, "whmapi1", "removeacct", "user=ghost")
    assert code == 1
    assert yaml.safe_load(output)["metadata"]["result"] == 0
    code, _ = run(data_dir, "whmapi1", "nosuchfunction")
    assert code == 1


def test_arguments_must_be_key_value(data_dir: Path) -> None:
    run(data_dir, "init")
    code, output = run(data_dir, "whmapi1", "listaccts", "searchonly")
    assert code == 2
    assert "key=value" in output


def test_uapi_prints_the_wrapped_result_with_list_arguments(data_dir: Path) -> None:
    run(data_dir, "init")
    run(
        data_dir,
        "whmapi1",
        "createacct",
        "username=bob",
        "domain=bob.example",
        "password=bob-Pw-1234",
    )
    code, output = run(
        data_dir,
        "uapi",
        "--user=bob",
        "--output=json",
        "Variables",
        "get_user_information",
        "name-1=domain",
        "name-0=user",
    )
    assert code == 0, output
    assert json.loads(output) == {
        "apiversion": 3,
        "func": "get_user_information",
        "module": "Variables",
        "result": {
            "status": 1,
            "errors": None,
            "messages": None,
            "warnings": None,
            "data": {"user": "bob", "domain": "bob.example"},
            "metadata": {},
        },
    }


def test_uapi_for_an_unknown_user_fails(data_dir: Path) -> None:
    run(data_dir, "init")
    code, output = run(data_dir, "uapi", "--user=ghost", "DomainInfo", "list_domains")
    assert code == 1
    assert yaml.safe_load(output)["result"]["status"] == 0


def test_bad_configuration_is_a_clear_error(data_dir: Path) -> None:
    (data_dir / "panelauth.yaml").write_text("require_ssl: maybe\n")
    code, output = run(data_dir, "init")
    assert code == 1
    assert "require_ssl" in output


def test_migrate_brings_an_old_store_up_to_date_and_whmapi1_refuses_until_then(
    data_dir: Path,
) -> None:
    import sqlite3

    run(data_dir, "init")
    code, output = run(data_dir, "migrate")
    assert code == 0, output
    latest = int(output.split("schema version ")[1].split(" -> ")[0])
    # the reference plugins, served by default, have their storage brought up to date too
    plugins = [
        "plugin dns_zones: storage version 1.",
        "plugin ssl: storage version 0.",
        "plugin domains: storage version 1.",
    ]
    schema = f"{data_dir / 'panelauth.db'}: schema version"
    assert output.splitlines() == [f"{schema} {latest} -> {latest}.", *plugins]
    connection = sqlite3.connect(data_dir / "panelauth.db", isolation_level=None)
    connection.execute("DELETE FROM schema_version WHERE version = ?", (latest,))
    connection.close()
    code, output = run(data_dir, "whmapi1", "version")
    assert code == 1
    assert output == (
        f"Error: The store's schema is at version {latest - 1}; this panelauth needs version "
        f"{latest}: run `panelauth migrate`.\n"
    )
    code, output = run(data_dir, "migrate")
    assert code == 0
    assert output.splitlines() == [f"{schema} {latest - 1} -> {latest}.", *plugins]
    assert run(data_dir, "whmapi1", "version")[0] == 0


def test_migrate_needs_an_initialised_data_directory(data_dir: Path) -> None:
    code, output = run(data_dir, "migrate")
    assert code == 1
    assert "run `panelauth init`" in output
    assert not (data_dir / "panelauth.db").exists()
