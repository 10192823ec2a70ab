"""The domains plugin behind a real `panelauth serve`, called the way its clients call it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BOB_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server_with_account
from tests.extension.test_example_e2e import token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def enabled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("domains") / "data"
    data_dir.mkdir()
    (data_dir / "panelauth.yaml").write_text(CHEAP_CONFIG + "plugins: [domains]\n")
    running = start_server_with_account(data_dir, "bob", BOB_PASSWORD)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tokens(enabled: RunningServer) -> tuple[str, str]:
    """Authorization headers: bob's cPanel token, root's WHM token."""
    return (
        f"cpanel bob:{token(enabled.data_dir, 'bob', 'cpanel')}",
        f"whm root:{token(enabled.data_dir, 'root', 'whm')}",
    )


def get(server: RunningServer, port: int, path: str, authorization: str, **params: str) -> Any:
    with server.client() as client:
        answer = client.get(
            server.url(port, path), params=params, headers={"Authorization": authorization}
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_o2switch_cli_creates_lists_and_deletes_a_subdomain(
    enabled: RunningServer, tokens: tuple[str, str]
) -> None:
    cpanel, _ = tokens
    # o2switch-cli: UAPI addsubdomain, then API 2 listsubdomains and delsubdomain
    added = get(
        enabled,
        2083,
        "/execute/SubDomain/addsubdomain",
        cpanel,
        domain="blog",
        rootdomain="bob.example",
        dir="/public_html/blog",
    )
    assert (added["status"], added["errors"]) == (1, None)
    api2 = {
        "cpanel_jsonapi_user": "bob",
        "cpanel_jsonapi_apiversion": "2",
        "cpanel_jsonapi_module": "SubDomain",
    }
    listed = get(
        enabled, 2083, "/json-api/cpanel", cpanel, cpanel_jsonapi_func="listsubdomains", **api2
    )["cpanelresult"]
    assert listed["event"]["result"] == 1
    assert [(row["domain"], row["rootdomain"], row["dir"]) for row in listed["data"]] == [
        ("blog.bob.example", "bob.example", "/home/bob/public_html/blog")
    ]
    # cpanelgo: DomainsData() with format=hash finds the subdomain for its certificates
    data = get(enabled, 2083, "/execute/DomainInfo/domains_data", cpanel, format="hash")
    assert [d["domain"] for d in data["data"]["sub_domains"]] == ["blog.bob.example"]
    deleted = get(
        enabled,
        2083,
        "/json-api/cpanel",
        cpanel,
        cpanel_jsonapi_func="delsubdomain",
        domain="blog.bob.example",
        **api2,
    )["cpanelresult"]
    assert deleted["data"][0]["result"] == 1


def test_ssh_port_and_has_feature_and_roots_settings(
    enabled: RunningServer, tokens: tuple[str, str]
) -> None:
    cpanel, whm = tokens
    assert get(enabled, 2083, "/execute/SSH/get_port", cpanel)["data"] == {"port": 22}
    unknown = get(enabled, 2083, "/execute/Features/has_feature", cpanel, name="nonesuch")
    assert (unknown["status"], unknown["errors"]) == (None, None)
    changed = get(
        enabled, 2087, "/json-api/domains_settings", whm, **{"api.version": "1", "ssh_port": "2222"}
    )
    assert changed["metadata"]["result"] == 1
    assert get(enabled, 2083, "/execute/SSH/get_port", cpanel)["data"] == {"port": 2222}
    # a cPanel token never reaches WHM API 1
    with enabled.client() as client:
        refused = client.get(
            enabled.url(2087, "/json-api/domains_settings"),
            params={"api.version": "1"},
            headers={"Authorization": cpanel},
        )
    assert refused.status_code == 403
