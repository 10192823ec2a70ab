"""One path per change (issue 9): WHM API 1, UAPI, pages and the command line run the same core
use case, so each ends the same sessions, writes one accounting record and the same PURGE
lines; a password change rotates the caller's own session (PW-9); a credential changed behind
every purge still ends sessions at their next request (CV-9)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import ClientResponse

from panelauth.cli import twofactor as tfa_cli
from panelauth.cli.local import run_whmapi1
from panelauth.cli.tokens import token_call
from panelauth.clock import FrozenClock
from panelauth.core.session_manager import PASSWORD_CHANGE
from panelauth.core.sessions import SessionKind, SessionState
from panelauth.core.tokens import ApiToken, TokenKind, digest
from panelauth.protocol.cookies import COOKIE_NAMES
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.datadir import DataDir
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, session_events, set_cookie

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NEW_PASSWORD = "Changed-Passw0rd-1"
INFO = "info@bob.example"
CHECK_PATH = {
    Service.WHM: "/json-api/version",
    Service.CPANEL: "/execute/Variables/get_user_information",
    Service.WEBMAIL: "/execute/Variables/get_user_information",
}
SERVICE_OF = {"root": Service.WHM, "bob": Service.CPANEL, INFO: Service.WEBMAIL}


@dataclass
class Held:
    """A session the test opened, with what a browser would send."""

    user: str
    service: Service
    session_id: str
    browser: Browser


async def open_session(state: ServerState, user: str) -> Held:
    service = SERVICE_OF[user]
    created = await state.sessions.create(
        user=user,
        account=None if user == "root" else "bob",
        service=service,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator=user,
        method="handle_form_login",
        path="form",
        address="127.0.0.1",
        bind=False,
    )
    cookie = f"{COOKIE_NAMES[service]}={created.cookie_value}"
    return Held(
        user, service, created.session.session_id, Browser(cookie, created.session.security_token)
    )


@dataclass
class World:
    state: ServerState
    clients: dict[Service, Client]
    clock: FrozenClock
    data_dir: DataDir
    caller: Held | None

    def code(self) -> str:
        """A code of SECRET at the server's time (the server's TOTP clock is the test clock)."""
        return pyotp.TOTP(SECRET).at(self.clock.now())

    async def post(self, path: str, **data: str) -> ClientResponse:
        assert self.caller is not None
        browser = self.caller.browser
        client = self.clients[self.caller.service]
        return await client.post(browser.token + path, data=data, headers=browser.headers)


Action = Callable[[World], Awaitable[ClientResponse | None]]


async def _cli_enrol(world: World) -> None:
    await tfa_cli.enrol(world.data_dir, "bob", lambda _qr, secret: pyotp.TOTP(secret).now())


async def _cli_remove(world: World) -> None:
    assert await tfa_cli.remove(world.data_dir, "bob")


async def _cli_whmapi1(world: World, function: str, **args: str) -> None:
    answer = await run_whmapi1(world.data_dir, function, Params(list(args.items())))
    assert answer.succeeded, answer.document


async def _cli_token(world: World, action: str) -> None:
    params = Params([("name", "t")])
    outcome = await token_call(world.data_dir, "bob", TokenKind.CPANEL, action, params)
    assert outcome.ok, outcome.error


@dataclass(frozen=True)
class Case:
    surface: str
    change: str
    caller: str | None  # whose session makes the change (None: the command line)
    target: str  # whose other sessions are expected to end (or to stay)
    action: Action
    record: str  # the accounting action, written exactly once
    reason: str | None  # the PURGE reason of the target's other sessions; None: they stay
    rotated: bool = False  # the caller's own session is replaced (its own password)
    before: str = ""  # "enrolled", "suspended", "whm-token", "cpanel-token"


CASES = [
    # two-factor enrolment
    Case(
        "whm",
        "2fa-enrol",
        "root",
        "bob",
        lambda w: w.post(
            "/json-api/twofactorauth_set_tfa_config", user="bob", secret=SECRET, tfa_token=w.code()
        ),
        "TWOFACTORAUTH_SET",
        "kill",
    ),
    Case(
        "uapi",
        "2fa-enrol",
        "bob",
        "bob",
        lambda w: w.post(
            "/execute/TwoFactorAuth/set_user_configuration", secret=SECRET, tfa_token=w.code()
        ),
        "TWOFACTORAUTH_SET",
        "kill",
    ),
    Case(
        "page",
        "2fa-enrol",
        "bob",
        "bob",
        lambda w: w.post("/twofactor/", action="enable", secret=SECRET, tfa_token=w.code()),
        "TWOFACTORAUTH_SET",
        "kill",
    ),
    Case("cli", "2fa-enrol", None, "bob", _cli_enrol, "TWOFACTORAUTH_SET", "kill"),
    # two-factor removal
    Case(
        "whm",
        "2fa-remove",
        "root",
        "bob",
        lambda w: w.post("/json-api/twofactorauth_remove_user_config", user="bob"),
        "TWOFACTORAUTH_REMOVE",
        "kill",
        before="enrolled",
    ),
    Case(
        "uapi",
        "2fa-remove",
        "bob",
        "bob",
        lambda w: w.post("/execute/TwoFactorAuth/remove_user_configuration"),
        "TWOFACTORAUTH_REMOVE",
        "kill",
        before="enrolled",
    ),
    Case(
        "page",
        "2fa-remove",
        "bob",
        "bob",
        lambda w: w.post("/twofactor/", action="remove", current_password=BOB_PASSWORD),
        "TWOFACTORAUTH_REMOVE",
        "kill",
        before="enrolled",
    ),
    Case(
        "cli",
        "2fa-remove",
        None,
        "bob",
        _cli_remove,
        "TWOFACTORAUTH_REMOVE",
        "kill",
        before="enrolled",
    ),
    # password change: another user's, and the caller's own (rotated)
    Case(
        "whm",
        "password",
        "root",
        "bob",
        lambda w: w.post("/json-api/passwd", user="bob", password=NEW_PASSWORD),
        "PASSWD",
        PASSWORD_CHANGE,
    ),
    Case(
        "whm",
        "own-password",
        "root",
        "root",
        lambda w: w.post("/json-api/passwd", user="root", password=NEW_PASSWORD),
        "PASSWD",
        PASSWORD_CHANGE,
        rotated=True,
    ),
    Case(
        "uapi",
        "own-password",
        INFO,
        INFO,
        lambda w: w.post("/execute/Email/passwd_pop", email=INFO, password=NEW_PASSWORD),
        "PASSWD",
        PASSWORD_CHANGE,
        rotated=True,
    ),
    Case(
        "page",
        "own-password",
        "bob",
        "bob",
        lambda w: w.post(
            "/security/",
            action="password",
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
            current_password=BOB_PASSWORD,
        ),
        "PASSWD",
        PASSWORD_CHANGE,
        rotated=True,
    ),
    Case(
        "cli",
        "password",
        None,
        "bob",
        lambda w: _cli_whmapi1(w, "passwd", user="bob", password=NEW_PASSWORD),
        "PASSWD",
        PASSWORD_CHANGE,
    ),
    # suspension, unsuspension, removal
    Case(
        "whm",
        "suspend",
        "root",
        "bob",
        lambda w: w.post("/json-api/suspendacct", user="bob"),
        "SUSPEND",
        "suspend",
    ),
    Case(
        "cli",
        "suspend",
        None,
        "bob",
        lambda w: _cli_whmapi1(w, "suspendacct", user="bob"),
        "SUSPEND",
        "suspend",
    ),
    Case(
        "whm",
        "unsuspend",
        "root",
        "bob",
        lambda w: w.post("/json-api/unsuspendacct", user="bob"),
        "UNSUSPEND",
        None,
        before="suspended",
    ),
    Case(
        "whm",
        "remove",
        "root",
        "bob",
        lambda w: w.post("/json-api/removeacct", user="bob"),
        "REMOVE",
        "killacct",
    ),
    Case(
        "cli",
        "remove",
        None,
        "bob",
        lambda w: _cli_whmapi1(w, "removeacct", user="bob"),
        "REMOVE",
        "killacct",
    ),
    # tokens: recorded once, and no session ends
    Case(
        "whm",
        "token-create",
        "root",
        "root",
        lambda w: w.post("/json-api/api_token_create", token_name="t"),
        "API_TOKEN_CREATE",
        None,
    ),
    Case(
        "uapi",
        "token-create",
        "bob",
        "bob",
        lambda w: w.post("/execute/Tokens/create_full_access", name="t"),
        "API_TOKEN_CREATE",
        None,
    ),
    Case(
        "page",
        "token-create",
        "bob",
        "bob",
        lambda w: w.post(
            "/tokens/", action="create", token_name="t", current_password=BOB_PASSWORD
        ),
        "API_TOKEN_CREATE",
        None,
    ),
    Case(
        "cli",
        "token-create",
        None,
        "bob",
        lambda w: _cli_token(w, "create"),
        "API_TOKEN_CREATE",
        None,
    ),
    Case(
        "whm",
        "token-revoke",
        "root",
        "root",
        lambda w: w.post("/json-api/api_token_revoke", token_name="t"),
        "API_TOKEN_REVOKE",
        None,
        before="whm-token",
    ),
    Case(
        "uapi",
        "token-revoke",
        "bob",
        "bob",
        lambda w: w.post("/execute/Tokens/revoke", name="t"),
        "API_TOKEN_REVOKE",
        None,
        before="cpanel-token",
    ),
    Case(
        "cli",
        "token-revoke",
        None,
        "bob",
        lambda w: _cli_token(w, "revoke"),
        "API_TOKEN_REVOKE",
        None,
        before="cpanel-token",
    ),
]


def accounting_actions(logs: Path) -> list[str]:
    path = logs / "accounting_log"
    lines = path.read_text().splitlines() if path.exists() else []
    # "<ctime>:<ACTION>:..." where the ctime itself holds two colons
    return [line.split(":")[3] for line in lines]


def purges(logs: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for event in session_events(logs):
        if event.event == "PURGE":
            found.setdefault(event.session_id, []).append(event.fields["reason"])
    return found


async def works(client: Client, held: Held | Browser, service: Service) -> bool:
    browser = held.browser if isinstance(held, Held) else held
    response = await client.get(browser.token + CHECK_PATH[service], headers=browser.headers)
    return response.status == 200


async def prepare(state: ServerState, clock: FrozenClock, before: str) -> None:
    store = state.runtime.store
    if before == "enrolled":
        code = pyotp.TOTP(SECRET).at(clock.now())
        await state.runtime.two_factor.enrol("bob", SECRET, code, address="127.0.0.1")
        clock.advance(30)
    elif before == "suspended":
        await store.set_suspended("bob", True, "test")
    elif before in ("whm-token", "cpanel-token"):
        owner, kind = (
            ("root", TokenKind.WHM) if before == "whm-token" else ("bob", TokenKind.CPANEL)
        )
        await store.insert_token(ApiToken(owner, kind, "t", digest("x" * 32), 0))


async def new_browser(case: Case, response: ClientResponse) -> Browser:
    """The successor's cookie and security token, as the answer hands them over."""
    cookie = set_cookie(response)
    if case.surface == "page":
        token = re.findall(r"/cpsess\d{10}", await response.text())[0]
    else:
        token = (await response.json())["metadata"]["security_token"]
    return Browser(cookie, token)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.surface}-{c.change}")
async def test_each_surface_runs_the_one_use_case(
    case: Case,
    make_client: MakeClient,
    server_state: ServerState,
    clock: FrozenClock,
    logs: Path,
    tmp_path: Path,
) -> None:
    await prepare(server_state, clock, case.before)
    clients = {service: await make_client(service) for service in Service}
    caller = await open_session(server_state, case.caller) if case.caller else None
    other = await open_session(server_state, case.target)  # another session of the target
    bystander = await open_session(server_state, "root" if case.target != "root" else "bob")
    world = World(server_state, clients, clock, DataDir(tmp_path / "data"), caller)

    response = await case.action(world)

    if response is not None:
        body: Any = await response.json() if case.surface != "page" else await response.text()
        assert response.status == 200, body
        if case.surface == "whm":
            assert body["metadata"]["result"] == 1, body
        elif case.surface == "uapi":
            assert body["status"] == 1, body
    store = server_state.runtime.store
    purged = purges(logs)
    # the accounting record, exactly once, whatever the surface
    assert accounting_actions(logs).count(case.record) == 1, accounting_actions(logs)
    # the target's other sessions end, with one PURGE line each, or all stay
    if case.reason is None:
        assert await store.get_session(other.session_id) is not None
        assert other.session_id not in purged
    else:
        assert await store.get_session(other.session_id) is None
        assert purged[other.session_id] == [case.reason]
        assert not await works(clients[other.service], other, other.service)
    # nobody else's session is touched
    assert await store.get_session(bystander.session_id) is not None
    assert bystander.session_id not in purged
    if caller is None or caller.session_id == other.session_id:
        return
    client = clients[caller.service]
    if case.rotated:
        # PW-9: the caller's session is replaced; the old cookie is refused, the new one works
        assert response is not None
        assert purged[caller.session_id] == [PASSWORD_CHANGE]
        successor = await new_browser(case, response)
        assert successor.token != caller.browser.token
        assert not await works(client, caller, caller.service)
        assert await works(client, successor, caller.service)
    else:
        assert "Set-Cookie" not in response.headers if response is not None else True
        assert caller.session_id not in purged
        assert await works(client, caller, caller.service)


@pytest.mark.parametrize(
    ("user", "change"),
    [("bob", "account"), (INFO, "mailbox"), ("root", "account")],
)
async def test_a_password_changed_in_the_store_ends_sessions_at_their_next_request(
    make_client: MakeClient, server_state: ServerState, logs: Path, user: str, change: str
) -> None:
    """CV-9: no purge ran (another worker, a direct store write); the version still tells."""
    service = SERVICE_OF[user]
    client = await make_client(service)
    held = await open_session(server_state, user)
    assert await works(client, held, service)
    store = server_state.runtime.store
    if change == "mailbox":
        assert await store.set_mailbox_password_hash(user, "$argon2id$x", rotate=True)
    else:
        assert await store.set_password_hash(user, "$argon2id$x", rotate=True)
    assert not await works(client, held, service)
    assert purges(logs)[held.session_id] == [PASSWORD_CHANGE]
    assert await store.get_session(held.session_id) is None
    # a session made after the change records the new version and works
    assert await works(client, await open_session(server_state, user), service)


async def test_a_rehash_is_no_change(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    client = await make_client(Service.CPANEL)
    held = await open_session(server_state, "bob")
    assert await server_state.runtime.store.set_password_hash("bob", "$argon2id$x", rotate=False)
    assert await works(client, held, Service.CPANEL)


async def test_an_api_password_change_of_the_own_session_hands_over_the_new_session(
    make_client: MakeClient, server_state: ServerState
) -> None:
    """WHM API 1 `passwd` from the own session: Set-Cookie and metadata.security_token; a
    script reading neither must log in again."""
    client = await make_client(Service.WHM)
    root = await open_session(server_state, "root")
    response = await client.post(
        root.browser.token + "/json-api/passwd",
        data={"user": "root", "password": NEW_PASSWORD},
        headers=root.browser.headers,
    )
    document = await response.json()
    assert document["metadata"]["result"] == 1
    token = document["metadata"]["security_token"]
    assert re.fullmatch(r"/cpsess\d{10}", token) and token != root.browser.token
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("whostmgrsession=") and "HttpOnly" in cookie and "Secure" in cookie
    successor = Browser(set_cookie(response), token)
    assert await works(client, successor, Service.WHM)
    assert not await works(client, root, Service.WHM)
    # the old password is gone; the new one logs in
    old = await client.post("/login/?login_only=1", data={"user": "root", "pass": ROOT_PASSWORD})
    assert old.status == 401
    new = await client.post("/login/?login_only=1", data={"user": "root", "pass": NEW_PASSWORD})
    assert new.status == 200


async def test_a_failed_password_change_rotates_nothing(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    client = await make_client(Service.WHM)
    root = await open_session(server_state, "root")
    response = await client.post(
        root.browser.token + "/json-api/passwd",
        data={"user": "root", "password": "short"},
        headers=root.browser.headers,
    )
    document = await response.json()
    assert document["metadata"]["result"] == 0
    assert "security_token" not in document["metadata"] and "Set-Cookie" not in response.headers
    assert await works(client, root, Service.WHM)
    assert "PASSWD" not in accounting_actions(logs)
