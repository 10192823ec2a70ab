"""Re-authentication on pages (ASVS 5.0 7.5.1): removing two-factor, changing the password and
creating an API token (on the API Tokens page) need the current password or a current code of
the principal."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from panelauth.clock import FrozenClock
from panelauth.core.tokens import TokenKind
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from panelauth.server.security_pages import REAUTH_MISSING, REAUTH_WRONG
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login, set_cookie
from tests.server.test_transfers_http import follow_handoff

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NEW_PASSWORD = "bob-Changed-Pw1"


@dataclass(frozen=True)
class Action:
    path: str
    fields: dict[str, str]
    changed: Callable[[ServerState], Awaitable[bool]]


async def _two_factor_removed(state: ServerState) -> bool:
    return not await state.runtime.two_factor.enrolled("bob")


async def _password_changed(state: ServerState) -> bool:
    account = await state.runtime.store.get_account("bob")
    assert account is not None
    return (await state.runtime.passwords.verify(account.password_hash, Secret(NEW_PASSWORD))).ok


async def _token_created(state: ServerState) -> bool:
    return await state.runtime.store.get_token("bob", TokenKind.CPANEL, "from-page") is not None


ACTIONS = {
    "remove-two-factor": Action("/twofactor/", {"action": "remove"}, _two_factor_removed),
    "change-password": Action(
        "/security/",
        {"action": "password", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        _password_changed,
    ),
    "create-token": Action(
        "/tokens/", {"action": "create", "token_name": "from-page"}, _token_created
    ),
}


def code_at(clock: FrozenClock) -> str:
    return pyotp.TOTP(SECRET).at(clock.now())


async def enrol_bob(state: ServerState, clock: FrozenClock) -> None:
    """bob has two-factor with SECRET; the clock moved one step past enrolment."""
    await state.runtime.two_factor.enrol("bob", SECRET, code_at(clock), address="127.0.0.1")
    clock.advance(30)


@pytest.fixture
async def bob_with_code(
    make_client: MakeClient, server_state: ServerState, clock: FrozenClock
) -> tuple[Client, Browser, str]:
    """bob, enrolled, logged in to cPanel with password and code; the login's code."""
    await enrol_bob(server_state, clock)
    client = await make_client(Service.CPANEL)
    code = code_at(clock)
    response = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code}
    )
    assert response.status == 200, await response.text()
    browser = Browser(set_cookie(response), (await response.json())["security_token"])
    return client, browser, code


async def submit(
    client: Client, browser: Browser, action: Action, **reauth: str
) -> tuple[int, str]:
    response = await client.post(
        browser.token + action.path, data={**action.fields, **reauth}, headers=browser.headers
    )
    return response.status, await response.text()


def failed_logins(logs: Path) -> list[str]:
    path = logs / "login_log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if "FAILED LOGIN" in line]


@pytest.mark.parametrize("name", ACTIONS)
async def test_refused_without_reauthentication(
    bob_with_code: tuple[Client, Browser, str], server_state: ServerState, logs: Path, name: str
) -> None:
    client, bob, _ = bob_with_code
    status, text = await submit(client, bob, ACTIONS[name])
    assert status == 403 and REAUTH_MISSING in text
    assert not await ACTIONS[name].changed(server_state)
    assert failed_logins(logs) == []  # no answer was given: nothing to count


@pytest.mark.parametrize("name", ACTIONS)
async def test_refused_with_a_wrong_password(
    bob_with_code: tuple[Client, Browser, str], server_state: ServerState, logs: Path, name: str
) -> None:
    client, bob, _ = bob_with_code
    status, text = await submit(client, bob, ACTIONS[name], current_password="wrong-Passw0rd")
    assert status == 403 and REAUTH_WRONG in text
    assert 'name="current_password"' in text  # the form again
    assert not await ACTIONS[name].changed(server_state)
    (line,) = failed_logins(logs)
    path = ACTIONS[name].path
    assert f' - bob "POST {bob.token}{path} HTTP/1.1" FAILED LOGIN cpaneld: ' in line
    assert line.endswith("reauthentication: user password incorrect")
    assert '"factor":"password"' in (logs / "audit_log").read_text()


@pytest.mark.parametrize("name", ACTIONS)
async def test_refused_with_a_replayed_code(
    bob_with_code: tuple[Client, Browser, str], server_state: ServerState, logs: Path, name: str
) -> None:
    client, bob, login_code = bob_with_code  # the login spent it
    status, text = await submit(client, bob, ACTIONS[name], current_code=login_code)
    assert status == 403 and REAUTH_WRONG in text
    assert not await ACTIONS[name].changed(server_state)
    (line,) = failed_logins(logs)
    assert line.endswith("reauthentication: 2fa code reused")


@pytest.mark.parametrize("name", ACTIONS)
async def test_allowed_with_the_right_password(
    bob_with_code: tuple[Client, Browser, str], server_state: ServerState, logs: Path, name: str
) -> None:
    client, bob, _ = bob_with_code
    status, _ = await submit(client, bob, ACTIONS[name], current_password=BOB_PASSWORD)
    assert status == 200
    assert await ACTIONS[name].changed(server_state)
    assert failed_logins(logs) == []
    # the page's own session goes on
    landing = await client.get(bob.token + "/frontend/jupiter/index.html", headers=bob.headers)
    assert landing.status == 200


@pytest.mark.parametrize("name", ACTIONS)
async def test_allowed_with_a_current_code(
    bob_with_code: tuple[Client, Browser, str],
    server_state: ServerState,
    clock: FrozenClock,
    name: str,
) -> None:
    client, bob, _ = bob_with_code
    clock.advance(30)
    status, text = await submit(client, bob, ACTIONS[name], current_code=code_at(clock))
    assert status == 200, text
    assert await ACTIONS[name].changed(server_state)


async def test_a_code_spent_on_a_reauthentication_is_not_accepted_again(
    bob_with_code: tuple[Client, Browser, str], clock: FrozenClock, logs: Path
) -> None:
    client, bob, _ = bob_with_code
    clock.advance(30)
    code = code_at(clock)
    first = Action("/tokens/", {"action": "create", "token_name": "one"}, _token_created)
    second = Action("/tokens/", {"action": "create", "token_name": "two"}, _token_created)
    assert (await submit(client, bob, first, current_code=code))[0] == 200
    status, text = await submit(client, bob, second, current_code=code)
    assert status == 403 and REAUTH_WRONG in text
    (line,) = failed_logins(logs)
    assert line.endswith("reauthentication: 2fa code reused")
    # nor at a login
    replay = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code}
    )
    assert replay.status == 401


async def test_the_password_change_ends_the_other_sessions_and_rotates_the_own(
    make_client: MakeClient, server_state: ServerState
) -> None:
    client = await make_client(Service.CPANEL)
    bob = await login(client, "bob", BOB_PASSWORD)
    other = await login(client, "bob", BOB_PASSWORD)
    action = ACTIONS["change-password"]
    response = await client.post(
        bob.token + action.path,
        data={**action.fields, "current_password": BOB_PASSWORD},
        headers=bob.headers,
    )
    text = await response.text()
    assert response.status == 200 and "other sessions have ended" in text
    # PW-9: the page answers with the successor's cookie and its /cpsess path
    successor = Browser(set_cookie(response), re.findall(r"/cpsess\d{10}", text)[0])
    assert successor.token != bob.token and successor.cookie != bob.cookie
    info = "/execute/Variables/get_user_information"
    assert (await client.get(successor.token + info, headers=successor.headers)).status == 200
    assert (await client.get(bob.token + info, headers=bob.headers)).status != 200
    assert (await client.get(other.token + info, headers=other.headers)).status != 200


async def test_invalid_input_is_refused_before_the_reauthentication(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    client = await make_client(Service.CPANEL)
    bob = await login(client, "bob", BOB_PASSWORD)
    cases = [
        (
            "/security/",
            {"action": "password", "new_password": "short", "confirm_password": "short"},
        ),
        (
            "/security/",
            {"action": "password", "new_password": NEW_PASSWORD, "confirm_password": "other-Pw-1"},
        ),
        ("/tokens/", {"action": "create", "token_name": "no spaces"}),
        ("/tokens/", {"action": "create", "token_name": "ok", "expires": "2020-01-01"}),
    ]
    for path, fields in cases:
        action = Action(path, fields, _token_created)
        status, _ = await submit(client, bob, action, current_password="wrong-Passw0rd")
        assert status == 400
    assert failed_logins(logs) == []
    assert not await _password_changed(server_state)
    assert not await server_state.runtime.store.list_tokens("bob", TokenKind.CPANEL)


async def enter_bob_as_root(make_client: MakeClient) -> tuple[Client, Browser]:
    """root's WHM session opens bob's cPanel (a possessed session, w§16.8)."""
    whm = await make_client(Service.WHM)
    root = await login(whm, "root", ROOT_PASSWORD)
    response = await whm.post(
        "/xfercpanel",
        data={"token": root.token, "user": "bob"},
        headers=root.headers,
        allow_redirects=False,
    )
    assert response.status == 302
    cpanel = await make_client(Service.CPANEL)
    return cpanel, await follow_handoff(response.headers["Location"], cpanel)


@pytest.mark.parametrize("name", ACTIONS)
async def test_a_possessor_reauthenticates_as_itself(
    make_client: MakeClient,
    server_state: ServerState,
    clock: FrozenClock,
    logs: Path,
    name: str,
) -> None:
    await enrol_bob(server_state, clock)
    cpanel, bob = await enter_bob_as_root(make_client)
    page = await cpanel.get(bob.token + ACTIONS[name].path, headers=bob.headers)
    assert "current password of <strong>root</strong>" in await page.text()
    # the account's own password and code do not count in root's session
    status, _ = await submit(cpanel, bob, ACTIONS[name], current_password=BOB_PASSWORD)
    assert status == 403
    status, _ = await submit(cpanel, bob, ACTIONS[name], current_code=code_at(clock))
    assert status == 403
    assert not await ACTIONS[name].changed(server_state)
    refused = failed_logins(logs)
    assert len(refused) == 2 and all(" - root " in line for line in refused)
    assert refused[1].endswith("reauthentication: 2fa not configured")  # root has none
    status, _ = await submit(cpanel, bob, ACTIONS[name], current_password=ROOT_PASSWORD)
    assert status == 200
    assert await ACTIONS[name].changed(server_state)


async def test_root_creates_a_whm_token_on_its_page(
    make_client: MakeClient, server_state: ServerState
) -> None:
    whm = await make_client(Service.WHM)
    root = await login(whm, "root", ROOT_PASSWORD)
    landing = await whm.get(root.token + "/", headers=root.headers)
    assert 'id="to-tokens"' in await landing.text()
    action = Action("/tokens/", {"action": "create", "token_name": "root-page"}, _token_created)
    status, text = await submit(whm, root, action, current_password="wrong-Passw0rd")
    assert status == 403 and REAUTH_WRONG in text and 'id="new-token"' not in text
    assert not await server_state.runtime.store.get_token("root", TokenKind.WHM, "root-page")
    status, text = await submit(whm, root, action, current_password=ROOT_PASSWORD)
    assert status == 200 and 'id="new-token"' in text
    assert await server_state.runtime.store.get_token("root", TokenKind.WHM, "root-page")


async def test_webmail_offers_a_password_change_to_mailboxes_only(
    make_client: MakeClient, server_state: ServerState
) -> None:
    webmail = await make_client(Service.WEBMAIL)
    mailbox = await login(webmail, "info@bob.example", "info-Pw-1234")
    page = await webmail.get(mailbox.token + "/security/", headers=mailbox.headers)
    text = await page.text()
    assert 'id="password_form"' in text and 'id="to-tokens"' not in text
    change = {"action": "password", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    action = Action("/security/", change, _password_changed)
    status, _ = await submit(webmail, mailbox, action, current_password="info-Pw-1234")
    assert status == 200
    stored = await server_state.runtime.store.get_mailbox("info@bob.example")
    assert stored is not None
    assert (
        await server_state.runtime.passwords.verify(stored.password_hash, Secret(NEW_PASSWORD))
    ).ok
    # the account's default mailbox: the password is the account's, changed in cPanel, so
    # Webmail has no Password page for it
    default = await login(webmail, "bob", BOB_PASSWORD)
    status, _ = await submit(webmail, default, action, current_password=BOB_PASSWORD)
    assert status == 404
    assert not await _password_changed(server_state)


async def test_the_api_functions_need_no_reauthentication(
    bob_with_code: tuple[Client, Browser, str], server_state: ServerState
) -> None:
    """Scripts keep working: the UAPI with the session's security token is unchanged."""
    client, bob, _ = bob_with_code
    created = await client.get(
        bob.token + "/execute/Tokens/create_full_access?name=from-page", headers=bob.headers
    )
    assert (await created.json())["status"] == 1
    removed = await client.get(
        bob.token + "/execute/TwoFactorAuth/remove_user_configuration", headers=bob.headers
    )
    assert (await removed.json())["data"] == {"tfa_removed": 1}
    assert await _token_created(server_state) and await _two_factor_removed(server_state)
