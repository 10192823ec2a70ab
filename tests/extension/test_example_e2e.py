"""The example plugin served by a real `panelauth serve`, only when panelauth.yaml enables it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BOB_PASSWORD
from tests.e2e.conftest import (
    CHEAP_CONFIG,
    RunningServer,
    run_cli,
    start_server_with_account,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def enabled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("plugin") / "data"
    data_dir.mkdir()
    (data_dir / "panelauth.yaml").write_text(CHEAP_CONFIG + "plugins: [example]\n")
    running = start_server_with_account(data_dir, "bob", BOB_PASSWORD)
    yield running
    running.stop()


def token(data_dir: Path, user: str, kind: str) -> str:
    created = run_cli(data_dir, "token", "create", "--user", user, "--kind", kind, "e2e")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def tokens(enabled: RunningServer) -> tuple[str, str]:
    """Authorization headers: bob's cPanel token, root's WHM token."""
    return (
        f"cpanel bob:{token(enabled.data_dir, 'bob', 'cpanel')}",
        f"whm root:{token(enabled.data_dir, 'root', 'whm')}",
    )


def call(
    server: RunningServer, port: int, path: str, authorization: str, **params: str
) -> httpx.Response:
    with server.client() as client:
        return client.get(
            server.url(port, path), params=params, headers={"Authorization": authorization}
        )


def test_the_functions_are_served_with_cpanel_and_whm_tokens(
    enabled: RunningServer, tokens: tuple[str, str]
) -> None:
    cpanel, whm = tokens
    saved = call(
        enabled, 2083, "/execute/ExampleNotes/set_note", cpanel, domain="bob.example", note="hi"
    )
    assert saved.status_code == 200
    assert saved.json()["status"] == 1
    assert saved.json()["data"]["note"] == "hi"
    read = call(enabled, 2083, "/execute/ExampleNotes/get_note", cpanel, domain="bob.example")
    assert read.json()["data"]["user"] == "bob"
    listed = call(enabled, 2087, "/json-api/example_list_notes", whm, **{"api.version": "1"})
    assert listed.status_code == 200
    assert listed.json()["metadata"]["result"] == 1
    assert [note["domain"] for note in listed.json()["data"]["notes"]] == ["bob.example"]
    # panelauth's rules still apply: a cPanel token reaches UAPI only, never WHM API 1 (w§2.4)
    refused = call(enabled, 2087, "/json-api/example_list_notes", cpanel, **{"api.version": "1"})
    assert refused.status_code == 403


def test_the_plugins_checks_answer_in_the_envelope(
    enabled: RunningServer, tokens: tuple[str, str]
) -> None:
    cpanel, _ = tokens
    foreign = call(
        enabled, 2083, "/execute/ExampleNotes/set_note", cpanel, domain="root.localhost", note="x"
    )
    assert foreign.status_code == 403
    assert foreign.json()["status"] == 0
    too_long = call(
        enabled,
        2083,
        "/execute/ExampleNotes/set_note",
        cpanel,
        domain="bob.example",
        note="x" * 501,
    )
    assert too_long.status_code == 200
    assert too_long.json()["errors"] == ["A note has at most 500 characters."]


def test_without_the_setting_the_functions_are_unknown(tmp_path: Path) -> None:
    server = start_server_with_account(tmp_path / "data", "bob", BOB_PASSWORD)
    try:
        cpanel = f"cpanel bob:{token(server.data_dir, 'bob', 'cpanel')}"
        whm = f"whm root:{token(server.data_dir, 'root', 'whm')}"
        uapi = call(server, 2083, "/execute/ExampleNotes/get_note", cpanel, domain="bob.example")
        unknown = call(server, 2083, "/execute/NoSuchModule/get_note", cpanel)
        assert uapi.status_code == unknown.status_code == 404
        assert uapi.json()["errors"] == unknown.json()["errors"]
        listed = call(server, 2087, "/json-api/example_list_notes", whm, **{"api.version": "1"})
        assert listed.status_code == 404
    finally:
        server.stop()
