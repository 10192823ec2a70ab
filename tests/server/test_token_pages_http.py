"""WHM's Manage API Tokens and cPanel's API Tokens pages: who sees them, create (re-authenticated,
shown once), list, edit or rename, revoke (confirmed), and every refusal changing nothing."""

from __future__ import annotations

import html as html_module
import re
from pathlib import Path

import pytest

from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.acls import ACL_NAMES
from panelauth.core.models import CredentialKind, root_identity
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.security_pages import REAUTH_MISSING, REAUTH_WRONG
from panelauth.server.state import ServerState
from panelauth.server.token_pages import CONFIRM
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login

PAGE = "/tokens/"
LISTACCTS = "/json-api/listaccts?api.version=1"
CPANEL_CALL = "/execute/DomainInfo/list_domains"
SCRIPT = "<script>alert(1)</script>"
CAROL_PASSWORD = "carol-Passw0rd!"
# the frozen clock starts at 2026-01-01 00:00 UTC
NEXT_YEAR = "2027-03-04"
END_OF_NEXT_YEAR_DAY = 1_804_204_799  # 2027-03-04 23:59:59 UTC


async def post(client: Client, browser: Browser, **fields: str) -> tuple[int, str]:
    response = await client.post(browser.token + PAGE, data=fields, headers=browser.headers)
    return response.status, await response.text()


async def open_page(client: Client, browser: Browser) -> tuple[int, str]:
    response = await client.get(browser.token + PAGE, headers=browser.headers)
    return response.status, await response.text()


def status_message(html: str) -> str:
    found = re.search(r'id="tokens-status" role="status">([^<]*)<', html)
    assert found is not None, "no status message"
    return html_module.unescape(found.group(1))


def new_token(html: str) -> str:
    found = re.search(r'<code id="new-token">([A-Z0-9]{32})</code>', html)
    assert found is not None, "no new token shown"
    return found.group(1)


def row_of(html: str, name: str) -> str:
    found = re.search(rf'<tr id="token-{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row for {name}"
    return found.group(1)


def listed(html: str) -> list[str]:
    return re.findall(r'<tr id="token-([^"]+)">', html)


def cell(row: str, label: str) -> str:
    found = re.search(rf'<td data-label="{label}">(.*?)</td>', row, re.S)
    assert found is not None, f"no {label} cell"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def failed_logins(logs: Path) -> list[str]:
    path = logs / "login_log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if "FAILED LOGIN" in line]


def assert_escaped(html: str) -> None:
    assert SCRIPT not in html and "<script>alert" not in html


@pytest.fixture
async def root_page(make_client: MakeClient) -> tuple[Client, Browser]:
    whm = await make_client(Service.WHM)
    return whm, await login(whm, "root", ROOT_PASSWORD)


@pytest.fixture
async def bob_page(make_client: MakeClient) -> tuple[Client, Browser]:
    cpanel = await make_client(Service.CPANEL)
    return cpanel, await login(cpanel, "bob", BOB_PASSWORD)


async def reseller(
    state: ServerState, make_client: MakeClient, acls: set[str], user: str = "bob"
) -> tuple[Client, Browser]:
    """`user` made a reseller with `acls`, logged in to WHM."""
    await state.runtime.store.set_reseller(user, True, frozenset(acls))
    whm = await make_client(Service.WHM)
    password = BOB_PASSWORD if user == "bob" else CAROL_PASSWORD
    return whm, await login(whm, user, password)


async def add_carol(state: ServerState, clock: FrozenClock) -> None:
    runtime = state.runtime
    accounts = Accounts(runtime.store, runtime.passwords, clock)
    await accounts.create(
        user="carol", domain="carol.example", password=CAROL_PASSWORD, owner="root"
    )


async def root_token(state: ServerState, name: str, *args: tuple[str, str]) -> None:
    """A token of root's made through the API, as a script would."""
    answer = await state.dispatcher.whm1(
        root_identity(CredentialKind.LOCAL),
        "api_token_create",
        Params([("token_name", name), *args]),
        client_address="127.0.0.1",
    )
    assert answer.ok, answer.error


def create_fields(name: str, **more: str) -> dict[str, str]:
    return {"action": "create", "token_name": name, **more}


# -- WHM: Manage API Tokens --------------------------------------------------------------------


async def test_root_creates_a_limited_token_that_works_and_is_shown_once(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    home = await whm.get(root.token + "/", headers=root.headers)
    assert f'href="{root.token}/tokens/" id="to-tokens">Manage API Tokens</a>' in (
        await home.text()
    )
    status, html = await open_page(whm, root)
    assert status == 200 and "<h1>Manage API Tokens</h1>" in html
    assert 'id="no-tokens"' in html and 'class="empty"' in html
    # root may pick any ACL of the catalogue ("all" is the full-access choice)
    checks = sorted(re.findall(r'name="acl-\d+" value="([^"]+)"', html))
    assert checks == sorted(ACL_NAMES - {"all"})
    index = checks.index("list-accts")
    status, html = await post(
        whm,
        root,
        **create_fields("deploy"),
        access="limited",
        **{f"acl-{index}": "list-accts"},
        expires=NEXT_YEAR,
        whitelist="127.0.0.1, 203.0.113.0/24\n2001:db8::1",
        current_password=ROOT_PASSWORD,
    )
    assert status == 200 and status_message(html) == "The API token “deploy” was created."
    token = new_token(html)
    assert 'data-copy="new-token"' in html and "it is not shown again" in html
    row = row_of(html, "deploy")
    assert cell(row, "Privileges") == "list-accts"
    assert cell(row, "Expires") == "2027-03-04 23:59 UTC"
    assert cell(row, "IP addresses") == "127.0.0.1, 203.0.113.0/24, 2001:db8::1"
    assert cell(row, "Created") == "2026-01-01 00:00 UTC"
    stored = await server_state.runtime.store.get_token("root", TokenKind.WHM, "deploy")
    assert stored is not None and stored.expires_at == END_OF_NEXT_YEAR_DAY
    assert stored.acls == frozenset({"list-accts"})
    # the token works for what it was given, and only that
    auth = {"Authorization": f"whm root:{token}"}
    assert (await whm.get(LISTACCTS, headers=auth)).status == 200
    denied = await whm.get("/json-api/createacct?api.version=1", headers=auth)
    assert denied.status == 403
    # shown once: opening the page again lists it without the secret
    status, html = await open_page(whm, root)
    assert listed(html) == ["deploy"] and token not in html and 'id="new-token"' not in html


async def test_root_edits_a_token_then_revokes_it(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    await root_token(
        server_state,
        "ci",
        ("acl-0", "list-accts"),
        ("expires_at", str(END_OF_NEXT_YEAR_DAY - 3600)),  # not a day's end: set by a script
        ("whitelist_ip-0", "198.51.100.7"),
    )
    _, html = await open_page(whm, root)
    form = re.search(
        r'<form method="post" action="[^"]+" id="edit-ci-form">(.*?)</form>', html, re.S
    )
    assert form is not None
    assert 'value="2027-03-04"' in form.group(1) and "198.51.100.7</textarea>" in form.group(1)
    assert re.search(r'value="list-accts" checked', form.group(1))
    # saving without touching the date keeps the exact moment
    status, html = await post(
        whm,
        root,
        action="update",
        token_name="ci",
        new_name="ci",
        access="limited",
        **{"acl-0": "list-accts", "acl-1": "create-acct"},
        expires="2027-03-04",
        whitelist="198.51.100.7",
    )
    assert status == 200 and status_message(html) == "The API token “ci” was saved."
    assert cell(row_of(html, "ci"), "Privileges") == "create-acct, list-accts"
    stored = await server_state.runtime.store.get_token("root", TokenKind.WHM, "ci")
    assert stored is not None and stored.expires_at == END_OF_NEXT_YEAR_DAY - 3600
    # rename, full access, no expiry, any address
    status, html = await post(
        whm,
        root,
        action="update",
        token_name="ci",
        new_name="ci-2",
        access="full",
        expires="",
        whitelist="",
    )
    assert status == 200 and listed(html) == ["ci-2"]
    row = row_of(html, "ci-2")
    assert (cell(row, "Privileges"), cell(row, "Expires"), cell(row, "IP addresses")) == (
        "all",
        "Never",
        "any",
    )
    # revoking needs "Sure"
    status, html = await post(whm, root, action="revoke", token_name="ci-2")
    assert status == 400 and status_message(html) == CONFIRM and listed(html) == ["ci-2"]
    status, html = await post(whm, root, action="revoke", token_name="ci-2", confirm="1")
    assert status == 200 and "was revoked" in status_message(html)
    assert listed(html) == [] and 'id="no-tokens"' in html
    # a second submission of the same form is refused and harmless
    status, html = await post(whm, root, action="revoke", token_name="ci-2", confirm="1")
    assert status == 400 and status_message(html) == "The API token “ci-2” does not exist."


async def test_expired_tokens_say_so(
    root_page: tuple[Client, Browser], server_state: ServerState, clock: FrozenClock
) -> None:
    whm, root = root_page
    await root_token(server_state, "short", ("expires_at", str(int(clock.now()) + 60)))
    clock.advance(120)
    _, html = await open_page(whm, root)
    assert cell(row_of(html, "short"), "Expires") == "Expired 2026-01-01 00:01 UTC"


async def test_creating_needs_the_current_password_and_keeps_what_was_typed(
    root_page: tuple[Client, Browser], server_state: ServerState, logs: Path
) -> None:
    whm, root = root_page
    fields = {**create_fields("nightly"), "expires": NEXT_YEAR, "whitelist": "10.0.0.0/8"}
    status, html = await post(whm, root, **fields)
    assert status == 403 and status_message(html) == REAUTH_MISSING
    assert failed_logins(logs) == []
    status, html = await post(whm, root, **fields, current_password="wrong-Passw0rd")
    assert status == 403 and status_message(html) == REAUTH_WRONG
    assert 'id="token_name" name="token_name" value="nightly"' in html
    assert 'value="2027-03-04"' in html and ">10.0.0.0/8</textarea>" in html
    assert "wrong-Passw0rd" not in html  # never typed back
    (line,) = failed_logins(logs)
    assert f' - root "POST {root.token}{PAGE} HTTP/1.1" FAILED LOGIN whostmgrd: ' in line
    assert line.endswith("reauthentication: user password incorrect")
    assert await server_state.runtime.store.list_tokens("root", TokenKind.WHM) == []
    # a double submission: the first creates, the second is refused by name, nothing else
    status, _ = await post(whm, root, **fields, current_password=ROOT_PASSWORD)
    assert status == 200
    status, html = await post(whm, root, **fields, current_password=ROOT_PASSWORD)
    assert status == 400 and "already exists" in status_message(html)
    assert 'id="new-token"' not in html
    assert len(await server_state.runtime.store.list_tokens("root", TokenKind.WHM)) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token_name": SCRIPT}, "The token name must be"),
        ({"token_name": "x" * 51}, "The token name must be"),
        ({"token_name": ""}, "The token name must be"),
        ({"expires": SCRIPT}, "Enter the expiry date as YYYY-MM-DD"),
        ({"expires": "2027-02-30"}, "Enter the expiry date as YYYY-MM-DD"),
        ({"expires": "2025-12-31"}, "The expiry date has passed"),
        ({"whitelist": SCRIPT}, "is not an IP address or CIDR range"),
        ({"whitelist": "x" * 5000}, "is not an IP address or CIDR range"),
        ({"whitelist": ",".join(f"10.0.0.{n}" for n in range(101))}, "At most 100"),
        ({"access": "limited"}, "Tick at least one privilege"),
        ({"access": "limited", "acl-0": SCRIPT}, "it is not one of your privileges"),
        ({"action": SCRIPT}, "This page does not know that action."),
    ],
)
async def test_bad_input_is_refused_before_the_reauthentication(
    root_page: tuple[Client, Browser],
    server_state: ServerState,
    logs: Path,
    fields: dict[str, str],
    message: str,
) -> None:
    whm, root = root_page
    form = {**create_fields("good-name"), **fields, "current_password": "wrong-Passw0rd"}
    status, html = await post(whm, root, **form)
    assert 400 <= status < 500
    assert message in status_message(html)
    assert_escaped(html)
    assert failed_logins(logs) == []  # refused before the password was even looked at
    assert await server_state.runtime.store.list_tokens("root", TokenKind.WHM) == []


async def test_an_oversized_form_is_refused_whole(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    ticks = {f"acl-{n}": "list-accts" for n in range(150)}
    status, _ = await post(
        whm, root, **create_fields("big"), access="limited", **ticks, current_password=ROOT_PASSWORD
    )
    assert status == 400
    assert await server_state.runtime.store.list_tokens("root", TokenKind.WHM) == []


async def test_markup_in_edit_fields_is_refused_and_escaped(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    await root_token(server_state, "ci")
    for field in ("new_name", "expires", "whitelist"):
        edit = {"new_name": "ci", "expires": "", "whitelist": "", field: SCRIPT}
        status, html = await post(whm, root, action="update", token_name="ci", **edit)
        assert status == 400, field
        assert_escaped(html)
        assert "&lt;script&gt;" in html  # typed back, escaped, in the reopened form
        assert re.search(r'<details id="edit-ci" open>', html)
    status, html = await post(whm, root, action="update", token_name=SCRIPT, new_name="x")
    assert status == 400 and "does not exist" in status_message(html)
    assert_escaped(html)
    stored = await server_state.runtime.store.get_token("root", TokenKind.WHM, "ci")
    assert stored is not None and stored.acls is None and stored.whitelist_ips is None


async def test_a_stale_security_token_is_token_denied(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    fields = {**create_fields("sneaky"), "current_password": ROOT_PASSWORD}
    for path in ("/cpsess0000000000" + PAGE, PAGE):
        response = await whm.post(path, data=fields, headers=root.headers, allow_redirects=False)
        assert response.status == 401 and response.reason == "Token Denied"
    cross_site = await whm.post(
        root.token + PAGE, data=fields, headers={**root.headers, "Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status == 403
    assert await server_state.runtime.store.list_tokens("root", TokenKind.WHM) == []


async def test_a_reseller_gives_only_its_own_acls(
    make_client: MakeClient, server_state: ServerState
) -> None:
    own = {"manage-api-tokens", "list-accts"}
    whm, bob = await reseller(server_state, make_client, own)
    status, html = await open_page(whm, bob)
    assert status == 200
    assert re.findall(r'name="acl-\d+" value="([^"]+)"', html) == [
        "list-accts",
        "manage-api-tokens",
    ]
    for acl in ("create-acct", "all", "passwd"):
        status, page = await post(
            whm,
            bob,
            **create_fields("wide"),
            access="limited",
            **{"acl-0": "list-accts", "acl-1": acl},
            current_password=BOB_PASSWORD,
        )
        assert status == 403 and "it is not one of your privileges" in status_message(page)
    assert await server_state.runtime.store.list_tokens("bob", TokenKind.WHM) == []
    status, html = await post(
        whm,
        bob,
        **create_fields("narrow"),
        access="limited",
        **{"acl-0": "list-accts"},
        current_password=BOB_PASSWORD,
    )
    assert status == 200 and cell(row_of(html, "narrow"), "Privileges") == "list-accts"
    status, html = await post(
        whm, bob, **create_fields("everything"), access="full", current_password=BOB_PASSWORD
    )
    assert status == 200 and cell(row_of(html, "everything"), "Privileges") == "all"
    # widening an existing token beyond its owner's ACLs is refused too
    status, html = await post(
        whm,
        bob,
        action="update",
        token_name="narrow",
        new_name="narrow",
        access="limited",
        **{"acl-0": "create-acct"},
    )
    assert status == 403
    stored = await server_state.runtime.store.get_token("bob", TokenKind.WHM, "narrow")
    assert stored is not None and stored.acls == frozenset({"list-accts"})
    # back to full access: every ACL the reseller holds
    status, html = await post(
        whm, bob, action="update", token_name="narrow", new_name="narrow", access="full"
    )
    assert status == 200 and cell(row_of(html, "narrow"), "Privileges") == "all"


async def test_a_reseller_cannot_reach_another_users_tokens_by_editing_the_form(
    make_client: MakeClient, server_state: ServerState, clock: FrozenClock
) -> None:
    await add_carol(server_state, clock)
    await root_token(server_state, "root-ci")
    carol_token = ApiToken("carol", TokenKind.WHM, "carol-ci", "0" * 128, int(clock.now()))
    await server_state.runtime.store.insert_token(carol_token)
    whm, bob = await reseller(server_state, make_client, {"manage-api-tokens"})
    _, html = await open_page(whm, bob)
    assert listed(html) == []
    for name in ("root-ci", "carol-ci"):
        status, html = await post(whm, bob, action="revoke", token_name=name, confirm="1")
        assert status == 400 and "does not exist" in status_message(html)
        status, html = await post(
            whm, bob, action="update", token_name=name, new_name="stolen", access="full"
        )
        assert status == 400 and "does not exist" in status_message(html)
    store = server_state.runtime.store
    assert await store.get_token("root", TokenKind.WHM, "root-ci") is not None
    assert await store.get_token("carol", TokenKind.WHM, "carol-ci") is not None
    assert await store.get_token("bob", TokenKind.WHM, "stolen") is None


async def test_a_reseller_without_manage_api_tokens_gets_no_page(
    make_client: MakeClient, server_state: ServerState
) -> None:
    whm, bob = await reseller(server_state, make_client, {"list-accts"})
    home = await whm.get(bob.token + "/", headers=bob.headers)
    assert 'id="to-tokens"' not in await home.text()
    status, _ = await open_page(whm, bob)
    assert status == 404
    status, _ = await post(whm, bob, **create_fields("x"), current_password=BOB_PASSWORD)
    assert status == 404
    assert await server_state.runtime.store.list_tokens("bob", TokenKind.WHM) == []


async def test_the_security_page_no_longer_creates_tokens(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    page = await whm.get(root.token + "/security/", headers=root.headers)
    text = await page.text()
    assert 'id="token_form"' not in text
    assert f'<a href="{root.token}/tokens/">Manage API Tokens</a>' in text
    response = await whm.post(
        root.token + "/security/",
        data={"action": "token", "token_name": "old-way", "current_password": ROOT_PASSWORD},
        headers=root.headers,
    )
    assert response.status == 403
    assert await server_state.runtime.store.list_tokens("root", TokenKind.WHM) == []


# -- cPanel: API Tokens ------------------------------------------------------------------------


async def test_an_account_creates_renames_and_revokes_a_token(
    bob_page: tuple[Client, Browser], server_state: ServerState, make_client: MakeClient
) -> None:
    cpanel, bob = bob_page
    home = await cpanel.get(bob.token + "/frontend/jupiter/index.html", headers=bob.headers)
    assert 'id="to-tokens">API Tokens</a>' in await home.text()
    status, html = await open_page(cpanel, bob)
    assert status == 200 and "<h1>API Tokens</h1>" in html and 'id="no-tokens"' in html
    assert 'name="acl-' not in html and 'name="whitelist"' not in html  # full access only
    status, html = await post(
        cpanel, bob, **create_fields("backup"), expires=NEXT_YEAR, current_password=BOB_PASSWORD
    )
    assert status == 200 and status_message(html) == "The API token “backup” was created."
    token = new_token(html)
    assert "it is not shown again" in html
    assert cell(row_of(html, "backup"), "Expires") == "2027-03-04 23:59 UTC"
    answer = await cpanel.get(CPANEL_CALL, headers={"Authorization": f"cpanel bob:{token}"})
    assert answer.status == 200
    # rename: the token keeps working under its new name
    status, html = await post(cpanel, bob, action="rename", token_name="backup", new_name="b2")
    assert status == 200 and status_message(html) == "The API token “backup” is now named “b2”."
    assert listed(html) == ["b2"] and token not in html
    status, html = await post(cpanel, bob, action="rename", token_name="backup", new_name="b3")
    assert status == 400 and "does not exist" in status_message(html)
    # revoke, confirmed; the token stops working; a second submission is harmless
    status, html = await post(cpanel, bob, action="revoke", token_name="b2")
    assert status == 400 and status_message(html) == CONFIRM
    status, html = await post(cpanel, bob, action="revoke", token_name="b2", confirm="1")
    assert status == 200 and listed(html) == []
    status, html = await post(cpanel, bob, action="revoke", token_name="b2", confirm="1")
    assert status == 400 and status_message(html) == "The API token “b2” does not exist."
    refused = await cpanel.get(CPANEL_CALL, headers={"Authorization": f"cpanel bob:{token}"})
    assert refused.status != 200


async def test_creating_a_cpanel_token_needs_reauthentication(
    bob_page: tuple[Client, Browser], server_state: ServerState, logs: Path
) -> None:
    cpanel, bob = bob_page
    status, html = await post(cpanel, bob, **create_fields("ci"))
    assert status == 403 and status_message(html) == REAUTH_MISSING
    status, html = await post(cpanel, bob, **create_fields("ci"), current_password="nope-Pw-123")
    assert status == 403 and status_message(html) == REAUTH_WRONG
    assert 'value="ci"' in html and "nope-Pw-123" not in html
    (line,) = failed_logins(logs)
    assert line.endswith("reauthentication: user password incorrect")
    assert await server_state.runtime.store.list_tokens("bob", TokenKind.CPANEL) == []
    status, _ = await post(cpanel, bob, **create_fields("ci"), current_password=BOB_PASSWORD)
    assert status == 200
    status, html = await post(cpanel, bob, **create_fields("ci"), current_password=BOB_PASSWORD)
    assert status == 400 and "already exists" in status_message(html)
    assert len(await server_state.runtime.store.list_tokens("bob", TokenKind.CPANEL)) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token_name": SCRIPT}, "The token name must be"),
        ({"token_name": "y" * 51}, "The token name must be"),
        ({"expires": SCRIPT}, "Enter the expiry date as YYYY-MM-DD"),
        ({"expires": "2025-06-01"}, "The expiry date has passed"),
        ({"action": "update"}, "This page does not know that action."),
    ],
)
async def test_bad_cpanel_input_is_refused_and_escaped(
    bob_page: tuple[Client, Browser],
    server_state: ServerState,
    logs: Path,
    fields: dict[str, str],
    message: str,
) -> None:
    cpanel, bob = bob_page
    form = {**create_fields("good"), **fields, "current_password": "wrong-Passw0rd"}
    status, html = await post(cpanel, bob, **form)
    assert status == 400 and message in status_message(html)
    assert_escaped(html)
    assert failed_logins(logs) == []
    assert await server_state.runtime.store.list_tokens("bob", TokenKind.CPANEL) == []


async def test_renaming_refuses_bad_names_and_keeps_what_was_typed(
    bob_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    cpanel, bob = bob_page
    await post(cpanel, bob, **create_fields("one"), current_password=BOB_PASSWORD)
    await post(cpanel, bob, **create_fields("two"), current_password=BOB_PASSWORD)
    for new_name, message in (
        (SCRIPT, "The token name must be"),
        ("z" * 51, "The token name must be"),
        ("two", "already exists"),
        ("one", "must differ"),
    ):
        status, html = await post(cpanel, bob, action="rename", token_name="one", new_name=new_name)
        assert status == 400 and message in status_message(html), new_name
        assert_escaped(html)
        assert '<details id="edit-one" open>' in html
    names = {t.name for t in await server_state.runtime.store.list_tokens("bob", TokenKind.CPANEL)}
    assert names == {"one", "two"}


async def test_an_account_cannot_reach_another_accounts_tokens(
    bob_page: tuple[Client, Browser], server_state: ServerState, clock: FrozenClock
) -> None:
    await add_carol(server_state, clock)
    theirs = ApiToken("carol", TokenKind.CPANEL, "carols", "1" * 128, int(clock.now()))
    await server_state.runtime.store.insert_token(theirs)
    cpanel, bob = bob_page
    _, html = await open_page(cpanel, bob)
    assert listed(html) == []
    status, _ = await post(cpanel, bob, action="revoke", token_name="carols", confirm="1")
    assert status == 400
    status, _ = await post(cpanel, bob, action="rename", token_name="carols", new_name="mine")
    assert status == 400
    assert await server_state.runtime.store.get_token("carol", TokenKind.CPANEL, "carols")


async def test_an_account_without_the_apitokens_feature_gets_no_page(
    make_client: MakeClient, server_state: ServerState
) -> None:
    await server_state.runtime.store.save_feature_list("default", {"apitokens": False})
    cpanel = await make_client(Service.CPANEL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    home = await cpanel.get(bob.token + "/frontend/jupiter/index.html", headers=bob.headers)
    assert 'id="to-tokens"' not in await home.text()
    assert (await open_page(cpanel, bob))[0] == 404
    status, _ = await post(cpanel, bob, **create_fields("x"), current_password=BOB_PASSWORD)
    assert status == 404
    assert await server_state.runtime.store.list_tokens("bob", TokenKind.CPANEL) == []


async def test_webmail_has_no_tokens_page(make_client: MakeClient) -> None:
    webmail = await make_client(Service.WEBMAIL)
    mailbox = await login(webmail, "info@bob.example", "info-Pw-1234")
    assert (await open_page(webmail, mailbox))[0] == 404
