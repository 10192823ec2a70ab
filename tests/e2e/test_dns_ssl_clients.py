"""The DNS, SSL and domain clients of issue 14, installed from their registries at test time and
run unchanged against a real `panelauth serve` with its default plugins (dns_zones, ssl,
domains), as docs/clients.md describes:

* certbot 1.32.0 with certbot-dns-cpanel 0.4.0 (PyPI), a DNS-01 run against Debian's `pebble`
  ACME test server on loopback (challenge validation switched off), then `certbot install`
  with the same plugin as installer (API 2 `SSL::installssl`), after which panelauth serves the
  certificate by SNI;
* o2switch-cli 0.1.4 (PyPI): `dns upsert` and `subdomains create`, configured by its config file;
* cpanel-cli 0.30.1 (PyPI, GPLv3, only ever run as a process): `cpanel get ssh port`.

A failed install fails the run: nothing is skipped (pebble comes from scripts/system-packages).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import select
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import RunningServer, log_with, start_server_with_account
from tests.e2e.services import free_port, wait_until
from tests.e2e.test_real_clients import _run

pytestmark = pytest.mark.e2e
BOB_PASSWORD = "bob-Client-Pw1"
PEBBLE = "/usr/bin/pebble"
CERTBOT = [
    "certbot==1.32.0",
    "acme==1.32.0",
    "josepy<2",
    "cryptography<42",
    "pyOpenSSL<24",
    "zope.interface<7",
    "zope.component<6",
    "zope.hookable<7",
    "zope.event<5",
    "certbot-dns-cpanel==0.4.0",
]
CHALLENGE = "_acme-challenge.bob.example."
ACCESS_LINE = re.compile(
    r'"GET (?P<target>/json-api/cpanel\?\S*) HTTP/1\.1" (?P<status>\d+) \d+ '
    r'"[^"]*" "(?P<agent>[^"]*)"'
)


# -- the server and its API ---------------------------------------------------------------------


@dataclass
class Panel:
    running: RunningServer
    token: str  # bob's cPanel API token

    def api2(self, module: str, function: str, **params: str) -> Any:
        """`cpanelresult.data` of an API 2 call as bob, with bob's token."""
        with self.running.client() as http:
            answer = http.get(
                self.running.url(2083, "/json-api/cpanel"),
                params={
                    "cpanel_jsonapi_apiversion": "2",
                    "cpanel_jsonapi_module": module,
                    "cpanel_jsonapi_func": function,
                    **params,
                },
                headers={"Authorization": f"cpanel bob:{self.token}"},
            )
        assert answer.status_code == 200, answer.text
        result = answer.json()["cpanelresult"]
        assert result["event"]["result"] == 1, result
        return result["data"]

    def calls(self, user_agent: str, last: str) -> list[tuple[int, dict[str, str]]]:
        """The API 2 calls a client (by its User-Agent) made, from the access log, once the
        log holds one of function `last`: (status, query) each."""
        log_with(self.running.data_dir / "logs" / "access_log", f"cpanel_jsonapi_func={last}&")
        found = []
        for line in (self.running.data_dir / "logs" / "access_log").read_text().splitlines():
            match = ACCESS_LINE.search(line)
            if match and match["agent"].startswith(user_agent):
                query = dict(parse_qsl(urlsplit(match["target"]).query))
                found.append((int(match["status"]), query))
        return found

    def records(self, **filters: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.api2(
            "ZoneEdit", "fetchzone_records", domain="bob.example", **filters
        )
        return rows


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    """A server (default plugins) with root's `bob` owning bob.example, and bob's token."""
    running = start_server_with_account(
        tmp_path_factory.mktemp("srv") / "data", "bob", BOB_PASSWORD
    )
    try:
        with running.client() as http:
            token = http.post(
                running.url(2083, "/execute/Tokens/create_full_access"),
                data={"name": "clients"},
                auth=("bob", BOB_PASSWORD),
            ).json()["data"]["token"]
        yield Panel(running, str(token))
    finally:
        running.stop()


def venv(root: Path, name: str, *requirements: str) -> Path:
    """A throw-away venv with `requirements` installed from the package index; its bin/."""
    _run([sys.executable, "-m", "venv", str(root / name)])
    _run([str(root / name / "bin" / "pip"), "install", "-q", *requirements])
    return root / name / "bin"


# -- certbot + certbot-dns-cpanel + pebble ------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for pebble's own HTTPS listener (127.0.0.1, localhost)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test listener")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "pebble-cert.pem", directory / "pebble-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Pebble:
    directory_url: str
    management_url: str
    ca_file: Path  # trusts pebble's HTTPS listeners (not the certificates it issues)
    process: subprocess.Popen[bytes]

    def root_pem(self) -> str:
        """The root of the certificates this pebble run issues (management API, /roots/0)."""
        with httpx.Client(verify=ssl.create_default_context(cafile=self.ca_file)) as http:
            answer = http.get(f"{self.management_url}/roots/0")
        answer.raise_for_status()
        return answer.text


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """Debian's pebble on loopback ports of its own, every challenge taken as valid."""
    assert Path(PEBBLE).exists(), f"{PEBBLE} missing: run ./scripts/system-packages (pebble)"
    directory = tmp_path_factory.mktemp("pebble")
    cert, key = self_signed(directory)
    listen, management = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{listen}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (directory / "pebble.json").write_text(json.dumps(config))
    output = (directory / "pebble.out").open("ab")
    process = subprocess.Popen(
        [PEBBLE, "-config", str(directory / "pebble.json")],
        stdout=output,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "PEBBLE_VA_ALWAYS_VALID": "1",  # no DNS lookup of the challenge
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",  # no deliberate badNonce answers
        },
        cwd=directory,
    )
    output.close()
    running = Pebble(
        f"https://127.0.0.1:{listen}/dir", f"https://127.0.0.1:{management}", cert, process
    )

    def answers() -> bool:
        assert process.poll() is None, (directory / "pebble.out").read_text()
        try:
            with httpx.Client(verify=ssl.create_default_context(cafile=cert)) as http:
                return http.get(running.directory_url).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answers, 20, "pebble", every=0.1)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class ZoneWatcher:
    """Polls bob's zone for TXT records at the challenge name while a client runs."""

    panel: Panel
    seen: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for row in self.panel.records(type="TXT", name=CHALLENGE):
                self.seen.add(str(row["txtdata"]))


def presented_certificate(panel: Panel, server_name: str) -> bytes:
    """DER of the certificate panelauth shows on 2083 for `server_name` (no verification)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    address = ("127.0.0.1", 2083 + panel.running.offset)
    with (
        socket.create_connection(address, timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return tls.getpeercert(True) or b""


def test_certbot_dns_cpanel_issues_through_pebble_and_installs(
    panel: Panel, pebble: Pebble, tmp_path: Path
) -> None:
    bin_dir = venv(tmp_path, "v-certbot", *CERTBOT)
    credentials = tmp_path / "cpanel.ini"
    credentials.write_text(
        f"cpanel_url = https://127.0.0.1:{2083 + panel.running.offset}\n"
        "cpanel_username = bob\n"
        f"cpanel_token = {panel.token}\n"
    )
    credentials.chmod(0o600)
    dirs = [f"--{name}-dir={tmp_path / 'le' / name}" for name in ("config", "work", "logs")]
    env = {
        "REQUESTS_CA_BUNDLE": str(pebble.ca_file),  # the ACME client (requests): pebble
        "SSL_CERT_FILE": panel.running.cert,  # certbot-dns-cpanel (urllib): panelauth
    }
    assert panel.records(type="TXT", name=CHALLENGE) == []

    watcher = ZoneWatcher(panel)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        _run(
            [
                str(bin_dir / "certbot"),
                "certonly",
                *dirs,
                "--non-interactive",
                "--agree-tos",
                "--register-unsafely-without-email",
                "--server",
                pebble.directory_url,
                "--authenticator",
                "cpanel",
                "--cpanel-credentials",
                str(credentials),
                "--cpanel-propagation-seconds",
                "2",
                "-d",
                "bob.example",
            ],
            env=env,
        )
    finally:
        watcher.stop.set()
        thread.join(timeout=10)

    live = tmp_path / "le" / "config" / "live" / "bob.example"
    issued = x509.load_pem_x509_certificate((live / "cert.pem").read_bytes())
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["bob.example"]
    # what the plugin sent (panelauth's access log): the zone list, the TXT record, then its
    # line looked up and removed; the record was in the zone while pebble validated, and is gone
    calls = panel.calls("Python-urllib/", "remove_zone_record")
    assert [(status, query["cpanel_jsonapi_func"]) for status, query in calls] == [
        (200, "fetchzones"),
        (200, "add_zone_record"),
        (200, "fetchzones"),
        (200, "fetchzone_records"),
        (200, "remove_zone_record"),
    ]
    added = calls[1][1]
    assert (added["domain"], added["name"], added["type"]) == (
        "bob.example",
        "_acme-challenge",
        "TXT",
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", added["txtdata"]), added
    assert watcher.seen == {added["txtdata"]}
    assert panel.records(type="TXT", name=CHALLENGE) == []

    # `certbot install`: the same plugin, as installer, sends API 2 SSL::installssl
    _run(
        [
            str(bin_dir / "certbot"),
            "install",
            *dirs,
            "--non-interactive",
            "--cert-name",
            "bob.example",
            "--installer",
            "cpanel",
            "--cpanel-credentials",
            str(credentials),
        ],
        env=env,
    )
    installs = [
        (status, query["domain"])
        for status, query in panel.calls("Python-urllib/", "installssl")
        if query["cpanel_jsonapi_module"] == "SSL"
    ]
    assert installs == [(200, "bob.example")]
    # the plugin sends the private key in the query string; no log of panelauth's keeps it
    key_lines = (live / "privkey.pem").read_text().splitlines()[1:-1]
    for log in (panel.running.data_dir / "logs").iterdir():
        text = log.read_text()
        assert not any(line in text or quote_plus(line) in text for line in key_lines), log
    expected = issued.public_bytes(serialization.Encoding.DER)
    wait_until(
        lambda: presented_certificate(panel, "bob.example") == expected,
        15,
        "panelauth serving the installed certificate for bob.example",
        every=0.5,
    )
    # and it verifies as a browser would: pebble's root, the bundle certbot sent, the name
    context = ssl.create_default_context(cadata=pebble.root_pem())
    address = ("127.0.0.1", 2083 + panel.running.offset)
    with (
        socket.create_connection(address, timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="bob.example") as tls,
    ):
        assert tls.getpeercert(True) == expected
    # a name with nothing installed still gets panelauth's own certificate
    assert presented_certificate(panel, "other.example") != expected


# -- o2switch-cli -------------------------------------------------------------------------------


def test_o2switch_cli_dns_upsert_and_subdomains_create(panel: Panel, tmp_path: Path) -> None:
    bin_dir = venv(tmp_path, "v-o2", "o2switch-cli==0.1.4")
    config = tmp_path / "o2switch.json"
    config.write_text(
        json.dumps(
            {
                "cpanel_host": "127.0.0.1",
                "cpanel_user": "bob",
                "cpanel_token": panel.token,
                "auth_method": "token",
                "port": 2083 + panel.running.offset,
                "verify_dns_after_mutation": False,
                "audit_log_path": str(tmp_path / "audit.jsonl"),
            }
        )
    )
    work = tmp_path / "work"  # no .env here, and a HOME of its own: only the config file counts
    work.mkdir()
    env = {"HOME": str(tmp_path / "home"), "SSL_CERT_FILE": panel.running.cert}
    cli = [str(bin_dir / "o2switch-cli"), "--config", str(config), "--json", "--yes"]

    def o2switch(*args: str, status: int, verification: str) -> dict[str, Any]:
        """Its JSON result, and its exit status."""
        done = subprocess.run(
            [*cli, *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
            cwd=work,
            check=False,
        )
        assert done.returncode == status, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
        result: dict[str, Any] = json.loads(done.stdout)
        assert result["verification"] == verification, result
        return result

    # a record it wrote but cannot see in public DNS (bob.example is not published, its check
    # is off): "accepted, pending visibility", which it ends with exit status 7 by design
    upsert = o2switch(
        "dns",
        "upsert",
        "--host",
        "app.bob.example",
        "--ip",
        "192.0.2.44",
        status=7,
        verification="accepted_pending_visibility",
    )
    assert (upsert["action"], upsert["applied"], upsert["zone"]) == ("created", True, "bob.example")
    rows = panel.records(type="A", name="app.bob.example.")
    assert [(row["address"], int(row["ttl"])) for row in rows] == [("192.0.2.44", 300)]

    # a hosted subdomain alone (no --ip: no DNS change of its own, nothing to verify)
    created = o2switch(
        "subdomains",
        "create",
        "--root",
        "bob.example",
        "--label",
        "shop",
        status=0,
        verification="skipped",
    )
    assert (created["action"], created["applied"]) == ("created", True), created
    # it sent dir=/public_html/shop: the document root inside bob's home directory
    subdomains = panel.api2("SubDomain", "listsubdomains")
    assert [(row["domain"], row["dir"]) for row in subdomains] == [
        ("shop.bob.example", "/home/bob/public_html/shop")
    ]
    audit = (tmp_path / "audit.jsonl").read_text()
    assert "app.bob.example" in audit and "shop.bob.example" in audit


# -- cpanel-cli ---------------------------------------------------------------------------------


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP CONNECT proxy on loopback that opens every tunnel to one port: cpanel-cli's port
    is fixed at 2083, the test server's is 2083 + offset. TLS stays end to end."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: int) -> None:
        self.target = target
        self.asked: list[str] = []
        super().__init__(("127.0.0.1", 0), _Tunnel)


class _Tunnel(socketserver.BaseRequestHandler):
    server: _ConnectProxy

    def handle(self) -> None:
        client: socket.socket = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = line.split(" ", 2)
        self.server.asked.append(f"{method} {target}")
        with socket.create_connection(("127.0.0.1", self.server.target), timeout=10) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            sockets = [client, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 10)
                if not readable:
                    return
                for each in readable:
                    data = each.recv(65536)
                    if not data:
                        return
                    (upstream if each is client else client).sendall(data)


def test_cpanel_cli_get_ssh_port(panel: Panel, tmp_path: Path) -> None:
    bin_dir = venv(tmp_path, "v-cpcli", "cpanel-cli==0.30.1")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cpanelrc").write_text(f"hostname=127.0.0.1\nusername=bob\nutoken={panel.token}\n")
    proxy = _ConnectProxy(2083 + panel.running.offset)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        env = {
            key: value
            for key, value in os.environ.items()
            if key.lower()
            not in {
                "no_proxy",
                "xdg_config_home",
                "cpanel_hostname",
                "cpanel_username",
                "cpanel_utoken",
            }
        }
        env.update(HOME=str(home), HTTPS_PROXY=f"http://127.0.0.1:{proxy.server_address[1]}")
        result = subprocess.run(
            [str(bin_dir / "cpanel"), "get", "ssh", "port"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    # it prints UAPI `data` as JSON: the reference page's `{"port": 22}`
    assert json.loads(result.stdout) == {"port": 22}
    assert proxy.asked == ["CONNECT 127.0.0.1:2083"]
