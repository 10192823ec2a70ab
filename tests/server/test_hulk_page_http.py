"""WHM's Brute Force Protection page (root only): what each form does, and what it refuses."""

from __future__ import annotations

import re

import pytest

from panelauth.clock import FrozenClock
from panelauth.core.bruteforce import BruteForceGuard
from panelauth.core.bruteforce_admin import BruteForceAdmin
from panelauth.core.hulk import ListName, Method
from panelauth.errors import AuthenticationFailed
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login

ATTACKER = "203.0.113.66"
PAGE = "/cphulk/"


@pytest.fixture
async def root_page(make_client: MakeClient) -> tuple[Client, Browser]:
    whm = await make_client(Service.WHM)
    return whm, await login(whm, "root", ROOT_PASSWORD)


async def post(client: Client, browser: Browser, **fields: str) -> tuple[int, str]:
    response = await client.post(browser.token + PAGE, data=fields, headers=browser.headers)
    return response.status, await response.text()


def status_message(html: str) -> str:
    found = re.search(r'id="hulk-status" role="status">([^<]*)<', html)
    assert found is not None, "no status message"
    return found.group(1)


async def block(state: ServerState, address: str = ATTACKER) -> None:
    guard = BruteForceGuard(state.runtime.store, state.runtime.clock)
    for user in ("a", "b", "c", "d", "e"):
        try:
            async with guard.attempt(address, user, "cpaneld", Method.PASSWORD) as gate:
                await gate.reserve()
                raise AuthenticationFailed("user password incorrect", claimed_user=user)
        except AuthenticationFailed:
            pass
    admin = BruteForceAdmin(state.runtime.store, state.runtime.clock)
    assert [b.shown for b in await admin.blocks()] == [address]


async def test_root_reaches_the_page_from_its_home(root_page: tuple[Client, Browser]) -> None:
    whm, root = root_page
    home = await whm.get(root.token + "/", headers=root.headers)
    link = f'href="{root.token}/cphulk/" id="to-hulk">Brute Force Protection</a>'
    assert link in await home.text()
    page = await whm.get(root.token + PAGE, headers=root.headers)
    html = await page.text()
    assert page.status == 200
    assert "<h1>Brute Force Protection</h1>" in html
    assert 'id="no-blocks"' in html and 'id="no-history"' in html
    assert "Brute-force protection is <strong>on</strong>" in html


async def test_no_one_but_root_sees_it(make_client: MakeClient, server_state: ServerState) -> None:
    cpanel = await make_client(Service.CPANEL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    assert (await cpanel.get(bob.token + PAGE, headers=bob.headers)).status == 404
    home = await cpanel.get(bob.token + "/frontend/jupiter/index.html", headers=bob.headers)
    assert "to-hulk" not in await home.text()
    await server_state.runtime.store.set_reseller("bob", True, frozenset({"all"}))
    whm = await make_client(Service.WHM)
    reseller = await login(whm, "bob", BOB_PASSWORD)
    assert (await whm.get(reseller.token + PAGE, headers=reseller.headers)).status == 404
    status, _ = await post(whm, reseller, action="disable")
    assert status == 404
    config = await BruteForceAdmin(server_state.runtime.store, server_state.runtime.clock).config()
    assert config.is_enabled == 1


async def test_the_switch_and_the_configuration(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    admin = BruteForceAdmin(server_state.runtime.store, server_state.runtime.clock)
    status, html = await post(whm, root, action="disable")
    assert status == 200 and status_message(html) == "Brute-force protection is off."
    assert (await admin.config()).is_enabled == 0
    await post(whm, root, action="enable")
    assert (await admin.config()).is_enabled == 1
    fields = {
        "action": "config",
        "ip_based_protection": "1",
        "max_failures_byip": "7",
        "ip_brute_force_period_mins": "20",
        "mark_as_brute": "40",
        "max_failures": "12",
        "brute_force_period_mins": "5",
        "lookback_period_min": "360",
    }  # the two account switches unticked: off
    status, html = await post(whm, root, **fields)
    assert status == 200 and status_message(html) == "The configuration was saved."
    config = await admin.config()
    assert (config.max_failures_byip, config.max_failures) == (7, 12)
    assert config.username_based_protection == 0
    # a bad value changes nothing and says why
    status, html = await post(whm, root, **{**fields, "max_failures": "500"})
    assert status == 400
    assert "“max_failures” must be between 1 and 100" in status_message(html)
    assert (await admin.config()).max_failures == 12
    assert 'id="max_failures" name="max_failures" value="500"' in html  # what was typed
    assert 'id="max_failures_byip" name="max_failures_byip" value="7"' in html


async def test_lists_keep_what_was_typed_and_removal_needs_confirmation(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    admin = BruteForceAdmin(server_state.runtime.store, server_state.runtime.clock)
    status, html = await post(
        whm, root, action="add_white", ip="127.000.000.001", comment="<b>office</b>"
    )
    assert status == 400 and "Invalid IP address" in status_message(html)
    # kept in the form it came from only (never pre-filled into the deny list's), and escaped
    assert html.count('value="127.000.000.001"') == 1
    assert html.count('value="&lt;b&gt;office&lt;/b&gt;"') == 1
    assert re.search(r'id="white-ip" name="ip" required maxlength="64" value="127\.000', html)
    assert await admin.entries(ListName.WHITE) == []
    status, html = await post(whm, root, action="add_black", ip="198.51.100.0/24", comment="<i>x")
    assert status_message(html) == "198.51.100.0/24 was added to the deny list."
    assert '<td data-label="Comment">&lt;i&gt;x</td>' in html
    status, html = await post(whm, root, action="remove_black", ip="198.51.100.0/24")
    assert status == 400 and "confirmation" in status_message(html)
    assert len(await admin.entries(ListName.BLACK)) == 1
    status, html = await post(whm, root, action="remove_black", ip="198.51.100.0/24", confirm="1")
    assert status_message(html) == "198.51.100.0/24 was removed from the deny list."
    assert await admin.entries(ListName.BLACK) == []
    status, html = await post(whm, root, action="remove_black", ip="198.51.100.0/24", confirm="1")
    assert status == 400 and "not on the list" in status_message(html)


async def test_unblock_from_the_page_and_allow_listing_lifts_blocks(
    root_page: tuple[Client, Browser], server_state: ServerState, clock: FrozenClock
) -> None:
    whm, root = root_page
    await block(server_state)
    page = await whm.get(root.token + PAGE, headers=root.headers)
    html = await page.text()
    assert f'<td data-label="Blocked">{ATTACKER}</td>' in html
    assert 'aria-label="Unblock 203.0.113.66"' in html
    assert html.count('<td data-label="Service">cpaneld</td>') == 5  # the history
    status, html = await post(whm, root, action="unblock", target=ATTACKER)
    assert status == 200
    assert status_message(html) == f"{ATTACKER} was unblocked (6 records forgotten)."
    assert 'id="no-blocks"' in html
    status, html = await post(whm, root, action="unblock", target=ATTACKER)
    assert status_message(html) == f"Nothing was recorded against {ATTACKER}."
    await block(server_state)
    status, html = await post(whm, root, action="add_white", ip=ATTACKER, comment="")
    assert (
        status_message(html) == f"{ATTACKER} was added to the allow list. Its blocks were lifted."
    )
    status, html = await post(whm, root, action="unblock", target="300.1.1.1")
    assert status == 400 and "Invalid IP address" in status_message(html)
    assert 'value="300.1.1.1"' in html


async def test_changes_need_the_session_and_its_token(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    admin = BruteForceAdmin(server_state.runtime.store, server_state.runtime.clock)
    no_token = await whm.post(PAGE, data={"action": "disable"}, headers=root.headers)
    assert no_token.status != 200
    wrong = await whm.post(
        "/cpsess0000000001" + PAGE, data={"action": "disable"}, headers=root.headers
    )
    assert wrong.status != 200
    cross_site = await whm.post(
        root.token + PAGE,
        data={"action": "disable"},
        headers={**root.headers, "Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status == 403
    status, html = await post(whm, root, action="drop_tables")
    assert status == 400 and status_message(html) == "This page does not know that action."
    assert (await admin.config()).is_enabled == 1
