"""`panelauth sessions list|kill` (SE-9): the WHM functions run as root, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.test_main import run
from tests.cli.test_tokens import data_dir

__all__ = ["data_dir"]


def new_session(directory: Path, user: str = "bob") -> str:
    code, output = run(
        directory, "whmapi1", "create_user_session", f"user={user}", "service=cpaneld"
    )
    assert code == 0, output
    session: str = yaml.safe_load(output)["data"]["session"]
    return session.split(",", maxsplit=1)[0]


def test_list_as_yaml_and_json(data_dir: Path) -> None:
    session_id = new_session(data_dir)
    code, output = run(data_dir, "sessions", "list")
    assert code == 0, output
    [row] = yaml.safe_load(output)
    assert row["id"] == session_id and row["user"] == "bob" and row["state"] == "unused"
    code, output = run(data_dir, "sessions", "list", "--user", "bob", "--output", "json")
    assert code == 0 and [r["id"] for r in json.loads(output)] == [session_id]


def test_kill_by_id_user_and_all_is_logged_with_kill(data_dir: Path) -> None:
    first, second, third = new_session(data_dir), new_session(data_dir), new_session(data_dir)
    code, output = run(data_dir, "sessions", "kill", "--id", first)
    assert code == 0 and "Ended 1 session(s)." in output
    code, output = run(data_dir, "sessions", "kill", "--user", "bob")
    assert code == 0 and "Ended 2 session(s)." in output
    new_session(data_dir)
    code, output = run(data_dir, "sessions", "kill", "--all")
    assert code == 0 and "Ended 1 session(s)." in output
    purged = [
        line
        for line in (data_dir / "logs" / "session_log").read_text().splitlines()
        if " PURGE " in line
    ]
    assert len(purged) == 4 and all(line.endswith(" kill") for line in purged)
    assert any(f" {second} " in line for line in purged)
    assert any(f" {third} " in line for line in purged)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--user", "zed"), "Error: The user “zed” does not exist."),
        (("kill", "--user", "zed"), "Error: The user “zed” does not exist."),
        (("kill", "--id", "bob:nosuchsession00"), "Error: No session “bob:nosuchsession00”."),
    ],
)
def test_an_unknown_user_or_id_is_one_error_line(
    data_dir: Path, args: tuple[str, ...], message: str
) -> None:
    code, output = run(data_dir, "sessions", *args)
    assert code == 1
    assert output.strip() == message


def test_kill_needs_exactly_one_target(data_dir: Path) -> None:
    for args in ((), ("--all", "--user", "bob")):
        code, output = run(data_dir, "sessions", "kill", *args)
        assert code == 2 and "exactly one" in output
