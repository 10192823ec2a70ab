"""`panelauth twofactor enrol|status|remove`: a QR code in the terminal and a first code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from panelauth.cli import twofactor as tfa_cli
from panelauth.cli.main import cli
from panelauth.server.datadir import DataDir
from tests.cli.test_main import run
from tests.e2e.conftest import CHEAP_CONFIG


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "panelauth.yaml").write_text(CHEAP_CONFIG)
    run(directory, "init")
    return directory


def test_enrol_shows_a_terminal_qr_code_and_refuses_a_wrong_code(data_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), "twofactor", "enrol"], input="000000\n"
    )
    assert result.exit_code == 1 and "invalid" in result.output
    assert "█" in result.output or "▀" in result.output  # QR modules as block characters
    assert "Key: " in result.output
    assert run(data_dir, "twofactor", "status")[1].strip() == "policy: on; root: off"


def test_enrol_with_the_code_of_the_shown_key_then_remove(data_dir: Path) -> None:
    shown: list[str] = []

    def answer(qr: str, secret: str) -> str:
        shown.append(qr)
        return pyotp.TOTP(secret).now()

    uri = asyncio.run(tfa_cli.enrol(DataDir(data_dir), "root", answer))
    assert uri.startswith("otpauth://totp/") and "root?secret=" in uri
    assert shown and shown[0].count("\n") > 10
    code, output = run(data_dir, "twofactor", "status")
    assert code == 0 and output.strip() == "policy: on; root: on"
    assert run(data_dir, "twofactor", "remove")[0] == 0
    assert run(data_dir, "twofactor", "remove")[0] == 1
    assert run(data_dir, "twofactor", "enrol", "--user", "ghost")[0] == 1
