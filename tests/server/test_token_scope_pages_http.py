"""A cPanel token on a non-API path: 403 with w§2.4's text, decided by the scheme alone (issue 8).

On cPanel ports (2083, and 2082 too) every HTML path answers the same 403 `text/plain` body
for a valid and an invalid token, without a store lookup or a login_log line. On WHM and
Webmail ports header auth is ignored on HTML paths (w§2.0), so the `cpanel` header changes
nothing there: the page is served as without it, and nothing is logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.protocol.services import Service
from panelauth.server.responses import TOKEN_SCOPE_TEXT
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import login
from tests.server.test_tokens_http import cpanel_token

INVALID = "cpanel bob:AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH"
# (method, path, form): every kind of path the HTML route takes
HTML_PATHS: list[tuple[str, str, dict[str, str] | None]] = [
    ("GET", "/", None),
    ("GET", "/login/", None),
    ("POST", "/login", {"user": "bob", "pass": BOB_PASSWORD}),
    ("POST", "/login/?login_only=1", {"user": "bob", "pass": BOB_PASSWORD}),
    ("GET", "/unprotected/panelauth.css", None),
    ("GET", "/cpsess0123456789/frontend/jupiter/index.html", None),
    ("GET", "/frontend/jupiter/index.html", None),
    ("GET", "/logout", None),
    ("GET", "/xferwebmail", None),
    ("GET", "/no/such/page", None),
]


class NoStore:
    """A store that must not be asked: every use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was consulted: {name}")


@pytest.fixture
def forbid_store(server_state: ServerState) -> Iterator[None]:
    """After set-up, any statement on the store's connection fails the test."""
    store = server_state.runtime.store
    assert isinstance(store, SqliteStore)
    real = store._db
    store._db = NoStore()  # type: ignore[assignment]
    yield
    store._db = real


def _log_text(logs: Path) -> str:
    return "".join(p.read_text() for p in logs.iterdir() if p.is_file())


async def _send(client: Any, method: str, path: str, form: dict[str, str] | None, auth: str) -> Any:
    headers = {"Authorization": auth}
    if method == "POST":
        return await client.post(path, data=form, headers=headers, allow_redirects=False)
    return await client.get(path, headers=headers, allow_redirects=False)


@pytest.mark.parametrize("tls", [True, False], ids=["2083", "2082"])
@pytest.mark.parametrize(("method", "path", "form"), HTML_PATHS)
async def test_a_cpanel_token_on_any_page_gets_the_scope_answer_unchecked(
    make_client: MakeClient,
    server_state: ServerState,
    logs: Path,
    tls: bool,
    method: str,
    path: str,
    form: dict[str, str] | None,
) -> None:
    valid = f"cpanel bob:{await cpanel_token(server_state)}"
    client = await make_client(Service.CPANEL, tls=tls)
    store = server_state.runtime.store
    assert isinstance(store, SqliteStore)
    real, store._db = store._db, NoStore()  # type: ignore[assignment]
    try:
        answers = [await _send(client, method, path, form, auth) for auth in (valid, INVALID)]
    finally:
        store._db = real
    for response in answers:
        assert response.status == 403
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert await response.text() == TOKEN_SCOPE_TEXT
        assert "Set-Cookie" not in response.headers and "Location" not in response.headers
    login_log = logs / "login_log"
    assert not login_log.exists() or "FAILED" not in login_log.read_text()
    assert valid.split(":")[1] not in _log_text(logs)


@pytest.mark.parametrize("scheme", ["cpanel", "CPANEL", "Cpanel"])
async def test_the_scheme_is_matched_case_insensitively(
    make_client: MakeClient, forbid_store: None, scheme: str
) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.get("/", headers={"Authorization": f"{scheme} bob:x"})
    assert response.status == 403 and await response.text() == TOKEN_SCOPE_TEXT


async def test_other_schemes_on_a_cpanel_page_still_get_the_page(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.get("/", headers={"Authorization": "whm root:x"})
    assert response.status == 200 and 'id="login_form"' in await response.text()


async def test_a_session_does_not_make_a_cpanel_token_welcome_on_a_page(
    make_client: MakeClient, server_state: ServerState
) -> None:
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    token = await cpanel_token(server_state)
    response = await client.get(
        f"{browser.token}/frontend/jupiter/index.html",
        headers={**browser.headers, "Authorization": f"cpanel bob:{token}"},
    )
    assert response.status == 403 and await response.text() == TOKEN_SCOPE_TEXT


@pytest.mark.parametrize("service", [Service.WHM, Service.WEBMAIL])
async def test_on_whm_and_webmail_pages_the_cpanel_header_is_ignored(
    make_client: MakeClient, server_state: ServerState, logs: Path, service: Service
) -> None:
    valid = f"cpanel bob:{await cpanel_token(server_state)}"
    client = await make_client(service)
    for auth in (valid, INVALID):
        response = await client.get("/", headers={"Authorization": auth})
        assert response.status == 200 and 'id="login_form"' in await response.text()
        css = await client.get("/unprotected/panelauth.css", headers={"Authorization": auth})
        assert css.status == 200
    login_log = logs / "login_log"
    assert not login_log.exists() or "FAILED" not in login_log.read_text()
