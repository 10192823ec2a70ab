"""WHM's List Accounts page: who sees which accounts, search, each action with the API's rules,
and "Log in" through single sign-on to the account's cPanel."""

from __future__ import annotations

import html as html_module
import re
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.protocol.services import Listener, Service
from panelauth.server.gateway import Gateway
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login

PAGE = "/accounts/"
RES_PASSWORD = "res-Passw0rd!"
OTHER_PASSWORD = "other-Passw0rd!"
NEW_PASSWORD = "new-Passw0rd!"
RESELLER_ACLS = frozenset(
    {"list-accts", "create-acct", "suspend-acct", "kill-acct", "create-user-session"}
)
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
async def resellers(server_state: ServerState, clock: FrozenClock) -> Accounts:
    """root's `bob`; the reseller `res` owning `carol` and `dave`; the reseller `other`
    owning `zed`."""
    accounts = Accounts(server_state.runtime.store, server_state.runtime.passwords, clock)
    for user, password in (("res", RES_PASSWORD), ("other", OTHER_PASSWORD)):
        await accounts.create(user=user, domain=f"{user}.example", password=password, owner="root")
        await accounts.make_reseller(user)
        await accounts.set_acls(user, RESELLER_ACLS)
    for user, owner in (("carol", "res"), ("dave", "res"), ("zed", "other")):
        await accounts.create(
            user=user, domain=f"{user}.example", password=f"{user}-Passw0rd!", owner=owner
        )
    return accounts


async def open_page(client: Client, browser: Browser, query: str = "") -> tuple[int, str]:
    response = await client.get(browser.token + PAGE + query, headers=browser.headers)
    return response.status, await response.text()


async def post(client: Client, browser: Browser, **fields: str) -> tuple[int, str]:
    response = await client.post(browser.token + PAGE, data=fields, headers=browser.headers)
    return response.status, await response.text()


def status_message(html: str) -> str:
    found = re.search(r'id="accounts-status" role="status">([^<]*)<', html)
    assert found is not None, "no status message"
    return html_module.unescape(found.group(1))


def listed(html: str) -> list[str]:
    return re.findall(r'<tr id="account-([^"]+)">', html)


async def whm_login(make_client: MakeClient, user: str, password: str) -> tuple[Client, Browser]:
    whm = await make_client(Service.WHM)
    return whm, await login(whm, user, password)


async def suspended(state: ServerState, user: str) -> bool:
    account = await state.runtime.store.get_account(user)
    assert account is not None
    return account.suspended


async def test_root_sees_every_account_and_a_reseller_only_its_own(
    make_client: MakeClient, resellers: Accounts
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    home = await whm.get(root.token + "/", headers=root.headers)
    assert f'href="{root.token}/accounts/" id="to-accounts">List Accounts</a>' in await home.text()
    status, html = await open_page(whm, root)
    assert status == 200 and "<h1>List Accounts</h1>" in html
    assert listed(html) == ["bob", "carol", "dave", "other", "res", "zed"]
    assert '<table id="accounts" class="sortable">' in html
    assert 'aria-label="Log in to the cPanel of zed"' in html and 'id="create"' in html

    _, reseller = await whm_login(make_client, "res", RES_PASSWORD)
    status, html = await open_page(whm, reseller)
    assert status == 200 and listed(html) == ["carol", "dave", "res"]
    # its own account: Log in, but neither suspend nor remove (the functions refuse them)
    assert 'aria-label="Log in to the cPanel of res"' in html
    assert 'aria-label="Suspend res"' not in html and 'aria-label="Remove res"' not in html
    assert 'aria-label="Suspend carol"' in html and 'aria-label="Remove carol"' in html


async def test_without_the_privileges_the_actions_are_neither_shown_nor_done(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    await resellers.set_acls("res", frozenset({"list-accts"}))
    whm, reseller = await whm_login(make_client, "res", RES_PASSWORD)
    status, html = await open_page(whm, reseller)
    assert status == 200 and listed(html) == ["carol", "dave", "res"]
    for shown in ('id="create"', 'value="suspend"', 'value="remove"', 'value="login"', "Actions"):
        assert shown not in html
    for action, privilege in (
        ("suspend", "suspend-acct"),
        ("remove", "kill-acct"),
        ("login", "create-user-session"),
    ):
        status, html = await post(whm, reseller, action=action, user="carol", confirm="1")
        assert status == 403
        assert status_message(html) == f"This function requires the “{privilege}” privilege."
    status, html = await post(
        whm, reseller, action="create", username="eve", domain="eve.example", password=NEW_PASSWORD
    )
    assert status == 403
    store = server_state.runtime.store
    assert await store.get_account("eve") is None and await store.get_account("carol") is not None
    assert not await suspended(server_state, "carol")
    assert await store.sessions_of("carol") == []


async def test_search_by_user_domain_or_owner_is_kept_and_escaped(
    make_client: MakeClient, resellers: Accounts
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    status, html = await open_page(whm, root, "?search=CAROL")
    assert status == 200 and listed(html) == ["carol"]
    assert 'name="search" type="search" value="CAROL"' in html
    assert "1 of 6 accounts." in html
    # a change made while searching posts back to the same search
    assert f'action="{root.token}/accounts/?search=CAROL"' in html
    _, html = await open_page(whm, root, "?search=zed.example")
    assert listed(html) == ["zed"]
    _, html = await open_page(whm, root, "?search=other")
    assert listed(html) == ["other", "zed"]  # the reseller itself, and the account it owns
    _, html = await open_page(whm, root, "?search=.*")  # plain text, not a pattern
    assert listed(html) == [] and 'id="no-accounts"' in html

    response = await whm.get(root.token + PAGE, params={"search": SCRIPT}, headers=root.headers)
    html = await response.text()
    assert response.status == 200 and listed(html) == []
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # in the field and the empty state

    response = await whm.get(root.token + PAGE, params={"search": "x" * 500}, headers=root.headers)
    html = await response.text()
    assert response.status == 400
    assert status_message(html) == "The search is too long: at most 128 characters."
    assert listed(html) == ["bob", "carol", "dave", "other", "res", "zed"]


async def test_root_creates_an_account_and_a_refusal_keeps_all_but_the_password(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    fields = {
        "action": "create",
        "username": "eve",
        "domain": "Eve.example",
        "password": NEW_PASSWORD,
        "contactemail": "eve@mail.example",
        "plan": "Gold",
    }
    status, html = await post(whm, root, **fields)
    assert status == 200 and status_message(html) == "The account “eve” was created."
    assert "eve" in listed(html)
    eve = await server_state.runtime.store.get_account("eve")
    assert eve is not None
    assert (eve.domain, eve.owner, eve.plan, eve.contact_email) == (
        "eve.example",
        "root",
        "Gold",
        "eve@mail.example",
    )
    # the same form again (a double submission): refused in plain words, nothing changed
    status, html = await post(whm, root, **fields)
    assert status == 400 and status_message(html) == "The account “eve” already exists."
    assert 'id="create-username" name="username"' in html and 'value="eve"' in html
    assert 'value="Eve.example"' in html and 'value="Gold"' in html
    assert NEW_PASSWORD not in html  # never a secret
    # the password is checked by the function, and the account is not made
    status, html = await post(whm, root, **{**fields, "username": "fay", "password": "short"})
    assert status == 400 and "password must be at least" in status_message(html)
    assert await server_state.runtime.store.get_account("fay") is None


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("username", SCRIPT, "The username must be 1 to 16 lowercase letters"),
        ("domain", f"{SCRIPT}.example", "The domain must be a valid domain name"),
        ("contactemail", f"{SCRIPT}@mail.example", "The email address must look like"),
        ("contactemail", "e" * 300 + "@mail.example", "The email address must look like"),
        ("plan", SCRIPT, "A package name is 1 to 64 letters"),
        ("username", "a" * 5000, "The username must be 1 to 16 lowercase letters"),
        ("domain", "d" * 300 + ".example", "The domain must be a valid domain name"),
        ("plan", "p" * 300, "A package name is 1 to 64 letters"),
    ],
)
async def test_markup_and_too_long_values_in_the_create_form_are_refused_and_escaped(
    make_client: MakeClient,
    resellers: Accounts,
    server_state: ServerState,
    field: str,
    value: str,
    said: str,
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    fields = {
        "action": "create",
        "username": "eve",
        "domain": "eve.example",
        "password": NEW_PASSWORD,
        "contactemail": "",
        "plan": "default",
        field: value,
    }
    status, html = await post(whm, root, **fields)
    assert status == 400 and said in status_message(html)
    assert "<script>" not in html
    # kept as typed, escaped
    assert f'value="{value.replace("<", "&lt;").replace(">", "&gt;")}"' in html
    assert len(await server_state.runtime.store.list_accounts()) == 6


async def test_a_reseller_creates_its_own_account(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, reseller = await whm_login(make_client, "res", RES_PASSWORD)
    status, html = await post(
        whm, reseller, action="create", username="eve", domain="eve.example", password=NEW_PASSWORD
    )
    assert status == 200 and listed(html) == ["carol", "dave", "eve", "res"]
    eve = await server_state.runtime.store.get_account("eve")
    assert eve is not None and eve.owner == "res"


async def test_suspend_with_a_reason_and_unsuspend(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, reseller = await whm_login(make_client, "res", RES_PASSWORD)
    status, html = await post(whm, reseller, action="suspend", user="carol", reason=SCRIPT)
    assert status == 200 and status_message(html) == "The account “carol” was suspended."
    assert await suspended(server_state, "carol")
    row = html.split('<tr id="account-carol">', 1)[1].split("</tr>", 1)[0]
    assert "<strong>Suspended</strong>: &lt;script&gt;alert(1)&lt;/script&gt;" in row
    assert 'aria-label="Unsuspend carol"' in row
    assert "Log in" not in row  # a suspended account has no session to open
    # twice: harmless
    status, html = await post(whm, reseller, action="suspend", user="carol", reason="again")
    assert status == 200 and await suspended(server_state, "carol")
    status, html = await post(whm, reseller, action="unsuspend", user="carol")
    assert status == 200 and status_message(html) == "The account “carol” was unsuspended."
    assert not await suspended(server_state, "carol")
    status, html = await post(whm, reseller, action="unsuspend", user="carol")
    assert status == 200 and not await suspended(server_state, "carol")
    # no reason: the function's default
    await post(whm, reseller, action="suspend", user="dave", reason="")
    dave = await server_state.runtime.store.get_account("dave")
    assert dave is not None and dave.suspend_reason == "Suspended by the administrator"


async def test_a_too_long_reason_is_refused_and_kept(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    status, html = await post(whm, root, action="suspend", user="carol", reason="r" * 2000)
    assert status == 400 and status_message(html) == "The reason is too long."
    assert not await suspended(server_state, "carol")
    assert f'id="reason-carol" name="reason" maxlength="1024" value="{"r" * 2000}"' in html
    assert 'id="reason-dave" name="reason" maxlength="1024" value=""' in html
    assert html.count('<details class="suspend" open>') == 1  # carol's, where it was typed


async def test_remove_needs_sure_and_a_second_removal_is_refused(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    _, html = await open_page(whm, root)
    assert 'data-confirm="Remove the account bob with its mail and files?' in html
    status, html = await post(whm, root, action="remove", user="bob")
    assert status == 400 and status_message(html) == "Tick the “Sure” box to remove the account."
    assert await server_state.runtime.store.get_account("bob") is not None
    status, html = await post(whm, root, action="remove", user="bob", confirm="1")
    assert status == 200 and status_message(html) == "The account “bob” was removed."
    assert await server_state.runtime.store.get_account("bob") is None
    assert "bob" not in listed(html)
    status, html = await post(whm, root, action="remove", user="bob", confirm="1")
    assert status == 400 and status_message(html) == "The account “bob” does not exist."


@pytest.mark.parametrize("target", ["zed", "other", "nosuch"])
async def test_a_reseller_editing_the_user_field_gets_the_answer_of_an_absent_account(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState, target: str
) -> None:
    whm, reseller = await whm_login(make_client, "res", RES_PASSWORD)
    store = server_state.runtime.store
    for action in ("suspend", "unsuspend", "remove", "login"):
        response = await whm.post(
            reseller.token + PAGE,
            data={"action": action, "user": target, "reason": "x", "confirm": "1"},
            headers=reseller.headers,
            allow_redirects=False,
        )
        html = await response.text()
        assert response.status == 403, action
        assert status_message(html) == "Permission denied"
        assert target not in listed(html)
    if target != "nosuch":
        assert await store.get_account(target) is not None
        assert not await suspended(server_state, target)
        assert await store.sessions_of(target) == []


async def test_bad_actions_and_values_are_refused_without_a_500(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    status, html = await post(whm, root, action="explode", user="bob")
    assert status == 400 and status_message(html) == "This page does not know that action."
    status, html = await post(whm, root, action="suspend")
    assert status == 400 and status_message(html) == "Choose an account."
    status, html = await post(whm, root, action="suspend", user=SCRIPT + "x" * 5000)
    assert status == 400 and status_message(html) == "There is no account with a name that long."
    assert "<script>" not in html
    status, html = await post(whm, root, action="unsuspend", user=SCRIPT)
    assert status == 400 and "<script>" not in html
    assert status_message(html) == f"The account “{SCRIPT}” does not exist."
    assert not await suspended(server_state, "bob")


async def test_a_stale_or_missing_security_token_changes_nothing(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    fields = {"action": "remove", "user": "bob", "confirm": "1"}
    for path in ("/cpsess0000000000" + PAGE, PAGE):
        response = await whm.post(path, data=fields, headers=root.headers)
        assert response.status == 401 and response.reason == "Token Denied"
    assert await server_state.runtime.store.get_account("bob") is not None


async def log_in_as(whm: Client, browser: Browser, user: str, **headers: str) -> str:
    """The one-time URL "Log in" answers 303 to (the page lets its forms reach that origin)."""
    response = await whm.post(
        browser.token + PAGE,
        data={"action": "login", "user": user},
        headers={**browser.headers, **headers},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def test_the_page_lets_its_forms_reach_the_cpanel_port_only_when_it_may_log_in(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    """A browser follows a form's 303 only to an origin the page's form-action lists."""
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    page = await whm.get(root.token + PAGE, headers=root.headers)
    assert "form-action 'self' https://127.0.0.1:2083;" in page.headers["Content-Security-Policy"]
    await resellers.set_acls("res", frozenset({"list-accts"}))
    whm, res = await whm_login(make_client, "res", RES_PASSWORD)
    page = await whm.get(res.token + PAGE, headers=res.headers)
    assert "form-action 'self';" in page.headers["Content-Security-Policy"]
    assert 'value="login"' not in await page.text()


async def test_log_in_opens_the_accounts_cpanel_once_with_the_possessor_recorded(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    location = await log_in_as(whm, root, "bob")
    url = urlsplit(location)
    assert (url.scheme, url.hostname, url.port) == ("https", "127.0.0.1", 2083)
    assert re.fullmatch(r"/cpsess\d{10}/login/", url.path) and url.query.startswith("session=")

    cpanel = await make_client(Service.CPANEL)
    used = await cpanel.get(f"{url.path}?{url.query}", allow_redirects=False)
    assert used.status == 302
    token = url.path.removesuffix("/login/")
    assert used.headers["Location"] == f"{token}/frontend/jupiter/index.html"
    bob = Browser(used.headers["Set-Cookie"].split(";", 1)[0], token)
    home = await cpanel.get(token + "/frontend/jupiter/index.html", headers=bob.headers)
    text = await home.text()
    assert home.status == 200
    assert '<strong id="user">bob</strong>' in text
    assert '(entered by <span id="possessor">root</span>)' in text
    (session,) = await server_state.runtime.store.sessions_of("bob")
    assert session.possessor == "root" and session.service is Service.CPANEL
    # once only
    again = await cpanel.get(f"{url.path}?{url.query}", allow_redirects=False)
    assert again.status != 302 and "Set-Cookie" not in again.headers

    # a second press makes a second, separate session: harmless
    assert await log_in_as(whm, root, "bob") != location

    # a suspended account has none to open
    await post(whm, root, action="suspend", user="carol")
    status, html = await post(whm, root, action="login", user="carol")
    assert status == 400 and status_message(html) == "The account “carol” is suspended."


async def test_a_reseller_logs_in_to_its_own_account_not_another_resellers(
    make_client: MakeClient, resellers: Accounts, server_state: ServerState
) -> None:
    whm, reseller = await whm_login(make_client, "res", RES_PASSWORD)
    location = await log_in_as(whm, reseller, "carol")
    assert urlsplit(location).port == 2083
    (session,) = await server_state.runtime.store.sessions_of("carol")
    assert session.possessor == "res"


async def test_the_login_url_names_the_host_the_browser_used_when_it_is_this_servers(
    make_client: MakeClient, resellers: Accounts
) -> None:
    whm, root = await whm_login(make_client, "root", ROOT_PASSWORD)
    for host, expected in (
        ("localhost:2087", "localhost"),
        ("evil.example:2087", "panel.example.test"),  # never an unchecked Host (SS-8)
    ):
        url = urlsplit(await log_in_as(whm, root, "bob", Host=host))
        assert (url.hostname, url.port) == (expected, 2083)


async def test_the_login_url_carries_the_servers_port_offset(
    server_state: ServerState, resellers: Accounts
) -> None:
    offset = 1000
    listener = Listener(Service.WHM, True, Service.WHM.tls_port + offset)
    whm: TestClient[web.Request, None] = TestClient(RawTestServer(Gateway(listener, server_state)))
    await whm.start_server()
    try:
        root = await login(whm, "root", ROOT_PASSWORD)
        url = urlsplit(await log_in_as(whm, root, "bob"))
        assert url.port == Service.CPANEL.tls_port + offset
    finally:
        await whm.close()


async def test_a_cpanel_user_has_no_such_page(make_client: MakeClient) -> None:
    cpanel = await make_client(Service.CPANEL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    status, _ = await open_page(cpanel, bob)
    assert status == 404
