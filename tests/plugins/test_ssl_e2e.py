"""The SSL plugin in a real `panelauth serve`: installed the way certbot-dns-cpanel and
cpanelgo install, then served on the TLS ports by SNI."""

from __future__ import annotations

import datetime
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
from cryptography import x509

from tests.conftest import BOB_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server_with_account
from tests.extension.test_example_e2e import call, token
from tests.plugins.test_ssl import Issued, issue

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def enabled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("ssl") / "data"
    data_dir.mkdir()
    (data_dir / "panelauth.yaml").write_text(CHEAP_CONFIG + "plugins: [ssl]\n")
    running = start_server_with_account(data_dir, "bob", BOB_PASSWORD)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def cpanel(enabled: RunningServer) -> str:
    """bob's cPanel API token, as the Authorization header carries it."""
    return f"cpanel bob:{token(enabled.data_dir, 'bob', 'cpanel')}"


def served(server: RunningServer, port: int, server_name: str) -> x509.Certificate:
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port + server.offset), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def served_within(
    server: RunningServer, port: int, name: str, wanted: Issued, seconds: float = 10
) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if served(server, port, name) == wanted.certificate:
            return True
        time.sleep(0.2)
    return False


def test_certbots_installssl_is_served_by_sni(enabled: RunningServer, cpanel: str) -> None:
    now = datetime.datetime.now(datetime.UTC)
    leaf = issue(["bob.example", "www.bob.example"], at=now)
    default = served(enabled, 2083, "127.0.0.1.nip.example")
    # as certbot-dns-cpanel's installer calls it: API 2 in a GET query string
    answer = call(
        enabled,
        2083,
        "/json-api/cpanel",
        cpanel,
        cpanel_jsonapi_user="bob",
        cpanel_jsonapi_apiversion="2",
        cpanel_jsonapi_module="SSL",
        cpanel_jsonapi_func="installssl",
        domain="bob.example",
        crt=leaf.pem,
        key=leaf.key_pem,
    )
    assert answer.status_code == 200
    assert answer.json()["cpanelresult"]["data"][0]["result"] == 1
    for port in (2083, 2087, 2096):
        assert served_within(enabled, port, "www.bob.example", leaf)
    assert served(enabled, 2083, "nothing.example") == default


def test_a_uapi_install_replaces_it_and_bad_input_is_refused(
    enabled: RunningServer, cpanel: str
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    newer = issue(["bob.example"], at=now)
    with enabled.client() as client:
        answer = client.post(
            enabled.url(2083, "/execute/SSL/install_ssl"),
            data={"domain": "bob.example", "cert": newer.pem, "key": newer.key_pem},
            headers={"Authorization": cpanel},
        )
        expired = issue(["bob.example"], at=now, days=(-30, -1))
        refused = client.post(
            enabled.url(2083, "/execute/SSL/install_ssl"),
            data={"domain": "bob.example", "cert": expired.pem, "key": expired.key_pem},
            headers={"Authorization": cpanel},
        )
    assert answer.json()["status"] == 1
    assert refused.status_code == 200
    assert refused.json()["errors"][0].startswith("The certificate expired on")
    assert served_within(enabled, 2083, "bob.example", newer, seconds=20)
