"""Clock jumps against a real server (FT-9), with libfaketime faking the wall clock only.

A session made while the clock ran two days fast must not outlive its normal lifetime once
the clock is corrected and the server restarted: the effective time never goes back.
"""

from __future__ import annotations

import glob
import json
import signal
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, run_cli, start_server

pytestmark = pytest.mark.e2e

DAYS_2 = 2 * 86_400
LIFETIME = 8.0  # session_absolute_seconds: short, so the test waits for it
CONFIG = CHEAP_CONFIG + f"session_idle_seconds: 60\nsession_absolute_seconds: {LIFETIME}\n"


def libfaketime() -> str:
    """The multi-threaded libfaketime (Debian `faketime`); missing fails the run, never skips."""
    found = sorted(
        glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
        + glob.glob("/usr/local/lib/faketime/libfaketimeMT.so.1")
    )
    if not found:
        pytest.fail("libfaketime is missing: install the Debian package faketime")
    return found[0]


def start_two_days_fast(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> RunningServer:
    """The server process's wall clock runs two days fast; its monotonic clock stays real."""
    with monkeypatch.context() as patch:
        patch.setenv("LD_PRELOAD", libfaketime())
        patch.setenv("FAKETIME", f"+{DAYS_2}")
        patch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")  # libfaketime fakes it by default
        return start_server(data_dir)


def call(server: RunningServer, token: str, cookie: str) -> int:
    with server.client() as client:
        response = client.get(
            server.url(2087, f"{token}/json-api/version?api.version=1"),
            headers={"Cookie": cookie},
        )
    return response.status_code


def test_a_session_made_two_days_fast_expires_on_time_after_a_corrected_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "panelauth.yaml").write_text(CONFIG)
    # initialised with the real clock, so the certificate is valid for this test's client
    init = run_cli(data_dir, "init", env={"PANELAUTH_ROOT_PASSWORD": ROOT_PASSWORD})
    assert init.returncode == 0, init.stderr

    fast = start_two_days_fast(data_dir, monkeypatch)
    try:
        with fast.client() as client:
            login = client.post(
                fast.url(2087, "/login/?login_only=1"),
                data={"user": "root", "pass": ROOT_PASSWORD},
            )
        logged_in = time.monotonic()
        assert login.status_code == 200, login.text
        token = login.json()["security_token"]
        cookie = login.headers["Set-Cookie"].split(";", 1)[0]
        assert call(fast, token, cookie) == 200
        # the fake clock did reach the server: its effective time is two days ahead
        mark = json.loads((data_dir / "effective-time.json").read_text())
        assert abs(mark["effective"] - (time.time() + DAYS_2)) < 60
    finally:
        assert fast.stop() == 0

    corrected = start_server(data_dir, "--workers", "2")
    try:
        assert time.monotonic() - logged_in < LIFETIME  # else this machine is too slow to tell
        assert call(corrected, token, cookie) == 200  # within its lifetime, it still works
        time.sleep(max(0.0, logged_in + LIFETIME + 0.5 - time.monotonic()))
        # its normal lifetime has passed in real time: refused, not two days from now
        assert call(corrected, token, cookie) == 403
    finally:
        assert corrected.stop(signal.SIGTERM) == 0
    session_id = unquote(cookie.split("=", 1)[1]).split(",", 1)[0]
    session_log = (data_dir / "logs" / "session_log").read_text()
    assert f"PURGE {session_id} expired" in session_log, session_log
