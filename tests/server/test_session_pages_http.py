"""Active Sessions (WHM) and My Sessions (cPanel, Webmail): list and end, with the API's rules."""

from __future__ import annotations

import re
from pathlib import Path

from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login, session_events

PAGE = "/sessions/"
BOB_HOME = "/frontend/jupiter/index.html"


async def post(client: Client, browser: Browser, **fields: str) -> tuple[int, str]:
    response = await client.post(browser.token + PAGE, data=fields, headers=browser.headers)
    return response.status, await response.text()


def status_message(html: str) -> str:
    found = re.search(r'id="sessions-status" role="status">([^<]*)<', html)
    assert found is not None, "no status message"
    return found.group(1)


def session_ids(html: str) -> list[str]:
    return re.findall(r'name="session" value="([^"]+)"', html)


async def test_root_ends_an_accounts_session_and_its_pages_are_refused(
    make_client: MakeClient, logs: Path
) -> None:
    cpanel, whm = await make_client(Service.CPANEL), await make_client(Service.WHM)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    root = await login(whm, "root", ROOT_PASSWORD)
    home = await whm.get(root.token + "/", headers=root.headers)
    assert f'href="{root.token}/sessions/" id="to-sessions">Active Sessions</a>' in (
        await home.text()
    )
    page = await whm.get(root.token + PAGE, headers=root.headers)
    html = await page.text()
    assert page.status == 200 and "<h1>Active Sessions</h1>" in html
    assert "<strong>This session</strong>" in html  # root's own, which it cannot end here
    (bob_id,) = session_ids(html)
    assert bob_id.startswith("bob:")
    status, html = await post(whm, root, action="end", session=bob_id)
    assert status == 200 and status_message(html) == "Ended 1 session(s)."
    assert session_ids(html) == []
    refused = await cpanel.get(bob.token + BOB_HOME, headers=bob.headers, allow_redirects=False)
    assert refused.status != 200
    purges = [e for e in session_events(logs) if e.event == "PURGE"]
    assert (purges[-1].session_id, purges[-1].fields["reason"]) == (bob_id, "kill")


async def test_ending_all_of_a_users_sessions_needs_confirmation(
    make_client: MakeClient,
) -> None:
    cpanel, whm = await make_client(Service.CPANEL), await make_client(Service.WHM)
    for _ in range(2):
        await login(cpanel, "bob", BOB_PASSWORD)
    root = await login(whm, "root", ROOT_PASSWORD)
    status, html = await post(whm, root, action="end_user", user="bob")
    assert status == 400 and "confirmation" in status_message(html)
    assert len(session_ids(html)) == 2
    status, html = await post(whm, root, action="end_user", user="bob", confirm="1")
    assert status_message(html) == "Ended 2 session(s)."
    assert session_ids(html) == [] and 'id="end-user"' not in html


async def test_a_reseller_cannot_reach_foreign_sessions_by_editing_the_form(
    make_client: MakeClient, server_state: ServerState
) -> None:
    whm = await make_client(Service.WHM)
    root = await login(whm, "root", ROOT_PASSWORD)
    root_id = root.cookie.split("=", 1)[1].split("%2c", 1)[0].split(",", 1)[0]
    await server_state.runtime.store.set_reseller("bob", True, frozenset({"list-accts"}))
    reseller = await login(whm, "bob", BOB_PASSWORD)
    page = await whm.get(reseller.token + PAGE, headers=reseller.headers)
    assert page.status == 200 and "root" not in session_ids(await page.text())
    status, html = await post(whm, reseller, action="end", session=root_id)
    assert status == 403 and status_message(html) == "Permission denied"
    status, html = await post(whm, reseller, action="end_user", user="root", confirm="1")
    assert status == 403
    assert (await whm.get(root.token + "/", headers=root.headers)).status == 200


async def test_a_user_ends_its_other_sessions_from_my_sessions(make_client: MakeClient) -> None:
    cpanel = await make_client(Service.CPANEL)
    other = await login(cpanel, "bob", BOB_PASSWORD)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    home = await cpanel.get(bob.token + BOB_HOME, headers=bob.headers)
    assert 'id="to-sessions">My Sessions</a>' in await home.text()
    page = await cpanel.get(bob.token + PAGE, headers=bob.headers)
    html = await page.text()
    assert "<h1>My Sessions</h1>" in html and len(session_ids(html)) == 1
    status, html = await post(cpanel, bob, action="end_others")
    assert status == 200 and status_message(html) == "Ended 1 session(s)."
    assert session_ids(html) == []
    gone = await cpanel.get(other.token + BOB_HOME, headers=other.headers, allow_redirects=False)
    assert gone.status != 200
    assert (await cpanel.get(bob.token + BOB_HOME, headers=bob.headers)).status == 200
    # not an action of this page, and a session that is not the user's: refused, nothing ends
    status, html = await post(cpanel, bob, action="end_user", user="bob", confirm="1")
    assert status == 400 and status_message(html) == "This page does not know that action."
    status, html = await post(cpanel, bob, action="end", session="root:AAAAAAAAAAAAAAAA")
    assert status == 403
    status, html = await post(cpanel, bob, action="end", session="")
    assert status == 400 and status_message(html) == "Choose what to end."


async def test_a_mailbox_sees_only_its_own_sessions_on_webmail(make_client: MakeClient) -> None:
    webmail, cpanel = await make_client(Service.WEBMAIL), await make_client(Service.CPANEL)
    await login(cpanel, "bob", BOB_PASSWORD)
    mailbox = await login(webmail, "info@bob.example", "info-Pw-1234")
    page = await webmail.get(mailbox.token + PAGE, headers=mailbox.headers)
    html = await page.text()
    assert page.status == 200 and "<h1>My Sessions</h1>" in html
    assert session_ids(html) == [] and "<strong>This session</strong>" in html
