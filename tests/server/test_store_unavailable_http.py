"""A locked or failing store on every route: 503, Retry-After, the API's envelope, the plain
reason, never SQLite's text; what needs no write goes on working (w§15.5, FT-3..FT-5, issue 8).

Two kinds of failure: a real lock (a second connection holding `BEGIN EXCLUSIVE`; in WAL mode
reads still work, so each request here is one that must write), and an injected store whose
every statement fails (reads too: a credential that cannot be read is never granted).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import ClientResponse

from panelauth.api.registry import Api
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.models import CredentialKind, Identity, IdentityKind
from panelauth.core.settings import Settings
from panelauth.errors import StoreUnavailable
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, CHEAP_ARGON2
from tests.server.conftest import BOB_AUTH, ROOT_AUTH, MakeClient, basic
from tests.server.sessions_helpers import login
from tests.server.test_tokens_http import whm_token

REASON = StoreUnavailable.reason  # "The data store is busy; try again."
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
LEAKS = ("database", "locked", "sqlite", "Traceback", "OperationalError")
API2_LISTPOPS = (
    "/json-api/cpanel?cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops"
    "&cpanel_jsonapi_apiversion=2"
)


@pytest.fixture
def settings() -> Settings:
    """A short busy timeout, so a held lock fails in 50 ms instead of 2 s."""
    return Settings(hostname="panel.example.test", argon2=CHEAP_ARGON2, store_busy_timeout_ms=50)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "panelauth.db"


@pytest.fixture
def lock(database: Path) -> Iterator[Callable[[], sqlite3.Connection]]:
    """Call it to make another connection take the write lock (released at teardown)."""
    held: list[sqlite3.Connection] = []

    def take() -> sqlite3.Connection:
        connection = sqlite3.connect(database, isolation_level=None, timeout=1)
        connection.execute("BEGIN EXCLUSIVE")
        held.append(connection)
        return connection

    yield take
    for connection in held:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


class FailingConnection:
    """Stands in for the store's connection: every statement fails as SQLite would."""

    in_transaction = False

    def execute(self, *args: object) -> Any:
        raise sqlite3.OperationalError("database is locked")

    executemany = execute

    def close(self) -> None:
        pass


@pytest.fixture
def fail(server_state: ServerState) -> Iterator[Callable[[], None]]:
    """Call it to make every store statement fail (reads included)."""
    store = server_state.runtime.store
    assert isinstance(store, SqliteStore)
    real = store._db

    real_index = store._wal_index

    def inject() -> None:
        # the connection fails, and so does the change signal: the WAL index is not consulted
        # and PRAGMA data_version goes through the failing connection. (A record cache may
        # answer only while a readable signal says nothing was committed since.)
        store._db = FailingConnection()  # type: ignore[assignment]
        store._wal_index = False

    yield inject
    store._db = real
    store._wal_index = real_index


@dataclass
class Case:
    """One route: what to set up while the store works, then the request, then its envelope."""

    service: Service
    send: Callable[[Any, dict[str, str]], Awaitable[ClientResponse]]
    check: Callable[[ClientResponse, bytes], None]
    setup: Callable[[ServerState], Awaitable[dict[str, str]]]
    session: bool = False  # the request carries a session made while the store worked


async def _root_basic(state: ServerState) -> dict[str, str]:
    return ROOT_AUTH


async def _bob_basic(state: ServerState) -> dict[str, str]:
    return BOB_AUTH


async def _root_token(state: ServerState) -> dict[str, str]:
    return {"Authorization": f"whm root:{await whm_token(state)}"}


async def _bob_with_otp(state: ServerState) -> dict[str, str]:
    """bob with two-factor: each Basic request spends its code, a write (TF-2, fail closed)."""
    clock = state.runtime.clock
    assert isinstance(clock, FrozenClock)
    code = pyotp.TOTP(SECRET).at(clock.now())
    await state.runtime.two_factor.enrol("bob", SECRET, code, address="127.0.0.1")
    clock.advance(30)
    return {**BOB_AUTH, "X-CPANEL-OTP": pyotp.TOTP(SECRET).at(clock.now())}


async def _nothing(state: ServerState) -> dict[str, str]:
    return {}


def _whm1(command: str) -> Callable[[ClientResponse, bytes], None]:
    def check(response: ClientResponse, body: bytes) -> None:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        metadata = json.loads(body)["metadata"]
        assert metadata["command"] == command
        assert (metadata["result"], metadata["reason"], metadata["version"]) == (0, REASON, 1)

    return check


def _uapi(response: ClientResponse, body: bytes) -> None:
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == {
        "status": 0,
        "errors": [REASON],
        "messages": None,
        "warnings": None,
        "data": None,
        "metadata": {},
    }


def _api2(response: ClientResponse, body: bytes) -> None:
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    result = json.loads(body)["cpanelresult"]
    assert (result["module"], result["func"], result["apiversion"]) == ("Email", "listpops", 2)
    assert (result["event"], result["error"], result["data"]) == ({"result": 0}, REASON, None)


def _json_login(response: ClientResponse, body: bytes) -> None:
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body) == {"status": 0, "message": REASON}
    assert "Set-Cookie" not in response.headers


def _html(response: ClientResponse, body: bytes) -> None:
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert REASON in body.decode()
    assert "Set-Cookie" not in response.headers


async def _logout(client: Any, headers: dict[str, str]) -> ClientResponse:
    """A page that must write: logging out deletes the session (or it would live on)."""
    response: ClientResponse = await client.get("/logout", headers=headers, allow_redirects=False)
    return response


CASES = {
    "whm1-token": Case(
        Service.WHM,
        lambda c, h: c.get("/json-api/api_token_create?api.version=1&token_name=n", headers=h),
        _whm1("api_token_create"),
        _root_token,
    ),
    "whm1-basic": Case(
        Service.WHM,
        lambda c, h: c.get("/json-api/api_token_create?api.version=1&token_name=n", headers=h),
        _whm1("api_token_create"),
        _root_basic,
    ),
    "uapi": Case(
        Service.CPANEL,
        lambda c, h: c.get("/execute/Tokens/create_full_access?name=n", headers=h),
        _uapi,
        _bob_basic,
    ),
    "api2": Case(
        Service.CPANEL, lambda c, h: c.get(API2_LISTPOPS, headers=h), _api2, _bob_with_otp
    ),
    "uapi_cpanel": Case(
        Service.WHM,
        lambda c, h: c.get(
            "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=Tokens"
            "&cpanel.function=create_full_access&name=n",
            headers=h,
        ),
        _whm1("uapi_cpanel"),
        _root_basic,
    ),
    "json-login": Case(
        Service.CPANEL,
        lambda c, h: c.post("/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD}),
        _json_login,
        _nothing,
    ),
    "form-login": Case(
        Service.CPANEL,
        lambda c, h: c.post(
            "/login", data={"user": "bob", "pass": BOB_PASSWORD}, allow_redirects=False
        ),
        _html,
        _nothing,
    ),
    "page": Case(Service.CPANEL, _logout, _html, _nothing, session=True),
}


async def _run(
    case: Case,
    make_client: MakeClient,
    state: ServerState,
    logs: Path,
    break_store: Callable[[], object],
) -> None:
    client = await make_client(case.service)
    headers = await case.setup(state)
    if case.session:
        headers = (await login(client, "bob", BOB_PASSWORD)).headers
    before = _login_failures(logs)
    break_store()
    response = await case.send(client, headers)
    body = await response.read()
    assert response.status == 503, body
    assert response.headers["Retry-After"] == "5"
    assert REASON.encode() in body
    for leak in LEAKS:
        assert leak.lower().encode() not in body.lower()
    case.check(response, body)
    # a store failure is no failed login: nothing is counted or logged against the user
    assert _login_failures(logs) == before


def _login_failures(logs: Path) -> int:
    path = logs / "login_log"
    return path.read_text().count("FAILED LOGIN") if path.exists() else 0


@pytest.mark.parametrize("name", list(CASES))
async def test_a_locked_store_answers_503_in_the_envelope_of_each_route(
    name: str,
    make_client: MakeClient,
    server_state: ServerState,
    logs: Path,
    lock: Callable[[], sqlite3.Connection],
) -> None:
    await _run(CASES[name], make_client, server_state, logs, lock)


@pytest.mark.parametrize("name", list(CASES))
async def test_a_failing_store_answers_503_in_the_envelope_of_each_route(
    name: str,
    make_client: MakeClient,
    server_state: ServerState,
    logs: Path,
    fail: Callable[[], None],
) -> None:
    await _run(CASES[name], make_client, server_state, logs, fail)


@pytest.mark.parametrize(
    "headers",
    [ROOT_AUTH, {"Authorization": "whm root:AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH"}],
    ids=["basic", "token"],
)
async def test_an_unreadable_credential_is_never_granted(
    make_client: MakeClient,
    server_state: ServerState,
    fail: Callable[[], None],
    headers: dict[str, str],
) -> None:
    """A read-only function: with the credential unreadable it is 503, never 200 or 403."""
    client = await make_client(Service.WHM)
    assert (await client.get("/json-api/version?api.version=1", headers=ROOT_AUTH)).status == 200
    fail()  # (the verified-password cache is warm: it must not stand in for the store)
    response = await client.get("/json-api/version?api.version=1", headers=headers)
    assert response.status == 503
    assert json.loads(await response.read())["metadata"]["reason"] == REASON


async def test_a_landing_page_with_an_unreadable_session_is_a_503_page(
    make_client: MakeClient, server_state: ServerState, fail: Callable[[], None]
) -> None:
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    fail()
    response = await client.get(
        f"{browser.token}/frontend/jupiter/index.html", headers=browser.headers
    )
    body = await response.text()
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert REASON in body and "locked" not in body


async def test_the_app_log_records_the_cause(
    make_client: MakeClient,
    server_state: ServerState,
    lock: Callable[[], sqlite3.Connection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await make_client(Service.CPANEL)
    lock()
    with caplog.at_level(logging.WARNING):
        response = await client.post(
            "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD}
        )
    assert response.status == 503
    assert any("database is locked" in record.getMessage() for record in caplog.records)
    assert all(BOB_PASSWORD not in record.getMessage() for record in caplog.records)


# -- what needs no write goes on working (FT-5) -------------------------------------------------


async def test_existing_sessions_and_credentials_keep_working_while_writes_are_locked(
    make_client: MakeClient,
    server_state: ServerState,
    clock: FrozenClock,
    database: Path,
    lock: Callable[[], sqlite3.Connection],
) -> None:
    cpanel = await make_client(Service.CPANEL)
    whm = await make_client(Service.WHM)
    browser = await login(cpanel, "bob", BOB_PASSWORD)
    token = await whm_token(server_state)
    cpanel_identity = Identity("bob", IdentityKind.CPANEL, CredentialKind.LOCAL, "bob")
    created = await server_state.dispatcher.cpanel(
        Api.UAPI,
        cpanel_identity,
        Service.CPANEL,
        "Tokens",
        "create_full_access",
        Params([("name", "ci")]),
        client_address="127.0.0.1",
    )
    cpanel_token = created.data["token"]
    # a password verified before the lock is served from the credential cache; an unverified
    # one would need its attempt counted first (BF-4), a write, so it fails closed with 503
    assert (await whm.get("/json-api/version?api.version=1", headers=ROOT_AUTH)).status == 200
    session_id, last_seen = _session_row(database)
    clock.advance(60)  # past the touch interval: each cookie request tries to write last_seen
    holder = lock()

    page = await cpanel.get(f"{browser.token}/frontend/jupiter/index.html", headers=browser.headers)
    assert page.status == 200
    api = await cpanel.get(
        f"{browser.token}/execute/Variables/get_user_information", headers=browser.headers
    )
    assert api.status == 200 and (await api.json())["status"] == 1
    for headers in (ROOT_AUTH, {"Authorization": f"whm root:{token}"}):
        answer = await whm.get("/json-api/version?api.version=1", headers=headers)
        assert answer.status == 200
    uncounted = await whm.get("/json-api/version?api.version=1", headers=basic("res", "guess"))
    assert uncounted.status == 503
    listed = await cpanel.get(
        "/execute/Email/list_pops", headers={"Authorization": f"cpanel bob:{cpanel_token}"}
    )
    assert listed.status == 200 and (await listed.json())["status"] == 1
    # the touch could not be written: the idle clock was not extended (FT-5)
    assert _session_row(database) == (session_id, last_seen)

    # a new login needs a write: refused with 503 while locked, fine once the lock goes (FT-4)
    refused = await cpanel.post("/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD})
    assert refused.status == 503
    holder.execute("ROLLBACK")
    await login(cpanel, "bob", BOB_PASSWORD)
    page = await cpanel.get(f"{browser.token}/frontend/jupiter/index.html", headers=browser.headers)
    assert page.status == 200
    assert _session_row(database, session_id)[1] == clock.now()


def _session_row(database: Path, session_id: str | None = None) -> tuple[str, float]:
    reader = sqlite3.connect(database)
    try:
        if session_id is None:
            row = reader.execute("SELECT session_id, last_seen FROM sessions").fetchone()
        else:
            row = reader.execute(
                "SELECT session_id, last_seen FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
    finally:
        reader.close()
    return str(row[0]), float(row[1])
