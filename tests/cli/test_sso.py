"""`panelauth login-url` (w§10.1, D8): a single-use URL, as cPanel's `whmlogin`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from panelauth.protocol.sessionlog import parse_session_log_line
from tests.cli.test_main import run
from tests.e2e.conftest import CHEAP_CONFIG

URL = r"https://panel\.example\.test:{port}/cpsess\d{{10}}/login/\?session={user}%3a[A-Za-z0-9_]{{16}}%3acreate_user_session%2c[0-9a-f]{{32}}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "panelauth.yaml").write_text(CHEAP_CONFIG + "hostname: panel.example.test\n")
    run(directory, "init")
    code, output = run(
        directory,
        "whmapi1",
        "createacct",
        "username=bob",
        "domain=bob.example",
        "password=bob-Pw-1234",
    )
    assert code == 0, output
    code, output = run(
        directory,
        "uapi",
        "--user",
        "bob",
        "Email",
        "add_pop",
        "email=info",
        "domain=bob.example",
        "password=info-Pw-1234",
    )
    assert code == 0, output
    return directory


def test_default_services_and_the_session_log(data_dir: Path) -> None:
    code, output = run(data_dir, "login-url", "root")
    assert code == 0, output
    assert re.fullmatch(URL.format(port=2087, user="root"), output.strip())
    code, output = run(data_dir, "login-url", "bob")
    assert re.fullmatch(URL.format(port=2083, user="bob"), output.strip()), output
    code, output = run(data_dir, "login-url", "info@bob.example")
    assert code == 0 and output.startswith("https://panel.example.test:2096/cpsess")
    lines = (data_dir / "logs" / "session_log").read_text().splitlines()
    events = [parse_session_log_line(line) for line in lines]
    assert [e.fields["method"] for e in events if e] == ["create_user_session"] * 3
    assert [e.fields["possessed"] for e in events if e] == ["0", "1", "1"]


def test_service_app_and_port_offset(data_dir: Path) -> None:
    code, output = run(
        data_dir,
        "login-url",
        "bob",
        "--service",
        "cpaneld",
        "--app",
        "Email_Accounts",
        "--port-offset",
        "10000",
    )
    assert code == 0, output
    assert output.startswith("https://panel.example.test:12083/cpsess")
    assert output.strip().endswith("&goto_uri=/frontend/jupiter/email_accounts/index.html")


def test_refusals_are_one_line_errors(data_dir: Path) -> None:
    code, output = run(data_dir, "login-url", "nosuchuser")
    assert code == 1
    assert output.strip() == "Error: No login URL for “nosuchuser”: no such account or mailbox."
    code, output = run(data_dir, "login-url", "root", "--service", "cpaneld")
    assert code == 1 and output.startswith("Error: root has no cPanel or Webmail session.")
    code, output = run(data_dir, "login-url", "bob", "--service", "whostmgrd")
    assert code == 1 and "only for root and resellers" in output
