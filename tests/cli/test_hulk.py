"""`panelauth hulk ...`: brute-force protection operated from the command line (w§19.3).

Failures are recorded through the core guard over the same data directory, as the server would
record them; the commands' effects are checked with a fresh guard over the store.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from panelauth.cli.local import local_state
from panelauth.cli.main import cli
from panelauth.core.bruteforce import BruteForceGuard
from panelauth.core.hulk import Method
from panelauth.errors import AuthenticationFailed
from panelauth.server.datadir import DataDir
from tests.cli.test_main import run
from tests.cli.test_tokens import data_dir

__all__ = ["data_dir"]

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def invoke(directory: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(directory), *args])


def ok(directory: Path, *args: str) -> str:
    code, output = run(directory, "hulk", *args)
    assert code == 0, output
    return output


def assert_one_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    assert all(char.isprintable() for char in lines[0])
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def fail(
    directory: Path,
    address: str,
    user: str,
    times: int = 1,
    method: Method = Method.PASSWORD,
    service: str = "cpaneld",
) -> None:
    """Record `times` failed logins through the server's guard, as a request would."""

    async def record() -> None:
        async with local_state(DataDir(directory)) as state:
            guard = state.runtime.guard
            for _ in range(times):
                gate = await guard.enter(address, user, service, method)
                await guard.fail(gate, AuthenticationFailed(claimed_user=user))

    asyncio.run(record())


def admitted(directory: Path, address: str, user: str = "bob") -> bool:
    """Whether a new guard over the store lets a password attempt through."""

    async def ask() -> bool:
        async with local_state(DataDir(directory)) as state:
            guard = BruteForceGuard(state.runtime.store, state.runtime.clock)
            try:
                await guard.admit(address, user, Method.PASSWORD)
            except AuthenticationFailed:
                return False
            return True

    return asyncio.run(ask())


def status(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ok(directory, "status", "--output", "yaml"))
    return document


def test_status_of_a_new_store(data_dir: Path) -> None:
    output = ok(data_dir, "status")
    assert output.startswith("Brute-force protection is enabled.\n")
    assert "  max_failures_byip = 5\n" in output and "  is_enabled = 1\n" in output
    assert "Blocked addresses (0):" in output and "Locked accounts (0):" in output
    assert "Failed logins remembered: 0; allow list: 0 entries; deny list: 0 entries." in output
    document = json.loads(ok(data_dir, "status", "--output", "json"))
    assert document["enabled"] is True and document["config"]["lookback_period_min"] == 360
    assert document["blocked_addresses"] == [] and document["locked_users"] == []
    assert document["counts"] == {
        "blocked_addresses": 0,
        "locked_users": 0,
        "failures": 0,
        "allow_list": 0,
        "deny_list": 0,
    }


def test_failures_show_in_history_and_status(data_dir: Path) -> None:
    fail(data_dir, "2001:db8::1", "alice", method=Method.API_TOKEN, service="whostmgrd")
    fail(data_dir, "192.0.2.7", "bob", times=5)  # max_failures_byip: blocked for 15 minutes
    assert not admitted(data_dir, "192.0.2.7")
    header, *rows = ok(data_dir, "history").strip().splitlines()
    assert header.split() == ["TIME", "ADDRESS", "USER", "SERVICE", "METHOD"]
    assert len(rows) == 6
    assert rows[0].split()[1:] == ["192.0.2.7", "bob", "cpaneld", "password"]
    assert rows[-1].split()[1:] == ["2001:db8::1", "alice", "whostmgrd", "api_token"]
    assert all(ISO.match(row.split()[0]) for row in rows)

    newest = json.loads(ok(data_dir, "history", "--limit", "2", "--output", "json"))
    assert len(newest) == 2
    assert set(newest[0]) == {"time", "address", "user", "service", "method"}
    assert newest[0]["address"] == "192.0.2.7" and ISO.match(newest[0]["time"])
    assert len(yaml.safe_load(ok(data_dir, "history", "--output", "yaml"))) == 6

    output = ok(data_dir, "status")
    assert "Blocked addresses (1):" in output and "Failed logins remembered: 6;" in output
    [row] = [line for line in output.splitlines() if line.startswith("192.0.2.7 ")]
    assert row.split()[3:6] == ["15m", "00s", "no"] or row.split()[3:6] == ["14m", "59s", "no"]
    document = status(data_dir)
    [block] = document["blocked_addresses"]
    assert block["address"] == "192.0.2.7" and block["excessive"] is False
    assert 890 <= block["seconds_left"] <= 900 and ISO.match(block["until"])
    assert document["counts"]["failures"] == 6


def test_status_marks_excessive_blocks_and_shows_account_locks(data_dir: Path) -> None:
    ok(data_dir, "config", "max_failures_byip=10", "mark_as_brute=3", "max_failures=2")
    for user in ("u1", "u2", "u3"):
        fail(data_dir, "192.0.2.7", user)  # the third marks the address as brute: one day
    fail(data_dir, "198.51.100.1", "carol")
    fail(data_dir, "198.51.100.2", "carol")  # max_failures: carol is locked for 15 minutes
    assert not admitted(data_dir, "192.0.2.7")
    assert not admitted(data_dir, "198.51.100.3", "carol")
    output = ok(data_dir, "status")
    assert "Blocked addresses (1):" in output and "Locked accounts (1):" in output
    [address] = [line for line in output.splitlines() if line.startswith("192.0.2.7 ")]
    assert address.split()[3:6] in (["23h", "59m", "yes"], ["24h", "00m", "yes"])
    assert "excessive failures from this address" in address
    [lock] = [line for line in output.splitlines() if line.startswith("carol ")]
    assert lock.split()[3:5] in (["14m", "59s"], ["15m", "00s"])
    document = status(data_dir)
    [block] = document["blocked_addresses"]
    assert block["excessive"] is True and block["seconds_left"] > 86_000
    [locked] = document["locked_users"]
    assert locked["user"] == "carol" and 0 < locked["seconds_left"] <= 900
    assert "excessive" not in locked
    assert document["counts"]["locked_users"] == 1


def test_unblock_lifts_blocks_and_locks_and_forgets_failures(data_dir: Path) -> None:
    fail(data_dir, "192.0.2.7", "bob", times=5)
    assert not admitted(data_dir, "192.0.2.7")
    assert ok(data_dir, "unblock", "192.0.2.0/24").strip() == (
        "Removed 6 record(s) (failures, blocks and locks)."
    )
    assert admitted(data_dir, "192.0.2.7")
    assert ok(data_dir, "history").strip().splitlines() == ["TIME  ADDRESS  USER  SERVICE  METHOD"]

    ok(data_dir, "config", "max_failures=2")
    fail(data_dir, "198.51.100.1", "carol")
    fail(data_dir, "198.51.100.2", "carol")
    assert not admitted(data_dir, "198.51.100.3", "carol")
    assert "Removed 3 record(s)" in ok(data_dir, "unblock", "Carol")  # names fold case
    assert admitted(data_dir, "198.51.100.3", "carol")
    assert status(data_dir)["locked_users"] == []


def test_nothing_to_unblock_is_not_an_error(data_dir: Path) -> None:
    output = ok(data_dir, "unblock", "203.0.113.5", "2001:db8::/48", "nobody")
    assert output.strip() == "Removed 0 record(s) (failures, blocks and locks)."


def test_allow_list_forgets_history_and_lists_and_removes(data_dir: Path) -> None:
    fail(data_dir, "192.0.2.7", "bob", times=5)
    fail(data_dir, "198.51.100.1", "bob")
    assert not admitted(data_dir, "192.0.2.7")
    output = ok(data_dir, "allow", "192.0.2.0/24", "--comment", "office")
    assert output.splitlines() == [
        "Added 192.0.2.0/24 to the allow list.",
        "Forgot 6 record(s) of failures and blocks.",
    ]
    assert admitted(data_dir, "192.0.2.7")
    history = json.loads(ok(data_dir, "history", "--output", "json"))
    assert [failure["address"] for failure in history] == ["198.51.100.1"]

    header, row = ok(data_dir, "allow", "--list").strip().splitlines()
    assert header.split() == ["NETWORK", "COMMENT", "ADDED"]
    assert row.split()[:2] == ["192.0.2.0/24", "office"] and ISO.match(row.split()[2])
    [entry] = yaml.safe_load(ok(data_dir, "allow", "--list", "--output", "yaml"))
    assert entry["network"] == "192.0.2.0/24" and entry["comment"] == "office"
    assert status(data_dir)["counts"]["allow_list"] == 1

    output = ok(data_dir, "allow", "--remove", "192.0.2.0/24")
    assert output.strip() == "Removed 192.0.2.0/24 from the allow list."
    assert json.loads(ok(data_dir, "allow", "--list", "--output", "json")) == []


def test_deny_list_persists_and_refuses(data_dir: Path) -> None:
    output = ok(data_dir, "deny", "203.0.113.9", "2001:DB8::/32", "--comment", "scanner")
    assert output.splitlines() == [
        "Added 203.0.113.9/32 to the deny list.",
        "Added 2001:db8::/32 to the deny list.",
    ]  # nothing is forgotten for a deny entry
    assert not admitted(data_dir, "203.0.113.9") and not admitted(data_dir, "2001:db8:1::5")
    assert admitted(data_dir, "203.0.113.10")
    entries = json.loads(ok(data_dir, "deny", "--list", "--output", "json"))
    assert [(e["network"], e["comment"]) for e in entries] == [
        ("2001:db8::/32", "scanner"),
        ("203.0.113.9/32", "scanner"),
    ]
    assert ok(data_dir, "allow", "--list").strip() == "NETWORK  COMMENT  ADDED"
    assert status(data_dir)["counts"]["deny_list"] == 2

    result = invoke(data_dir, "hulk", "deny", "--remove", "203.0.113.9", "198.51.100.1")
    assert result.stdout == "Removed 203.0.113.9/32 from the deny list.\n"
    assert_one_error(result, "198.51.100.1/32: The IP address is not on the list.")
    assert admitted(data_dir, "203.0.113.9")


def test_adding_adds_the_valid_entries_and_reports_each_refused_one(data_dir: Path) -> None:
    result = invoke(
        data_dir, "hulk", "allow", "198.51.100.1", "127.000.000.001", "10.0.0.1/8", "::1"
    )
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "Added 198.51.100.1/32 to the allow list.",
        "Added ::1/128 to the allow list.",
        "Forgot 0 record(s) of failures and blocks.",
    ]
    assert result.stderr.splitlines() == [
        "Error: Invalid IP address or range: “127.000.000.001”",
        "Error: Invalid IP address or range: “10.0.0.1/8”",
    ]
    networks = [e["network"] for e in json.loads(ok(data_dir, "allow", "--list", "--output=json"))]
    assert networks == ["198.51.100.1/32", "::1/128"]


def test_enable_and_disable(data_dir: Path) -> None:
    fail(data_dir, "192.0.2.7", "bob", times=5)
    assert ok(data_dir, "disable").strip() == "Brute-force protection is disabled."
    assert ok(data_dir, "disable").strip() == (
        "Brute-force protection is disabled (it already was)."
    )
    assert admitted(data_dir, "192.0.2.7")  # off: nothing is refused
    assert ok(data_dir, "status").startswith("Brute-force protection is disabled.\n")
    assert status(data_dir)["enabled"] is False
    assert ok(data_dir, "enable").strip() == "Brute-force protection is enabled."
    assert status(data_dir)["enabled"] is True
    assert not admitted(data_dir, "192.0.2.7")  # the block was kept


def test_config_sets_keys_all_or_none(data_dir: Path) -> None:
    output = ok(data_dir, "config", "max_failures=3", "lookback_time=600")
    assert output.splitlines() == ["max_failures = 3", "lookback_period_min = 10"]
    listing = ok(data_dir, "config").splitlines()
    assert "max_failures = 3" in listing and "lookback_period_min = 10" in listing
    assert status(data_dir)["config"]["max_failures"] == 3

    result = invoke(data_dir, "hulk", "config", "max_failures=7", "max_failures_byip=0")
    assert_one_error(result, "“max_failures_byip” must be between 1 and 100")
    assert status(data_dir)["config"]["max_failures"] == 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("unblock", "127.000.000.001"), "Invalid IP address or range: “127.000.000.001”"),
        (("unblock", "10.0.0.1/8"), "Invalid IP address or range: “10.0.0.1/8”"),
        (("unblock", "10.0.0.0/33"), "Invalid IP address or range"),
        (("unblock", "fe80::1%eth0"), "Invalid IP address or range"),
        (("unblock", "bob\x1b[31m"), "contains control characters"),
        (("unblock", "b" * 300), "A user name has at most 255 characters."),
        (("unblock", " "), "An address, CIDR or user name is required."),
        (("allow", "1.2.3.4\x07"), "Invalid IP address or range"),
        (("allow", "10.1.2.3/16"), "Invalid IP address or range: “10.1.2.3/16”"),
        (("deny", "127.000.000.001"), "Invalid IP address or range: “127.000.000.001”"),
        (("deny", "1" * 100), "Invalid IP address or range"),
        (("deny", "192.0.2.1", "--comment", "a\nb"), "printable characters"),
        (("deny", "--remove", "300.1.1.1"), "Invalid IP address or range: “300.1.1.1”"),
        (("config", "max_failures=abc"), "“max_failures” must be a whole number"),
        (("config", "nokey"), "“nokey” is not KEY=VALUE."),
        (("config", "colour=1"), "“colour” is not a cPHulk configuration key."),
        (("config", "command_to_run_on_brute_force=a\x1bb"), "not a single line of text"),
    ],
)
def test_bad_input_is_one_error_line(data_dir: Path, args: tuple[str, ...], fragment: str) -> None:
    before = status(data_dir)
    assert_one_error(invoke(data_dir, "hulk", *args), fragment)
    assert status(data_dir) == before


@pytest.mark.parametrize(
    "args",
    [
        ("allow",),
        ("allow", "--list", "192.0.2.1"),
        ("deny", "--remove", "192.0.2.1", "--comment", "x"),
        ("deny", "192.0.2.1", "--output", "json"),
        ("history", "--limit", "0"),
        ("unblock",),
    ],
)
def test_misuse_is_a_usage_error(data_dir: Path, args: tuple[str, ...]) -> None:
    code, output = run(data_dir, "hulk", *args)
    assert code == 2 and "Usage:" in output


def test_every_command_needs_an_initialised_store(tmp_path: Path) -> None:
    for args in (("status",), ("history",), ("allow", "--list"), ("unblock", "bob")):
        assert_one_error(invoke(tmp_path / "missing", "hulk", *args))
    assert not (tmp_path / "missing").exists()
