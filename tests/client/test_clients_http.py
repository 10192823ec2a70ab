"""Client and AsyncClient end to end against the real Gateway over TLS (every test runs both)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyotp
import pytest

from panelauth.client import (
    AccessDenied,
    AccessHash,
    Client,
    CpanelToken,
    FunctionFailed,
    FunctionNotFound,
    LoginFailed,
    Password,
    PermissionDenied,
    RetryPolicy,
    ServerBusy,
    SessionLogin,
    SslRequired,
    TokenScopeDenied,
    TransportError,
    TwoFactorFailed,
    WhmToken,
    aget_loggedin_url,
    get_loggedin_url,
)
from panelauth.client.core import Session
from panelauth.clock import FrozenClock
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.client.conftest import MakeEither, Serve
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.test_store_unavailable_http import FailingConnection
from tests.server.test_tokens_http import access_hash, cpanel_token, whm_token

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def enrol_bob(state: ServerState, clock: FrozenClock) -> None:
    code = pyotp.TOTP(SECRET).at(clock.now())
    await state.runtime.two_factor.enrol("bob", SECRET, code, address="127.0.0.1")
    clock.advance(30)  # the enrolment spent its step


async def test_whm_token_calls_whm_and_cpanel_functions_through_whm(
    serve: Serve, make: MakeEither, server_state: ServerState
) -> None:
    client = make(await serve(), WhmToken("root", await whm_token(server_state)))
    result = await client("whm", "version")
    assert result.data["version"] and result.metadata["command"] == "version"
    pops = await client.as_user("bob", "uapi", "Email", "list_pops")
    assert any(pop["email"] == "info@bob.example" for pop in pops.data)
    api2 = await client.as_user("bob", "api2", "Email", "listpops")
    assert any(pop["email"] == "info@bob.example" for pop in api2.data)


async def test_python_lists_become_numbered_parameters(
    serve: Serve, make: MakeEither, server_state: ServerState
) -> None:
    client = make(await serve(), Password("root", ROOT_PASSWORD))
    created = await client("whm", "api_token_create", token_name="ci", acl=["list-accts", "all"])
    assert sorted(created.data["acls"]) == ["all", "list-accts"]


async def test_basic_with_totp_sends_the_current_code(
    serve: Serve, make: MakeEither, server_state: ServerState, clock: FrozenClock
) -> None:
    await enrol_bob(server_state, clock)
    url = await serve(Service.CPANEL)
    with_code = make(url, Password("bob", BOB_PASSWORD, otp_secret=SECRET, otp_clock=clock.now))
    assert (await with_code("uapi", "Email", "list_pops")).data
    without = make(url, Password("bob", BOB_PASSWORD))
    with pytest.raises(TwoFactorFailed):
        await without("uapi", "Email", "list_pops")


async def test_access_hash_with_its_newlines(
    serve: Serve, make: MakeEither, server_state: ServerState
) -> None:
    text = await access_hash(server_state)
    wrapped = "\n".join(text[i : i + 32] for i in range(0, len(text), 32)) + "\n"
    client = make(await serve(), AccessHash(wrapped))
    assert (await client("whm", "version")).data["version"]


async def test_cpanel_token_reaches_uapi_and_api2_only(
    serve: Serve, make: MakeEither, server_state: ServerState
) -> None:
    client = make(await serve(Service.CPANEL), CpanelToken("bob", await cpanel_token(server_state)))
    assert (await client("uapi", "Email", "list_pops")).data
    assert (await client("api2", "Email", "listpops")).data
    with pytest.raises(TokenScopeDenied):
        await client("whm", "version")


async def test_session_login_logs_in_again_when_purged_or_expired(
    serve: Serve, make: MakeEither, server_state: ServerState, clock: FrozenClock
) -> None:
    client = make(await serve(), SessionLogin("root", ROOT_PASSWORD))
    await client("whm", "version")
    first = client.client._core.session
    assert first is not None and first.token.startswith("/cpsess")
    assert await server_state.runtime.sessions.purge_user("root", "kill") == 1
    await client("whm", "version")
    second = client.client._core.session
    assert second is not None and second != first
    clock.advance(31 * 60)  # past the idle limit (w§8.1)
    await client("whm", "version")
    assert client.client._core.session not in (None, second)
    await client("logout")
    assert client.client._core.session is None


async def test_session_login_answers_two_factor_with_tfa_token(
    serve: Serve, make: MakeEither, server_state: ServerState, clock: FrozenClock
) -> None:
    await enrol_bob(server_state, clock)
    url = await serve(Service.CPANEL)
    auth = SessionLogin("bob", BOB_PASSWORD, otp_secret=SECRET, otp_clock=clock.now)
    client = make(url, auth)
    assert (await client("uapi", "Email", "list_pops")).data
    await server_state.runtime.sessions.purge_user("bob", "kill")
    clock.advance(30)  # a code spent by a session login is never accepted again (w§2.6)
    assert (await client("api2", "Email", "listpops")).data
    pending = make(url, SessionLogin("bob", BOB_PASSWORD))
    with pytest.raises(TwoFactorFailed):
        await pending("uapi", "Email", "list_pops")


async def test_retries_a_503_after_retry_after_then_succeeds(
    serve: Serve, make: MakeEither, server_state: ServerState
) -> None:
    store = server_state.runtime.store
    real, real_index = store._db, store._wal_index  # type: ignore[attr-defined]
    waits: list[float] = []

    def heal(seconds: float) -> None:
        waits.append(seconds)
        store._db, store._wal_index = real, real_index  # type: ignore[attr-defined]

    async def aheal(seconds: float) -> None:
        heal(seconds)

    def fail() -> None:
        store._db, store._wal_index = FailingConnection(), False  # type: ignore[attr-defined]

    url = await serve()
    token = await whm_token(server_state)
    sync = make(url, WhmToken("root", token), sleep=heal)
    client = sync if sync.sync else make(url, WhmToken("root", token), sleep=aheal)
    fail()
    created = await client("whm", "api_token_create", token_name="after-503")
    assert created.data["token"] and len(waits) == 1 and waits[0] > 0
    busy = make(url, WhmToken("root", token), retry=RetryPolicy(attempts=0))
    fail()
    try:
        with pytest.raises(ServerBusy) as caught:
            await busy("whm", "api_token_create", token_name="busy")
    finally:
        heal(0)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert caught.value.status == 503


async def test_each_failure_is_its_typed_error(
    serve: Serve, make: MakeEither, server_state: ServerState
) -> None:
    url = await serve()
    with pytest.raises(AccessDenied):
        await make(url, WhmToken("root", "A" * 32))("whm", "version")
    with pytest.raises(LoginFailed):
        await make(url, SessionLogin("root", "wrong-password"))("whm", "version")
    limited = make(url, WhmToken("root", await whm_token(server_state, **{"acl-0": "list-accts"})))
    with pytest.raises(PermissionDenied) as denied:
        await limited("whm", "api_token_create", token_name="x")
    assert type(denied.value) is PermissionDenied
    root = make(url, Password("root", ROOT_PASSWORD))
    with pytest.raises(FunctionNotFound):
        await root("whm", "no_such_function")
    with pytest.raises(FunctionFailed) as failed:
        await root("whm", "api_token_revoke", token_name="never-made")
    assert failed.value.reason and failed.value.status == 200
    plain = make(await serve(tls=False), Password("root", ROOT_PASSWORD))
    with pytest.raises(SslRequired):
        await plain("whm", "version")
    gone = make("https://127.0.0.1:1", Password("root", ROOT_PASSWORD))
    with pytest.raises(TransportError):
        await gone("whm", "version")


async def test_tls_is_verified_by_default(serve: Serve, make: MakeEither) -> None:
    url = await serve()
    with pytest.raises(TransportError):
        await make(url, Password("root", ROOT_PASSWORD), ca_file=None)("whm", "version")
    insecure = make(url, Password("root", ROOT_PASSWORD), ca_file=None, insecure=True)
    assert (await insecure("whm", "version")).data


async def test_a_session_with_a_wrong_security_token_is_replaced(
    serve: Serve, make: MakeEither
) -> None:
    client = make(await serve(), SessionLogin("root", ROOT_PASSWORD))
    await client("login")
    session = client.client._core.session
    assert session is not None
    client.client._core.session = Session(session.cookie, "/cpsess0000000000")
    assert (await client("whm", "version")).data
    assert client.client._core.session not in (None, session)


async def test_get_loggedin_url(serve: Serve, cert: Path) -> None:
    port = int((await serve(Service.CPANEL)).rsplit(":", 1)[1])
    ok = await asyncio.to_thread(
        get_loggedin_url, "bob", BOB_PASSWORD, "127.0.0.1", "cpanel", "/frontend/x",
        port=port, ca_file=cert,
    )  # fmt: skip
    assert (ok.login_ok, ok.login_message) == (1, "Login OK")
    assert ok.security_token and ok.login_url
    assert ok.login_url.startswith(f"https://127.0.0.1:{port}{ok.security_token}/login/?session=")
    assert ok.login_url.endswith("&goto_uri=%2Ffrontend%2Fx")
    refused = await aget_loggedin_url("bob", "wrong", "127.0.0.1", port=port, ca_file=cert)
    assert refused == (0, "see_login_log", None, None)


def test_client_is_a_context_manager() -> None:
    with Client("https://127.0.0.1:1", Password("root", "x"), insecure=True) as client:
        assert client.cpanel_as("bob").user == "bob"
