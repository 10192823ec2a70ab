"""dns_zones in a real `panelauth serve`, called as certbot-dns-cpanel and o2switch-cli call it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import BOB_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server_with_account
from tests.extension.test_example_e2e import token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("dns_zones") / "data"
    data_dir.mkdir()
    (data_dir / "panelauth.yaml").write_text(CHEAP_CONFIG + "plugins: [dns_zones]\n")
    running = start_server_with_account(data_dir, "bob", BOB_PASSWORD)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tokens(server: RunningServer) -> tuple[str, str]:
    """Authorization headers: bob's cPanel token, root's WHM token."""
    return (
        f"cpanel bob:{token(server.data_dir, 'bob', 'cpanel')}",
        f"whm root:{token(server.data_dir, 'root', 'whm')}",
    )


def get(server: RunningServer, port: int, path: str, auth: str, params: Any) -> httpx.Response:
    with server.client() as client:
        return client.get(server.url(port, path), params=params, headers={"Authorization": auth})


def zoneedit(server: RunningServer, auth: str, function: str, **args: Any) -> dict[str, Any]:
    params = {
        "cpanel_jsonapi_user": "bob",
        "cpanel_jsonapi_apiversion": "2",
        "cpanel_jsonapi_module": "ZoneEdit",
        "cpanel_jsonapi_func": function,
        **args,
    }
    answer = get(server, 2083, "/json-api/cpanel", auth, params)
    assert answer.status_code == 200
    result: dict[str, Any] = answer.json()["cpanelresult"]
    return result


def test_certbot_dns_cpanel_challenge_round_trip(
    server: RunningServer, tokens: tuple[str, str]
) -> None:
    auth, _ = tokens
    zones = zoneedit(server, auth, "fetchzones")["data"][0]["zones"]
    assert "bob.example" in zones
    added = zoneedit(
        server,
        auth,
        "add_zone_record",
        domain="bob.example",
        name="_acme-challenge",
        type="TXT",
        txtdata="token-value",
        ttl=60,
    )
    assert added["data"][0]["result"]["status"] == 1
    found = zoneedit(
        server,
        auth,
        "fetchzone_records",
        domain="bob.example",
        name="_acme-challenge.bob.example.",
        type="TXT",
        txtdata="token-value",
        ttl=60,
    )
    lines = [int(record["line"]) for record in found["data"]]
    assert len(lines) == 1
    removed = zoneedit(server, auth, "remove_zone_record", domain="bob.example", line=lines[0])
    assert removed["data"][0]["result"]["status"] == 1


def test_o2switch_upsert_and_whm_export(server: RunningServer, tokens: tuple[str, str]) -> None:
    auth, whm = tokens
    parsed = get(server, 2083, "/execute/DNS/parse_zone", auth, {"zone": "bob.example"}).json()
    soa = next(e for e in parsed["data"] if e.get("record_type") == "SOA")
    serial = base64.b64decode(soa["data_b64"][2]).decode()
    add = {"record_type": "A", "dname": "app.bob.example", "ttl": 300, "data": ["192.0.2.44"]}
    params = [("zone", "bob.example"), ("serial", serial), ("add", json.dumps(add))]
    done = get(server, 2083, "/execute/DNS/mass_edit_zone", auth, params).json()
    assert done["status"] == 1, done
    assert int(done["data"]["new_serial"]) > int(serial)
    exported = get(
        server,
        2087,
        "/json-api/export_zone_files",
        whm,
        {"api.version": "1", "zone": "bob.example"},
    ).json()
    text = base64.b64decode(exported["data"]["payload"][0]["text_b64"]).decode()
    assert "app.bob.example.\t300\tIN\tA\t192.0.2.44" in text.splitlines()
