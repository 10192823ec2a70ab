"""The real server over TLS: the README's call, limits, workers, restart, graceful shutdown."""

from __future__ import annotations

import base64
import signal
import socket
import ssl
import time
import warnings
from pathlib import Path

import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, raw_exchange, run_cli, start_server

pytestmark = pytest.mark.e2e
ROOT = ("root", ROOT_PASSWORD)


def test_readme_call_answers_the_whm_envelope(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get(server.url(2087, "/json-api/version?api.version=1"), auth=ROOT)
    assert response.status_code == 200
    assert response.json()["metadata"]["result"] == 1


def test_certificate_is_valid_for_loopback_and_tls_1_2_or_newer(server: RunningServer) -> None:
    context = ssl.create_default_context(cafile=server.cert)
    with (
        socket.create_connection(("127.0.0.1", 2083 + server.offset)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: the point
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with (
            socket.create_connection(("127.0.0.1", 2083 + server.offset)) as raw,
            pytest.raises(ssl.SSLError),
        ):
            old.wrap_socket(raw)


def test_each_port_serves_its_service(server: RunningServer) -> None:
    with server.client() as client:
        whm = client.get(server.url(2087, "/json-api/version?api.version=1"), auth=ROOT)
        on_cpanel = client.get(server.url(2083, "/json-api/version?api.version=1"), auth=ROOT)
        on_webmail = client.get(server.url(2096, "/json-api/version?api.version=1"), auth=ROOT)
        plain = client.get(
            server.url(2086, "/json-api/version?api.version=1", tls=False), auth=ROOT
        )
    assert whm.status_code == 200
    assert on_cpanel.status_code == on_webmail.status_code == 403  # root is neither identity
    assert plain.status_code == 403 and plain.json()["metadata"]["reason"].startswith("SSL")


def test_sixteen_kib_request_line_works_and_oversized_is_431(server: RunningServer) -> None:
    with server.client() as client:
        long_query = "&crt=" + "A" * 16 * 1024
        ok = client.get(server.url(2087, "/json-api/version?api.version=1" + long_query), auth=ROOT)
        assert ok.status_code == 200
        huge_header = client.get(
            server.url(2087, "/json-api/version?api.version=1"),
            auth=ROOT,
            headers={"X-Filler": "B" * 70 * 1024},
        )
        assert huge_header.status_code == 431
    huge_line = raw_exchange(
        server, 2087, b"GET /json-api/version?x=" + b"C" * 70 * 1024 + b" HTTP/1.1\r\n\r\n"
    )
    assert huge_line.split(b" ", 2)[1] in (b"414", b"431")
    log = (server.data_dir / "logs" / "access_log").read_text()
    assert "A" * 100 not in log  # crt values are redacted


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ],
)
def test_garbage_on_the_socket_gets_a_400_not_a_500(
    server: RunningServer, request_bytes: bytes
) -> None:
    answer = raw_exchange(server, 2087, request_bytes)
    assert answer.split(b" ", 2)[1] == b"400", answer[:100]


def test_data_survives_a_kill_9_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    with first.client() as client:
        created = client.get(
            first.url(
                2087,
                "/json-api/createacct?api.version=1&username=dave"
                "&domain=dave.example&password=dave-Pw-1234",
            ),
            auth=ROOT,
        )
        assert created.json()["metadata"]["result"] == 1
    first.stop(signal.SIGKILL)
    second = start_server(data_dir)
    try:
        with second.client() as client:
            listed = client.get(second.url(2087, "/json-api/listaccts?api.version=1"), auth=ROOT)
            uapi = client.get(
                second.url(2083, "/execute/DomainInfo/list_domains"), auth=("dave", "dave-Pw-1234")
            )
        assert [a["user"] for a in listed.json()["data"]["acct"]] == ["dave"]
        assert uapi.json()["data"]["main_domain"] == "dave.example"
    finally:
        assert second.stop() == 0


def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    # a deliberately slow password hash keeps the request in flight while SIGTERM arrives
    slow = "argon2: {time_cost: 12, memory_cost_kib: 65536, parallelism: 1}\n"
    server = start_server(tmp_path / "data", config=slow)
    credentials = base64.b64encode(f"root:{ROOT_PASSWORD}".encode()).decode()
    context = ssl.create_default_context(cafile=server.cert)
    request = (
        "GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {credentials}\r\nConnection: close\r\n\r\n"
    ).encode()
    with (
        socket.create_connection(("127.0.0.1", 2087 + server.offset)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request)
        time.sleep(0.1)
        server.process.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        answer = tls.recv(4096)
        answered_at = time.monotonic()
        while chunk := tls.recv(4096):
            answer += chunk
    assert answered_at > signalled_at + 0.05, "the request finished before the signal"
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b'"result":1' in answer
    assert server.process.wait(timeout=20) == 0


def test_several_workers_serve_and_stop_cleanly(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--workers", "2")
    try:
        with server.client() as client:
            statuses = {
                client.get(
                    server.url(2087, "/json-api/version?api.version=1"), auth=ROOT
                ).status_code
                for _ in range(20)
            }
        assert statuses == {200}
    finally:
        assert server.stop() == 0


def test_a_revocation_by_the_cli_is_seen_by_every_worker_at_the_next_request(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, "--workers", "2")
    try:
        created = run_cli(data_dir, "token", "create", "ci")
        assert created.returncode == 0, created.stderr
        auth = {"Authorization": f"whm root:{created.stdout.split()[-1]}"}
        version = server.url(2087, "/json-api/version?api.version=1")

        def statuses() -> set[int]:  # a new connection each: both workers answer some
            codes = set()
            for _ in range(12):
                with server.client() as client:
                    codes.add(client.get(version, headers=auth).status_code)
            return codes

        assert statuses() == {200}  # every worker now holds the token in its cache
        revoked = run_cli(data_dir, "token", "revoke", "ci")
        assert revoked.returncode == 0, revoked.stderr
        assert statuses() == {403}
    finally:
        assert server.stop() == 0


def test_sessions_survive_a_kill_9_and_logs_reopen_on_sighup(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    with first.client() as client:
        login = client.post(
            first.url(2087, "/login/?login_only=1"), data={"user": "root", "pass": ROOT_PASSWORD}
        )
        token = login.json()["security_token"]
        cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    # kill -9: the session is in the store and survives; the log lines of the last ~100 ms
    # (FLUSH_INTERVAL, here the login's NEW line) may be lost, and are not asserted
    first.stop(signal.SIGKILL)
    second = start_server(data_dir)
    try:
        log = data_dir / "logs" / "session_log"
        with second.client() as client:
            # a fresh line, written (the timer) and checked for a move before the rename, so
            # the once-a-second "moved?" check cannot be what reopens
            client.post(
                second.url(2087, "/login/?login_only=1"),
                data={"user": "root", "pass": ROOT_PASSWORD},
            )
            time.sleep(0.3)
            log.rename(data_dir / "logs" / "session_log.1")
            second.process.send_signal(signal.SIGHUP)
            time.sleep(0.2)
            call = client.get(
                second.url(2087, f"{token}/json-api/version?api.version=1"),
                headers={"Cookie": cookie},
            )
            assert call.status_code == 200
            client.get(second.url(2087, f"{token}/logout/"), headers={"Cookie": cookie})
        assert "NEW " in (data_dir / "logs" / "session_log.1").read_text()
        deadline = time.monotonic() + 2  # the PURGE line is buffered up to ~100 ms
        while "PURGE root:" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.read_text().count("PURGE root:") == 1  # written to the reopened file
    finally:
        assert second.stop() == 0


def test_sigterm_writes_every_buffered_log_line(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    number = 40
    with server.client() as client:
        for index in range(number):
            url = server.url(2087, f"/json-api/version?api.version=1&n={index}")
            assert client.get(url, auth=ROOT).status_code == 200
    server.process.send_signal(signal.SIGTERM)  # at once: the last lines are still buffered
    assert server.process.wait(timeout=20) == 0
    logs = server.data_dir / "logs"
    access = [line for line in (logs / "access_log").read_text().splitlines() if "&n=" in line]
    assert [line.split("&n=")[1].split(" ")[0] for line in access] == [
        str(index) for index in range(number)
    ]
    audit = (logs / "audit_log").read_text().splitlines()
    assert sum('"outcome":"success"' in line for line in audit) == number
