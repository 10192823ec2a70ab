"""`panelauth cert` prints the server certificate a client trusts with `ca_file`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from panelauth.cli.main import cli
from tests.e2e.conftest import CHEAP_CONFIG


def test_cert_prints_the_pem_and_its_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "panelauth.yaml").write_text(CHEAP_CONFIG)
    runner = CliRunner()
    assert runner.invoke(cli, ["--data-dir", str(data), "init"]).exit_code == 0
    pem = runner.invoke(cli, ["--data-dir", str(data), "cert"])
    assert pem.exit_code == 0
    assert pem.output == (data / "tls" / "cert.pem").read_text()
    assert pem.output.startswith("-----BEGIN CERTIFICATE-----")
    path = runner.invoke(cli, ["--data-dir", str(data), "cert", "--path"])
    assert (path.exit_code, path.output) == (0, f"{data / 'tls' / 'cert.pem'}\n")


def test_cert_needs_an_initialised_data_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "none"), "cert"])
    assert result.exit_code == 1 and "Error:" in result.output
