"""A real `panelauth serve` subprocess on loopback, on offset ports, over TLS."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ROOT_PASSWORD

PANELAUTH = [sys.executable, "-m", "panelauth"]
CHROMIUM = os.environ.get("PANELAUTH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHEAP_CONFIG = "argon2: {time_cost: 1, memory_cost_kib: 256, parallelism: 1}\n"


def free_port_offset() -> int:
    """An offset K such that 2082+K ... 2096+K are all free on 127.0.0.1."""
    for _ in range(200):
        offset = 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        socks = []
        try:
            for port in (2082, 2083, 2086, 2087, 2095, 2096):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port + offset))
            return offset
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free port range")


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    data_dir: Path
    offset: int

    def url(self, port: int, path: str, *, tls: bool = True) -> str:
        scheme = "https" if tls else "http"
        return f"{scheme}://127.0.0.1:{port + self.offset}{path}"

    @property
    def cert(self) -> str:
        return str(self.data_dir / "tls" / "cert.pem")

    def client(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=self.cert), timeout=10)

    @property
    def output(self) -> str:
        return (self.data_dir / "serve.out").read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def raw_exchange(server: RunningServer, port: int, request: bytes) -> bytes:
    """Send raw bytes over TLS and read the answer until the server closes."""
    context = ssl.create_default_context(cafile=server.cert)
    answer = b""
    with (
        socket.create_connection(("127.0.0.1", port + server.offset), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request)
        while chunk := tls.recv(65536):
            answer += chunk
    return answer


def run_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PANELAUTH, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_server(data_dir: Path, *extra: str, config: str = CHEAP_CONFIG) -> RunningServer:
    if not data_dir.exists():
        data_dir.mkdir(parents=True)
        (data_dir / "panelauth.yaml").write_text(config)
    offset = free_port_offset()
    with (data_dir / "serve.out").open("a") as output:
        process = subprocess.Popen(
            [
                *PANELAUTH,
                "--data-dir",
                str(data_dir),
                "serve",
                "--port-offset",
                str(offset),
                *extra,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PANELAUTH_ROOT_PASSWORD": ROOT_PASSWORD},
        )
    server = RunningServer(process, data_dir, offset)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {server.output}")
        try:
            with server.client() as client:
                client.get(server.url(2087, "/"))
            return server
        except (httpx.TransportError, OSError):
            time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError("server did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("e2e") / "data")
    yield running
    running.stop()


def start_server_with_account(data_dir: Path, user: str, password: str) -> RunningServer:
    """A server whose root has made the cPanel account `user` (domain `<user>.example`)."""
    running = start_server(data_dir)
    try:
        with running.client() as client:
            created = client.get(
                running.url(2087, "/json-api/createacct"),
                params={
                    "api.version": "1",
                    "username": user,
                    "domain": f"{user}.example",
                    "password": password,
                },
                auth=("root", ROOT_PASSWORD),
            )
            assert created.json()["metadata"]["result"] == 1
    except BaseException:
        running.stop()
        raise
    return running


def log_with(path: Path, text: str, within: float = 2.0) -> str:
    """The log file once it holds `text`: the server writes log lines in batches, at most about
    100 ms after the request they record."""
    deadline = time.monotonic() + within
    while True:
        found = path.read_text() if path.exists() else ""
        if text in found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def submit_login(page: Page, server: RunningServer, port: int, user: str, password: str) -> None:
    """Fill and send the login form of the service on `port` (a second factor may follow)."""
    page.goto(server.url(port, "/"))
    page.fill("#user", user)
    page.fill("#pass", password)
    page.click("#login_submit")


def log_in(page: Page, server: RunningServer, port: int, user: str, password: str) -> None:
    """Log in on the service on `port` and wait for the page header to name the user."""
    submit_login(page, server, port, user, password)
    expect(page.locator("header.top #user")).to_have_text(user)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's package), driven by Playwright."""
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True)
    yield context.new_page()
    context.close()
