"""WHM's Two-Factor Authentication page: the policy switch, the issuer, and the users' second
factors with their removal, under WHM API 1's rules (ACLs, ownership); cPanel keeps its page."""

from __future__ import annotations

import html as markup
import re
from pathlib import Path

import pyotp
import pytest

from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.two_factor import SYSTEM_ISSUER_KEY
from panelauth.protocol.services import Service
from panelauth.server.security_pages import REAUTH_MISSING, REAUTH_WRONG
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import BOB_AUTH, MakeClient
from tests.server.sessions_helpers import Browser, Client, login, session_events

PAGE = "/twofactor/"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OTHER_PASSWORD = "other-Passw0rd!"
BOB_HOME = "/frontend/jupiter/index.html"
INFO = "/execute/Variables/get_user_information"


@pytest.fixture
async def root_page(make_client: MakeClient) -> tuple[Client, Browser]:
    whm = await make_client(Service.WHM)
    return whm, await login(whm, "root", ROOT_PASSWORD)


async def post(client: Client, browser: Browser, **fields: str) -> tuple[int, str]:
    response = await client.post(browser.token + PAGE, data=fields, headers=browser.headers)
    return response.status, await response.text()


async def open_page(client: Client, browser: Browser) -> str:
    response = await client.get(browser.token + PAGE, headers=browser.headers)
    assert response.status == 200
    return await response.text()


def status_message(html: str) -> str:
    found = re.search(r'id="tfa-status" role="status">([^<]*)<', html)
    assert found is not None, "no status message"
    return markup.unescape(found.group(1))


def listed(html: str) -> dict[str, str]:
    """The users table: each user's two-factor status as the page shows it."""
    users = re.findall(r'<td data-label="User">(\w+)(?: \(you\))?</td>', html)
    states = re.findall(r'<td data-label="Two-factor">([^<]*)</td>', html)
    assert len(users) == len(states)
    return dict(zip(users, states, strict=True))


async def enrol(state: ServerState, user: str) -> None:
    clock = state.runtime.clock
    code = pyotp.TOTP(SECRET).at(clock.now())
    await state.runtime.two_factor.enrol(user, SECRET, code, address="127.0.0.1")


def remove(user: str, **fields: str) -> dict[str, str]:
    return {"action": "remove_user", "user": user, **fields}


async def make_account(state: ServerState, user: str, owner: str) -> None:
    runtime = state.runtime
    accounts = Accounts(runtime.store, runtime.passwords, runtime.clock)
    await accounts.create(user=user, domain=f"{user}.example", password=OTHER_PASSWORD, owner=owner)


async def test_root_sees_the_policy_the_issuer_and_every_user(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    home = await whm.get(root.token + "/", headers=root.headers)
    assert 'id="to-twofactor">Two-Factor Authentication</a>' in await home.text()
    html = await open_page(whm, root)
    assert "<h1>Two-Factor Authentication</h1>" in html
    assert 'id="tfa-policy-switch"' in html and 'id="tfa-issuer"' in html
    assert 'value="panel.example.test"' in html  # the issuer falls back to the host name
    assert 'id="tfa-qr"' in html  # root's own enrolment stays
    assert listed(html) == {"root": "Not enabled", "bob": "Not enabled"}
    assert 'name="user" value="bob"' not in html  # nothing to remove
    await enrol(server_state, "bob")
    html = await open_page(whm, root)
    assert listed(html) == {"root": "Not enabled", "bob": "Enabled"}
    assert 'name="user" value="bob"' in html
    assert 'aria-label="Remove the two-factor authentication of bob"' in html


async def test_root_switches_the_policy_off_and_on(
    root_page: tuple[Client, Browser], server_state: ServerState, make_client: MakeClient
) -> None:
    whm, root = root_page
    two_factor = server_state.runtime.two_factor
    await enrol(server_state, "bob")
    status, html = await post(whm, root, action="policy_off", current_password=ROOT_PASSWORD)
    assert status == 200 and status_message(html).startswith(
        "Two-factor authentication is off for this server"
    )
    assert not await two_factor.policy_enabled()
    assert "is <strong>off</strong> on this server" in html and ">Turn on</button>" in html
    # what users rely on: an enrolled user's password alone is enough while it is off
    cpanel = await make_client(Service.CPANEL)
    assert (await cpanel.get(INFO, headers=BOB_AUTH)).status == 200
    # a second "off" is harmless
    status, _ = await post(whm, root, action="policy_off", current_password=ROOT_PASSWORD)
    assert status == 200 and not await two_factor.policy_enabled()
    status, html = await post(whm, root, action="policy_on")
    assert status == 200
    assert status_message(html) == "Two-factor authentication is on for this server."
    assert await two_factor.policy_enabled()
    assert "is <strong>on</strong> on this server" in html
    assert (await cpanel.get(INFO, headers=BOB_AUTH)).status == 403  # the code is asked again


async def test_turning_the_policy_off_needs_roots_password_or_code(
    root_page: tuple[Client, Browser], server_state: ServerState, make_client: MakeClient
) -> None:
    whm, root = root_page
    two_factor = server_state.runtime.two_factor
    await enrol(server_state, "bob")
    html = await open_page(whm, root)
    assert 'id="tfa-policy_current_password"' in html  # the form asks for it
    for answer in ({}, {"current_password": "wrong-password"}, {"current_password": BOB_PASSWORD}):
        status, html = await post(whm, root, action="policy_off", **answer)
        assert status == 403, answer
        assert await two_factor.policy_enabled()
    # a stolen session alone cannot switch the protection off: bob still needs his code
    cpanel = await make_client(Service.CPANEL)
    assert (await cpanel.get(INFO, headers=BOB_AUTH)).status == 403
    status, _ = await post(whm, root, action="policy_off", current_password=ROOT_PASSWORD)
    assert status == 200 and not await two_factor.policy_enabled()
    # turning it on again lowers nobody's protection: nothing more is asked
    html = await open_page(whm, root)
    assert 'id="tfa-policy_current_password"' not in html
    status, _ = await post(whm, root, action="policy_on")
    assert status == 200 and await two_factor.policy_enabled()


async def test_root_sets_the_issuer(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    status, html = await post(whm, root, action="issuer", issuer="Example Hosting")
    assert status == 200 and status_message(html).startswith("The issuer is now “Example Hosting”")
    assert await server_state.runtime.store.get_setting(SYSTEM_ISSUER_KEY) == "Example Hosting"
    assert 'id="tfa-issuer" name="issuer" value="Example Hosting"' in html
    # bob's next key names it
    bob = await server_state.runtime.store.get_account("bob")
    new = await server_state.runtime.credential_changes().new_two_factor_secret("bob", bob)
    assert "issuer=Example%20Hosting" in new.otpauth_uri


@pytest.mark.parametrize(
    "issuer",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "A" * 33,
        "B" * 200_000,
        "",
    ],
)
async def test_a_bad_issuer_is_refused_and_shown_escaped(
    root_page: tuple[Client, Browser], server_state: ServerState, issuer: str
) -> None:
    whm, root = root_page
    status, html = await post(whm, root, action="issuer", issuer=issuer)
    assert status == 400
    assert "issuer" in status_message(html)
    assert "<script>alert" not in html and "<img src=x" not in html
    if issuer.startswith("<script>"):
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html  # kept, escaped
    assert len(html) < 100_000  # a huge value is not echoed whole
    assert await server_state.runtime.store.get_setting(SYSTEM_ISSUER_KEY) is None


async def test_removal_needs_sure_and_reauthentication(
    root_page: tuple[Client, Browser],
    server_state: ServerState,
    make_client: MakeClient,
    clock: FrozenClock,
    logs: Path,
) -> None:
    whm, root = root_page
    await enrol(server_state, "bob")
    clock.advance(30)  # the enrolment spent this step's code
    cpanel = await make_client(Service.CPANEL)
    code = pyotp.TOTP(SECRET).at(clock.now())
    answer = await cpanel.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code}
    )
    bob_token = (await answer.json())["security_token"]
    bob = Browser(answer.headers["Set-Cookie"].split(";", 1)[0], bob_token)
    enrolled = server_state.runtime.two_factor.enrolled

    status, html = await post(whm, root, **remove("bob", current_password=ROOT_PASSWORD))
    assert status == 400 and "Sure" in status_message(html)
    assert "<details open>" in html  # bob's form open again
    assert ROOT_PASSWORD not in html  # a secret is never shown again
    status, html = await post(whm, root, **remove("bob", confirm="1"))
    assert status == 403 and status_message(html) == REAUTH_MISSING
    status, html = await post(whm, root, **remove("bob", confirm="1", current_password="wrong"))
    assert status == 403 and status_message(html) == REAUTH_WRONG
    # bob's password is not root's: the principal re-authenticates
    status, _ = await post(whm, root, **remove("bob", confirm="1", current_password=BOB_PASSWORD))
    assert status == 403
    assert await enrolled("bob")
    assert (await cpanel.get(bob.token + BOB_HOME, headers=bob.headers)).status == 200

    status, html = await post(
        whm, root, **remove("bob", confirm="1", current_password=ROOT_PASSWORD)
    )
    assert status == 200
    assert status_message(html) == (
        "Two-factor authentication is off for bob. Their other sessions have ended."
    )
    assert not await enrolled("bob")
    assert listed(html)["bob"] == "Not enabled"
    gone = await cpanel.get(bob.token + BOB_HOME, headers=bob.headers, allow_redirects=False)
    assert gone.status != 200
    purges = [e for e in session_events(logs) if e.event == "PURGE"]
    assert purges[-1].fields["reason"] == "kill"
    # the same form again: refused, nothing to do
    status, html = await post(
        whm, root, **remove("bob", confirm="1", current_password=ROOT_PASSWORD)
    )
    assert status == 409
    assert status_message(html) == "Two-factor authentication is not configured for bob."
    # root still here
    assert (await whm.get(root.token + "/", headers=root.headers)).status == 200


async def test_root_learns_an_absent_account_and_odd_input_is_refused(
    root_page: tuple[Client, Browser],
) -> None:
    whm, root = root_page
    sure = {"confirm": "1", "current_password": ROOT_PASSWORD}
    status, html = await post(whm, root, **remove("ghost", **sure))
    assert status == 400 and status_message(html) == "The account “ghost” does not exist."
    status, html = await post(whm, root, **remove("", **sure))
    assert status == 400 and status_message(html) == "Choose a user."
    status, html = await post(whm, root, **remove("x" * 5000, **sure))
    assert status == 400 and status_message(html) == "That user name is too long."
    assert "x" * 100 not in html
    status, html = await post(whm, root, **remove("<script>x</script>", **sure))
    assert status == 400 and "<script>x" not in html and "&lt;script&gt;x" in html
    status, html = await post(whm, root, action="drop_tables")
    assert status == 400 and status_message(html) == "This page does not know that action."


@pytest.fixture
async def two_resellers(server_state: ServerState) -> None:
    """bob, a reseller, owns carl; eve, another reseller, owns erin; carl and erin enrolled."""
    store = server_state.runtime.store
    await store.set_reseller("bob", True, frozenset({"create-acct", "list-accts"}))
    await make_account(server_state, "carl", "bob")
    await make_account(server_state, "eve", "root")
    await store.set_reseller("eve", True, frozenset({"create-acct"}))
    await make_account(server_state, "erin", "eve")
    for user in ("carl", "erin"):
        await enrol(server_state, user)


@pytest.mark.usefixtures("two_resellers")
async def test_a_reseller_manages_only_its_own_accounts(
    make_client: MakeClient, server_state: ServerState
) -> None:
    whm = await make_client(Service.WHM)
    bob = await login(whm, "bob", BOB_PASSWORD)
    html = await open_page(whm, bob)
    assert listed(html) == {"bob": "Not enabled", "carl": "Enabled"}
    assert 'id="tfa-policy-switch"' not in html
    assert "Issuer of your accounts" in html
    enrolled = server_state.runtime.two_factor.enrolled
    sure = {"confirm": "1", "current_password": BOB_PASSWORD}

    # the policy switch is root's: editing the form changes nothing
    status, html = await post(whm, bob, action="policy_off")
    assert status == 403 and "“all” privilege" in status_message(html)
    assert await server_state.runtime.two_factor.policy_enabled()

    # another reseller's account is refused exactly like one that does not exist
    status, foreign = await post(whm, bob, **remove("erin", **sure))
    absent_status, absent = await post(whm, bob, **remove("ghost", **sure))
    assert status == absent_status == 403
    assert status_message(foreign) == status_message(absent) == "Permission denied"
    for other in ("eve", "root"):
        status, html = await post(whm, bob, **remove(other, **sure))
        assert status == 403
    assert await enrolled("erin")

    status, html = await post(whm, bob, **remove("carl", **sure))
    assert status == 200 and not await enrolled("carl")

    # its own issuer, for its accounts only
    status, html = await post(whm, bob, action="issuer", issuer="Bob Hosting")
    assert status == 200
    assert await server_state.runtime.store.get_issuer("bob") == "Bob Hosting"
    assert await server_state.runtime.store.get_setting(SYSTEM_ISSUER_KEY) is None


async def test_a_reseller_without_create_acct_sees_only_itself(
    make_client: MakeClient, server_state: ServerState
) -> None:
    await server_state.runtime.store.set_reseller("bob", True, frozenset({"list-accts"}))
    await make_account(server_state, "carl", "bob")
    await enrol(server_state, "carl")
    whm = await make_client(Service.WHM)
    bob = await login(whm, "bob", BOB_PASSWORD)
    html = await open_page(whm, bob)
    assert listed(html) == {"bob": "Not enabled"}
    assert 'id="tfa-issuer"' not in html and 'id="tfa-policy-switch"' not in html
    status, html = await post(
        whm, bob, **remove("carl", confirm="1", current_password=BOB_PASSWORD)
    )
    assert status == 403 and "“create-acct” privilege" in status_message(html)
    status, html = await post(whm, bob, action="issuer", issuer="Bob Hosting")
    assert status == 403
    assert await server_state.runtime.two_factor.enrolled("carl")


async def test_changes_need_the_security_token(
    root_page: tuple[Client, Browser], server_state: ServerState
) -> None:
    whm, root = root_page
    await enrol(server_state, "bob")
    fields = remove("bob", confirm="1", current_password=ROOT_PASSWORD)
    for path in ("/cpsess0000000001" + PAGE, PAGE):
        refused = await whm.post(path, data=fields, headers=root.headers)
        assert refused.status == 401 and refused.reason == "Token Denied"
    policy = await whm.post(
        "/cpsess0000000001" + PAGE, data={"action": "policy_off"}, headers=root.headers
    )
    assert policy.status == 401
    assert await server_state.runtime.two_factor.enrolled("bob")
    assert await server_state.runtime.two_factor.policy_enabled()


async def test_cpanel_keeps_its_own_page_only(
    make_client: MakeClient, server_state: ServerState
) -> None:
    cpanel = await make_client(Service.CPANEL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    html = await open_page(cpanel, bob)
    assert 'id="tfa_setup_form"' in html
    assert 'id="tfa-users"' not in html and 'id="tfa-policy-switch"' not in html
    assert "<h2" not in html  # one section: no headings
    status, html = await post(cpanel, bob, action="policy_off")
    assert status == 400 and status_message(html) == "This page does not know that action."
    status, _ = await post(cpanel, bob, **remove("bob", confirm="1", current_password=BOB_PASSWORD))
    assert status == 400
    assert await server_state.runtime.two_factor.policy_enabled()
    # a wrong enrolment code is refused and says why
    status, html = await post(cpanel, bob, action="enable", secret=SECRET, tfa_token="000000")
    assert status == 400 and 'class="message"' in html
    assert not await server_state.runtime.two_factor.enrolled("bob")


async def test_root_enrols_itself_on_whm(
    root_page: tuple[Client, Browser], server_state: ServerState, clock: FrozenClock
) -> None:
    whm, root = root_page
    html = await open_page(whm, root)
    secret = re.search(r'id="tfa-secret">([A-Z2-7]+)<', html)
    assert secret is not None
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    status, html = await post(whm, root, action="enable", secret=secret.group(1), tfa_token=code)
    assert status == 200 and status_message(html) == "Saved."
    assert 'class="message ok"' in html
    assert listed(html)["root"] == "Enabled"
    assert 'href="#tfa-own-heading">Turn it off above</a>' in html
