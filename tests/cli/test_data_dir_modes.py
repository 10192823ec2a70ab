"""Everything panelauth creates in its data directory is private, whatever the umask.

Directories 0700, files 0600: the store and SQLite's own -wal/-shm, settings, keys, logs, the
certificate, home directories and root's .accesshash. Checked by listing every file after
`init`, while `serve` runs after write requests, after it stops, and after a CLI write.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, PANELAUTH, RunningServer, free_port_offset

ROOT = ("root", ROOT_PASSWORD)
EXPECTED = {
    ".",
    "panelauth.db",
    "panelauth.db-wal",
    "panelauth.db-shm",
    "panelauth.yaml",
    "tfa.key",
    "tls",
    "tls/cert.pem",
    "tls/key.pem",
    "logs",
    "logs/access_log",
    "logs/login_log",
    "logs/audit_log",
    "logs/session_log",
    "logs/accounting_log",
    "home",
    "home/root",
    "home/root/.accesshash",
}


def private_listing(data_dir: Path) -> set[str]:
    """Every entry under `data_dir`, asserting each is 0700 (directory) or 0600 (file)."""
    names = set()
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = path.lstat().st_mode
        name = str(path.relative_to(data_dir))
        assert stat.S_ISDIR(mode) or stat.S_ISREG(mode), name
        expected = 0o700 if stat.S_ISDIR(mode) else 0o600
        assert stat.S_IMODE(mode) == expected, f"{name}: {stat.S_IMODE(mode):04o}"
        names.add(name)
    return names


def cli(data_dir: Path, umask: int, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*PANELAUTH, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        umask=umask,
        env={**os.environ, "PANELAUTH_ROOT_PASSWORD": ROOT_PASSWORD},
    )
    assert result.returncode == 0, result.stderr
    return result


def serve(data_dir: Path, umask: int, output: Path) -> RunningServer:
    offset = free_port_offset()
    with output.open("w") as out:
        process = subprocess.Popen(
            [*PANELAUTH, "--data-dir", str(data_dir), "serve", "--port-offset", str(offset)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            umask=umask,
        )
    server = RunningServer(process, data_dir, offset)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, output.read_text()
        try:
            with server.client() as client:
                client.get(server.url(2087, "/"))
            return server
        except (httpx.TransportError, OSError):
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"server did not start: {output.read_text()}")


@pytest.mark.parametrize("umask", [0o000, 0o022], ids=["umask 000", "umask 022"])
def test_every_file_in_the_data_directory_is_private(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o777)  # a lax directory made beforehand: init tightens it
    (data_dir / "panelauth.yaml").write_text(CHEAP_CONFIG)
    (data_dir / "panelauth.yaml").chmod(0o666)

    cli(data_dir, umask, "init")
    assert {"panelauth.db", "panelauth.yaml", "tls/key.pem"} <= private_listing(data_dir)

    server = serve(data_dir, umask, tmp_path / "serve.out")
    try:
        with server.client() as client:
            generated = client.get(
                server.url(2087, "/json-api/accesshash?api.version=1&generate=1"), auth=ROOT
            )
            assert generated.json()["metadata"]["result"] == 1
            login = client.post(
                server.url(2087, "/login/?login_only=1"),
                data={"user": "root", "pass": ROOT_PASSWORD},
            )
            assert login.status_code == 200  # a session: a store write and a session_log line
        names = private_listing(data_dir)
        assert names >= EXPECTED, EXPECTED - names  # -wal and -shm exist while serving
    finally:
        assert server.stop() == 0
    private_listing(data_dir)

    cli(data_dir, umask, "token", "create", "ci")
    assert "logs/accounting_log" in private_listing(data_dir)
