"""The real server (uvloop, six listeners) behind a PROXY-protocol load balancer on loopback.

A raw socket from 127.0.0.2 (a trusted proxy) sends a v1 or v2 header, then the TLS handshake
and the request: the address in the header is the client's for every log, brute-force
counting and session binding. 127.0.0.1 is anyone else, served as without the setting (so
the harness' readiness probe works as usual).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server

pytestmark = pytest.mark.e2e
WHM_TLS, WHM_PLAIN = 2087, 2086
PROXY = "127.0.0.2"  # trusted: trusted_proxies is 127.0.0.2/31
DIRECT = "127.0.0.1"  # not trusted
TRUSTED = "trusted_proxies: [127.0.0.2/31]\nrequest_head_timeout: 1\n"
PROXIED_CONFIG = CHEAP_CONFIG + TRUSTED + "proxy_protocol: true\n"
ROOT_AUTH = "Basic " + base64.b64encode(f"root:{ROOT_PASSWORD}".encode()).decode()
WRONG_AUTH = "Basic " + base64.b64encode(b"root:not-the-password").decode()


def v1(client: str, port: int = 50000) -> bytes:
    family = "TCP4" if ipaddress.ip_address(client).version == 4 else "TCP6"
    target = "192.0.2.1" if family == "TCP4" else "2001:db8::1"
    return f"PROXY {family} {client} {target} {port} 443\r\n".encode()


def v2(client: str, port: int = 50000) -> bytes:
    source = ipaddress.ip_address(client)
    family, target = (0x11, "192.0.2.1") if source.version == 4 else (0x21, "2001:db8::1")
    block = source.packed + ipaddress.ip_address(target).packed + port.to_bytes(2, "big")
    block += (443).to_bytes(2, "big") + b"\x04\x00\x01\x00"  # a NOOP TLV, ignored
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, family]) + len(block).to_bytes(2, "big") + block


def exchange(
    server: RunningServer,
    request: bytes,
    *,
    header: bytes = b"",
    source: str = PROXY,
    port: int = WHM_TLS,
) -> bytes:
    """Connect from `source`, send `header` in clear, then `request` (over TLS on a TLS port);
    everything the server sent until it closed (b"" if it closed during the handshake)."""
    answer = b""
    with socket.create_connection(
        ("127.0.0.1", port + server.offset), timeout=20, source_address=(source, 0)
    ) as raw:
        raw.sendall(header)
        with suppress(ConnectionError, ssl.SSLError):
            if port != WHM_TLS:
                raw.sendall(request)
                while chunk := raw.recv(65536):
                    answer += chunk
                return answer
            context = ssl.create_default_context(cafile=server.cert)
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(request)
                while chunk := tls.recv(65536):
                    answer += chunk
    return answer


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer else 0


def document(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower(), head
    loaded: dict[str, object] = json.loads(body)
    return loaded


def log_lines(server: RunningServer, name: str, containing: str, timeout: float = 3) -> list[str]:
    """The lines of logs/`name` that contain `containing`, once there is one (lines are
    written in batches, ~100 ms apart)."""
    path = server.data_dir / "logs" / name
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        found = [line for line in text.splitlines() if containing in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("proxied") / "data", config=PROXIED_CONFIG)
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("make_header", "client"),
    [(v1, "203.0.113.7"), (v2, "203.0.113.8"), (v1, "2001:db8::7"), (v2, "2001:db8::8")],
    ids=["v1-ipv4", "v2-ipv4", "v1-ipv6", "v2-ipv6"],
)
def test_the_header_names_the_client_in_the_access_and_login_logs(
    proxied: RunningServer, make_header: Callable[[str], bytes], client: str
) -> None:
    marker = f"n={make_header.__name__}-{client}"
    answer = exchange(
        proxied,
        get(f"/json-api/version?api.version=1&{marker}", f"Authorization: {ROOT_AUTH}"),
        header=make_header(client),
    )
    assert status(answer) == 200, answer[:300]
    [line] = log_lines(proxied, "access_log", marker)
    assert line.startswith(f"{client} "), line
    assert any(client in line for line in log_lines(proxied, "login_log", client))


def test_x_forwarded_for_is_ignored_with_the_proxy_protocol_on(proxied: RunningServer) -> None:
    answer = exchange(
        proxied,
        get(
            "/json-api/version?api.version=1&n=xff",
            f"Authorization: {ROOT_AUTH}",
            "X-Forwarded-For: 198.51.100.99",
        ),
        header=v1("192.0.2.44"),
    )
    assert status(answer) == 200
    [line] = log_lines(proxied, "access_log", "n=xff")
    assert line.startswith("192.0.2.44 ") and "198.51.100.99" not in line


def test_failed_logins_count_against_the_address_in_the_header(proxied: RunningServer) -> None:
    forged = "198.51.100.23"
    for attempt in range(5):
        answer = exchange(
            proxied,
            get(f"/json-api/version?api.version=1&n=bad{attempt}", f"Authorization: {WRONG_AUTH}"),
            header=v2(forged, 40000 + attempt),
        )
        assert status(answer) in (401, 403), answer[:300]
    failed = log_lines(proxied, "login_log", forged)
    assert len(failed) == 5 and all("FAILED" in line for line in failed), failed
    # cPHulk's history names the client, never the proxy
    with proxied.client() as client:
        history = client.get(
            proxied.url(WHM_TLS, "/json-api/get_cphulk_failed_logins?api.version=1"),
            auth=("root", ROOT_PASSWORD),
        ).json()["data"]["failed_logins"]
        brutes = client.get(
            proxied.url(WHM_TLS, "/json-api/get_cphulk_brutes?api.version=1"),
            auth=("root", ROOT_PASSWORD),
        ).json()["data"]["brutes"]
    addresses = {entry["ip"] for entry in history}
    assert forged in addresses and PROXY not in addresses, history
    assert [entry["ip"] for entry in brutes] == [forged], brutes
    # the client is blocked, even with the right password; the proxy and its other clients are not
    blocked = exchange(
        proxied,
        get("/json-api/version?api.version=1&n=blocked", f"Authorization: {ROOT_AUTH}"),
        header=v2(forged),
    )
    assert status(blocked) in (401, 403), blocked[:300]
    other = exchange(
        proxied,
        get("/json-api/version?api.version=1&n=other", f"Authorization: {ROOT_AUTH}"),
        header=v2("198.51.100.24"),
    )
    assert status(other) == 200, other[:300]


def test_a_session_is_bound_to_the_address_in_the_header(proxied: RunningServer) -> None:
    form = f"user=root&pass={ROOT_PASSWORD}".encode()
    login = exchange(
        proxied,
        b"POST /login/?login_only=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n".encode()
        + form,
        header=v1("192.0.2.50"),
    )
    assert status(login) == 200, login[:300]
    token = str(document(login)["security_token"])
    cookie = next(
        line.split(":", 1)[1].split(";", 1)[0].strip()
        for line in login.decode("latin-1").split("\r\n")
        if line.lower().startswith("set-cookie:") and "whostmgrsession=" in line
    )
    [new] = log_lines(proxied, "session_log", "address=192.0.2.50")
    assert "NEW root:" in new
    call = get(f"{token}/json-api/version?api.version=1", f"Cookie: {cookie}")
    assert status(exchange(proxied, call, header=v1("192.0.2.50"))) == 200
    # strict cookie_ip_validation: the same cookie from another client is refused
    assert status(exchange(proxied, call, header=v1("192.0.2.51"))) in (401, 403)


def test_a_trusted_peer_without_a_header_is_closed_without_an_answer(
    proxied: RunningServer,
) -> None:
    request = get("/json-api/version?api.version=1&n=noheader", f"Authorization: {ROOT_AUTH}")
    assert exchange(proxied, request) == b""  # the ClientHello is not a header
    assert exchange(proxied, request, port=WHM_PLAIN) == b""
    started = time.monotonic()
    assert exchange(proxied, b"", header=b"PROXY TCP4 203.0.113.7", port=WHM_PLAIN) == b""
    assert 0.8 <= time.monotonic() - started < 4  # too slow: the head deadline (1 s)
    assert exchange(proxied, request, header=b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n") == b""
    assert not log_lines(proxied, "access_log", "n=noheader", timeout=0.3)
    app_log = Path(proxied.data_dir / "logs" / "panelauth.log").read_text()
    warnings = [
        json.loads(line) for line in app_log.splitlines() if "without a valid PROXY header" in line
    ]
    assert len(warnings) == 1, warnings  # at most once a minute, with a count
    assert warnings[0]["level"] == "warning"
    assert "the last from 127.0.0.2: no PROXY header" in str(warnings[0]["message"])
    assert "Traceback" not in app_log and "Traceback" not in proxied.output
    assert not [line for line in app_log.splitlines() if json.loads(line)["level"] == "error"]


def test_anyone_else_is_served_as_before_and_its_header_is_not_believed(
    proxied: RunningServer,
) -> None:
    direct = exchange(
        proxied,
        get("/json-api/version?api.version=1&n=direct", f"Authorization: {ROOT_AUTH}"),
        source=DIRECT,
    )
    assert status(direct) == 200
    [line] = log_lines(proxied, "access_log", "n=direct")
    assert line.startswith(f"{DIRECT} ")
    forged = exchange(
        proxied, get("/?n=forged"), header=v1("203.0.113.66"), source=DIRECT, port=WHM_PLAIN
    )
    assert status(forged) == 400
    assert exchange(proxied, get("/?n=forged"), header=v1("203.0.113.66"), source=DIRECT) == b""
    assert not log_lines(proxied, "access_log", "203.0.113.66", timeout=0.3)


def test_with_the_setting_off_a_header_is_not_believed(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", config=CHEAP_CONFIG + TRUSTED)
    try:
        header = v1("203.0.113.99")
        request = get("/json-api/version?api.version=1&n=off", f"Authorization: {ROOT_AUTH}")
        assert exchange(server, request, header=header) == b""  # not a ClientHello
        assert status(exchange(server, request, header=header, port=WHM_PLAIN)) == 400
        # without a header the trusted proxy is served, its own address the client
        assert status(exchange(server, request)) == 200
        [line] = log_lines(server, "access_log", "n=off")
        assert line.startswith(f"{PROXY} ")
        assert "203.0.113.99" not in (server.data_dir / "logs" / "access_log").read_text()
    finally:
        assert server.stop() == 0


def test_pre_forked_workers_each_read_the_headers(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--workers", "2", config=PROXIED_CONFIG)
    try:
        for index in range(12):
            client = f"192.0.2.{100 + index}"
            answer = exchange(
                server,
                get(f"/json-api/version?api.version=1&n=w{index}", f"Authorization: {ROOT_AUTH}"),
                header=(v1 if index % 2 else v2)(client),
            )
            assert status(answer) == 200, answer[:300]
            [line] = log_lines(server, "access_log", f"n=w{index} ")
            assert line.startswith(f"{client} ")
    finally:
        assert server.stop() == 0
