"""`/healthz` and `/readyz` on a real server: the six ports, a store that fails, the access log
(w§1.7)."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server

pytestmark = pytest.mark.e2e
PORTS = ((2082, False), (2083, True), (2086, False), (2087, True), (2095, False), (2096, True))
JSON = "application/json; charset=utf-8"


def _get(
    server: RunningServer, client: httpx.Client, port: int, tls: bool, path: str
) -> httpx.Response:
    return client.get(server.url(port, path, tls=tls), follow_redirects=False)


def test_both_probes_answer_on_the_six_ports(server: RunningServer) -> None:
    with server.client() as client:
        for port, tls in PORTS:
            live = _get(server, client, port, tls, "/healthz")
            assert (live.status_code, live.content) == (200, b'{"status":"ok"}'), port
            assert live.headers["Content-Type"] == JSON
            ready = _get(server, client, port, tls, "/readyz?from=balancer")
            assert (ready.status_code, ready.content) == (200, b'{"status":"ready"}'), port
            head = client.head(server.url(port, "/readyz", tls=tls))
            assert (head.status_code, head.content) == (200, b"")
            wrong = client.post(server.url(port, "/healthz", tls=tls), content=b"x")
            assert (wrong.status_code, wrong.headers["Allow"]) == (405, "GET, HEAD")
            # neither a sub-path nor a token prefix reaches them
            sub = _get(server, client, port, tls, "/healthz/x")
            prefixed = _get(server, client, port, tls, "/cpsess0123456789/readyz")
            assert sub.status_code == prefixed.status_code == (302 if tls else 301)


def test_a_wrong_password_on_a_probe_is_not_read(server: RunningServer) -> None:
    with server.client() as client:
        for port, tls in PORTS:
            for path in ("/healthz", "/readyz"):
                response = client.get(server.url(port, path, tls=tls), auth=("root", "wrong-pw"))
                assert response.status_code == 200
        # the same password on an API path is refused as ever: nothing was counted before
        version = client.get(
            server.url(2087, "/json-api/version?api.version=1"), auth=("root", ROOT_PASSWORD)
        )
    assert version.status_code == 200
    logs = server.data_dir / "logs"
    time.sleep(0.3)  # log lines are written in batches, at most ~100 ms apart
    login_log = logs / "login_log"
    assert not login_log.exists() or "FAILED" not in login_log.read_text()
    access = (logs / "access_log").read_text()
    assert '"GET /readyz?from=balancer HTTP/1.1" 200 18 ' in access


class DamagedDatabase:
    """Make every statement of the server's SQLite connection fail, then repair it.

    The first bytes of the database file are overwritten, and a commit plus a checkpoint from
    another connection make the server drop its page cache and read the file again ("file is not
    a database"); restoring them (and another commit) repairs it.
    """

    def __init__(self, database: Path) -> None:
        self.database = database
        self.original = b""

    def _commit_elsewhere(self) -> None:
        connection = sqlite3.connect(self.database, isolation_level=None, timeout=5)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            connection.execute(f"PRAGMA user_version = {version + 1}")  # unused by panelauth
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()

    def damage(self) -> None:
        self._commit_elsewhere()
        with self.database.open("r+b") as file:
            self.original = file.read(16)
            file.seek(0)
            file.write(b"\xff" * 16)

    def repair(self) -> None:
        with self.database.open("r+b") as file:
            file.write(self.original)
        self._commit_elsewhere()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "data")
    yield running
    running.stop()


def test_readyz_is_503_while_the_store_fails_and_healthz_stays_200(
    own_server: RunningServer,
) -> None:
    server = own_server
    database = server.data_dir / "panelauth.db"
    assert database.exists()
    damaged = DamagedDatabase(database)
    with server.client() as client:
        assert _get(server, client, 2087, True, "/readyz").status_code == 200
        damaged.damage()
        try:
            time.sleep(1.1)  # past the readiness cache
            for port, tls in PORTS:
                ready = _get(server, client, port, tls, "/readyz")
                assert ready.status_code == 503, port
                assert ready.content == b'{"status":"unavailable"}'
                assert ready.headers["Retry-After"] == "5"
                live = _get(server, client, port, tls, "/healthz")
                assert (live.status_code, live.content) == (200, b'{"status":"ok"}')
            # what needs the store fails too, and calmly (the same fault, seen by a real call)
            refused = client.get(
                server.url(2087, "/json-api/version?api.version=1"), auth=("root", ROOT_PASSWORD)
            )
            assert refused.status_code == 503
        finally:
            damaged.repair()
        deadline = time.monotonic() + 5
        while _get(server, client, 2087, True, "/readyz").status_code != 200:
            assert time.monotonic() < deadline, "readyz did not come back"
            time.sleep(0.2)
    assert "not ready: " in (server.data_dir / "logs" / "panelauth.log").read_text()


def test_a_stopping_server_drains_readyz_answers_503_while_the_ports_still_answer(
    tmp_path: Path,
) -> None:
    """With `drain_seconds`, SIGTERM first turns /readyz to 503 so a balancer moves away; the
    ports keep answering for that long, then the server stops; a second SIGTERM ends it early."""
    server = start_server(tmp_path / "data", config=CHEAP_CONFIG + "drain_seconds: 30\n")
    try:
        with server.client() as client:
            assert _get(server, client, 2087, True, "/readyz").status_code == 200
            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _get(server, client, 2087, True, "/readyz").status_code != 503:
                assert time.monotonic() < deadline, "readyz never turned 503"
                time.sleep(0.05)
            ready = _get(server, client, 2086, False, "/readyz")
            assert (ready.status_code, ready.content) == (503, b'{"status":"draining"}')
            assert _get(server, client, 2087, True, "/healthz").status_code == 200
            version = client.get(
                server.url(2087, "/json-api/version?api.version=1"), auth=("root", ROOT_PASSWORD)
            )
            assert version.status_code == 200  # requests are still served while draining
        started = time.monotonic()
        assert server.stop(signal.SIGTERM, timeout=20) == 0
        assert time.monotonic() - started < 15  # the second SIGTERM cut the 30 s drain short
    finally:
        server.stop(signal.SIGKILL)
