"""WHM's Remote Access Key page (root only): show, generate, convert, each re-authenticated."""

from __future__ import annotations

import re
from pathlib import Path

from panelauth.core.tokens import TokenKind
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login

PAGE = "/accesskey/"
VERSION = "/json-api/version?api.version=1"


async def post(client: Client, browser: Browser, **fields: str) -> tuple[int, str]:
    response = await client.post(browser.token + PAGE, data=fields, headers=browser.headers)
    return response.status, await response.text()


def status_message(html: str) -> str:
    found = re.search(r'id="access-key-status" role="status">([^<]*)<', html)
    assert found is not None, "no status message"
    return found.group(1)


def shown_key(html: str) -> str:
    found = re.search(r'<textarea id="access-key" readonly rows="4">([^<]*)</textarea>', html)
    assert found is not None, "no key shown"
    return found.group(1)


async def test_root_generates_a_key_that_then_authenticates_and_replaces_the_old_one(
    make_client: MakeClient, logs: Path
) -> None:
    whm = await make_client(Service.WHM)
    root = await login(whm, "root", ROOT_PASSWORD)
    home = await whm.get(root.token + "/", headers=root.headers)
    assert f'href="{root.token}/accesskey/" id="to-access-key">Remote Access Key</a>' in (
        await home.text()
    )
    page = await whm.get(root.token + PAGE, headers=root.headers)
    html = await page.text()
    assert page.status == 200 and 'id="no-key"' in html and 'id="convert"' not in html
    # without the current password nothing happens
    status, html = await post(whm, root, action="generate")
    assert status == 403 and "current password" in status_message(html)
    assert 'id="no-key"' in html
    status, html = await post(whm, root, action="generate", current_password="wrong-Pw-1")
    assert status == 403 and "Nothing was changed" in status_message(html)
    assert "reauthentication: user password incorrect" in (logs / "login_log").read_text()
    status, html = await post(whm, root, action="generate", current_password=ROOT_PASSWORD)
    assert status == 200 and "was generated" in status_message(html)
    first = shown_key(html)
    assert len(first) > 100 and 'data-copy="access-key"' in html
    answer = await whm.get(VERSION, headers={"Authorization": f"WHM root:{first}"})
    assert answer.status == 200
    status, html = await post(whm, root, action="generate", current_password=ROOT_PASSWORD)
    second = shown_key(html)
    assert second != first
    old = await whm.get(VERSION, headers={"Authorization": f"WHM root:{first}"})
    assert old.status == 403


async def test_converting_makes_an_api_token_once(
    make_client: MakeClient, server_state: ServerState
) -> None:
    whm = await make_client(Service.WHM)
    root = await login(whm, "root", ROOT_PASSWORD)
    await post(whm, root, action="generate", current_password=ROOT_PASSWORD)
    status, html = await post(whm, root, action="convert", current_password=ROOT_PASSWORD)
    assert status == 200 and "is now also the API token “accesshash-" in status_message(html)
    # the page no longer offers to convert it, and names the token it became
    assert 'id="convert"' not in html and 'id="converted"' in html
    key = shown_key(html)
    tokens = await server_state.runtime.store.list_tokens("root", TokenKind.WHM)
    assert [t.name for t in tokens if t.name.startswith("accesshash-")]
    token_call = await whm.get(VERSION, headers={"Authorization": f"whm root:{key}"})
    assert token_call.status == 200
    # a stale form sent again is refused in plain words
    status, html = await post(whm, root, action="convert", current_password=ROOT_PASSWORD)
    assert status == 400 and status_message(html) == "This access hash was converted already."
    # a new key can be converted again
    await post(whm, root, action="generate", current_password=ROOT_PASSWORD)
    page = await whm.get(root.token + PAGE, headers=root.headers)
    assert 'id="convert"' in await page.text()


async def test_no_one_but_root_sees_it_and_unknown_actions_are_refused(
    make_client: MakeClient, server_state: ServerState
) -> None:
    cpanel = await make_client(Service.CPANEL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    assert (await cpanel.get(bob.token + PAGE, headers=bob.headers)).status == 404
    await server_state.runtime.store.set_reseller("bob", True, frozenset({"all"}))
    whm = await make_client(Service.WHM)
    reseller = await login(whm, "bob", BOB_PASSWORD)
    status, _ = await post(whm, reseller, action="generate", current_password=BOB_PASSWORD)
    assert status == 404
    assert await server_state.runtime.store.get_access_hash_digest("root") is None
    root = await login(whm, "root", ROOT_PASSWORD)
    status, html = await post(whm, root, action="print", current_password=ROOT_PASSWORD)
    assert status == 400 and status_message(html) == "This page does not know that action."
