"""The real server (uvloop, TLS) against slow, greedy and vanishing clients (TR-6)."""

from __future__ import annotations

import base64
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server

pytestmark = pytest.mark.e2e
WHM = 2087
CONFIG = CHEAP_CONFIG + (
    "request_head_timeout: 0.5\nrequest_body_timeout: 0.5\nmax_connections_per_address: 4\n"
)
AUTH = base64.b64encode(f"root:{ROOT_PASSWORD}".encode())


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("slow") / "data", config=CONFIG)
    yield running
    running.stop()


def connect(server: RunningServer, source: str = "127.0.0.1") -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=server.cert)
    raw = socket.create_connection(
        ("127.0.0.1", WHM + server.offset), timeout=5, source_address=(source, 0)
    )
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def until_closed(tls: ssl.SSLSocket) -> tuple[bytes, float]:
    started, received = time.monotonic(), b""
    with suppress(ConnectionResetError, ssl.SSLError):
        while chunk := tls.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def answered(server: RunningServer, source: str) -> bool:
    try:
        with connect(server, source) as tls:
            tls.sendall(b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            return tls.recv(16).startswith(b"HTTP/1.1 ")
    except (ConnectionError, ssl.SSLError):
        return False


def test_a_stalled_head_is_closed_without_an_answer(slow_server: RunningServer) -> None:
    with connect(slow_server) as tls:
        tls.sendall(b"GET /json-api/version HTTP/1.1\r\nHost: x\r\n")
        received, elapsed = until_closed(tls)
    assert received == b"" and elapsed < 3


def test_a_trickled_body_gets_408(slow_server: RunningServer) -> None:
    with connect(slow_server) as tls:
        tls.sendall(
            b"POST /json-api/version HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
            + AUTH
            + b"\r\nContent-Length: 100\r\n\r\n"
        )
        started, received = time.monotonic(), b""
        with suppress(ConnectionError, ssl.SSLError):
            tls.settimeout(0.2)
            for _ in range(60):
                tls.sendall(b"a")
                with suppress(TimeoutError):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    received += chunk
    assert received.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 4


def test_the_per_address_limit_refuses_the_excess_and_recovers(
    slow_server: RunningServer,
) -> None:
    with ExitStack() as stack:
        held = [
            stack.enter_context(
                socket.create_connection(
                    ("127.0.0.1", WHM + slow_server.offset), source_address=("127.0.0.2", 0)
                )
            )
            for _ in range(4)
        ]  # plain TCP: still in the TLS handshake, not yet counted
        tls_held = [stack.enter_context(connect(slow_server, "127.0.0.2")) for _ in range(4)]
        assert not answered(slow_server, "127.0.0.2")
        assert answered(slow_server, "127.0.0.1")
        assert len(held) == len(tls_held) == 4
    time.sleep(0.3)
    assert answered(slow_server, "127.0.0.2")


def test_a_client_resetting_mid_body_leaves_no_error_in_the_app_log(
    slow_server: RunningServer,
) -> None:
    for _ in range(3):
        tls = connect(slow_server)
        tls.sendall(
            b"POST /json-api/version HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
            + AUTH
            + b"\r\nContent-Length: 100\r\n\r\napi.version=1"
        )
        time.sleep(0.1)
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()
    time.sleep(0.5)
    app_log = Path(slow_server.data_dir / "logs" / "panelauth.log")
    text = app_log.read_text() if app_log.exists() else ""
    assert '"level": "error"' not in text and "Traceback" not in text
    assert "Traceback" not in slow_server.output
