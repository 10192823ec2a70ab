"""Two-factor on the wire: pending sessions, tfa_token, X-CPANEL-OTP, replay rules (D5, D6)."""

from __future__ import annotations

import json
from pathlib import Path

import pyotp
import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.protocol.envelopes import ACCESS_DENIED_BODY, TWO_FACTOR_FAILED_BODY
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD
from tests.server.conftest import BOB_AUTH, MakeClient, basic
from tests.server.sessions_helpers import session_events, set_cookie

INFO = "/execute/Variables/get_user_information"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
async def enrolled(server_state: ServerState) -> FrozenClock:
    """bob has two-factor with SECRET; the clock moved one step past enrolment."""
    clock = server_state.runtime.clock
    assert isinstance(clock, FrozenClock)
    code = pyotp.TOTP(SECRET).at(clock.now())
    await server_state.runtime.two_factor.enrol("bob", SECRET, code, address="127.0.0.1")
    clock.advance(30)
    return clock


def code_at(clock: FrozenClock, offset: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(clock.now() + offset * 30)


async def test_password_alone_gives_a_pending_session(
    make_client: MakeClient, enrolled: FrozenClock, logs: Path
) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.post(
        "/login", data={"user": "bob", "pass": BOB_PASSWORD}, allow_redirects=False
    )
    assert response.status == 302  # the normal success answer (D5)
    landing, cookie = response.headers["Location"], set_cookie(response)
    token = "/" + landing.split("/")[1]
    page = await client.get(landing, headers={"Cookie": cookie})
    text = await page.text()
    assert page.status == 200 and 'id="tfa_login_form"' in text and 'name="tfatoken"' in text
    api = await client.get(token + INFO, headers={"Cookie": cookie})
    assert api.status == 403 and json.loads(await api.read()) == TWO_FACTOR_FAILED_BODY
    for other in ("/xferwebmail/", "/twofactor/"):
        refused = await client.get(token + other, headers={"Cookie": cookie}, allow_redirects=False)
        assert refused.status != 302 or "session=" not in refused.headers.get("Location", "")
        assert 'id="tfa_setup_form"' not in await refused.text()
    wrong = await client.post(landing, data={"tfatoken": "000000"}, headers={"Cookie": cookie})
    assert "not valid" in await wrong.text()
    right = await client.post(
        landing,
        data={"tfatoken": code_at(enrolled)},
        headers={"Cookie": cookie},
        allow_redirects=False,
    )
    assert right.status == 302
    new_cookie, new_token = set_cookie(right), "/" + right.headers["Location"].split("/")[1]
    assert new_cookie != cookie and new_token != token  # rotated (CV-8)
    assert (await client.get(new_token + INFO, headers={"Cookie": new_cookie})).status == 200
    assert (await client.get(token + INFO, headers={"Cookie": cookie})).status == 403
    events = session_events(logs)
    # the new session first (its creation spends the code), then the pending one ends
    assert [e.event for e in events] == ["NEW", "NEW", "PURGE"]
    assert events[2].fields == {"reason": "loginsuccess"}
    assert events[2].session_id == events[0].session_id


async def test_tfa_token_with_the_password_and_its_replay(
    make_client: MakeClient, enrolled: FrozenClock
) -> None:
    client = await make_client(Service.CPANEL)
    code = code_at(enrolled)
    first = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code}
    )
    assert first.status == 200
    body = await first.json()
    assert (
        await client.get(body["security_token"] + INFO, headers={"Cookie": set_cookie(first)})
    ).status == 200
    replay = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code}
    )
    assert replay.status == 401 and "Set-Cookie" not in replay.headers


@pytest.mark.parametrize("code", ["12345", "1234567", "12 345", "abcdef", "١٢٣٤٥٦"])
async def test_malformed_codes_are_refused(
    make_client: MakeClient, enrolled: FrozenClock, code: str
) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code}
    )
    assert response.status == 401


async def test_basic_needs_x_cpanel_otp(make_client: MakeClient, enrolled: FrozenClock) -> None:
    client = await make_client(Service.CPANEL)
    missing = await client.get(INFO, headers=BOB_AUTH)
    assert missing.status == 403
    assert json.loads(await missing.read()) == TWO_FACTOR_FAILED_BODY
    wrong_password = await client.get(
        INFO, headers={**basic("bob", "nope-nope"), "X-CPANEL-OTP": code_at(enrolled)}
    )
    assert json.loads(await wrong_password.read()) == ACCESS_DENIED_BODY  # no 2FA hint
    code = code_at(enrolled)
    for _ in range(3):  # a script may send the same code with many calls in one step
        ok = await client.get(INFO, headers={**BOB_AUTH, "X-CPANEL-OTP": code})
        assert ok.status == 200
    # but the same code cannot open a session
    login = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code}
    )
    assert login.status == 401


async def test_header_code_from_another_address_is_a_replay(
    server_state: ServerState, enrolled: FrozenClock
) -> None:
    two_factor = server_state.runtime.two_factor
    code = code_at(enrolled)
    await two_factor.check("bob", code, context="header", address="192.0.2.1")
    await two_factor.check("bob", code, context="header", address="192.0.2.1")
    from panelauth.errors import TwoFactorFailed

    with pytest.raises(TwoFactorFailed) as refused:
        await two_factor.check("bob", code, context="header", address="192.0.2.2")
    assert refused.value.detail == "2fa code reused"


async def test_tokens_are_exempt_and_flags_in_requests_do_nothing(
    make_client: MakeClient, server_state: ServerState, enrolled: FrozenClock
) -> None:
    from panelauth.api.registry import Api
    from panelauth.core.models import CredentialKind, Identity, IdentityKind
    from panelauth.protocol.params import Params

    answer = await server_state.dispatcher.cpanel(
        Api.UAPI,
        Identity("bob", IdentityKind.CPANEL, CredentialKind.LOCAL, "bob"),
        Service.CPANEL,
        "Tokens",
        "create_full_access",
        Params([("name", "ci")]),
        client_address="127.0.0.1",
    )
    token = answer.data["token"]
    client = await make_client(Service.CPANEL)
    with_token = await client.get(INFO, headers={"Authorization": f"cpanel bob:{token}"})
    assert with_token.status == 200
    forged = await client.get(
        INFO + "?tfa_verified=1",
        headers={**BOB_AUTH, "X-Tfa-Verified": "1", "Cookie": "tfa_verified=1"},
    )
    assert forged.status == 403


async def test_five_wrong_codes_lock_the_second_factor(
    make_client: MakeClient, enrolled: FrozenClock
) -> None:
    client = await make_client(Service.CPANEL)
    for _ in range(5):
        await client.get(INFO, headers={**BOB_AUTH, "X-CPANEL-OTP": "000000"})
    locked = await client.get(INFO, headers={**BOB_AUTH, "X-CPANEL-OTP": code_at(enrolled)})
    assert locked.status == 403
    enrolled.advance(15 * 60 + 1)
    free = await client.get(INFO, headers={**BOB_AUTH, "X-CPANEL-OTP": code_at(enrolled)})
    assert free.status == 200


async def test_a_broken_secret_fails_closed(
    make_client: MakeClient, server_state: ServerState, enrolled: FrozenClock
) -> None:
    store = server_state.runtime.store
    sealed = await store.get_tfa_secret("bob")
    assert sealed is not None
    assert isinstance(store, SqliteStore)
    db = store._db  # simulate on-disk corruption of the sealed secret
    db.execute("UPDATE tfa_configs SET sealed_secret = ? WHERE user = 'bob'", (b"x" * len(sealed),))
    client = await make_client(Service.CPANEL)
    response = await client.get(INFO, headers={**BOB_AUTH, "X-CPANEL-OTP": code_at(enrolled)})
    assert response.status == 403
    login = await client.post(
        "/login/?login_only=1",
        data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": code_at(enrolled)},
    )
    assert login.status == 401


async def test_policy_switched_off_stops_asking(
    make_client: MakeClient, server_state: ServerState, enrolled: FrozenClock
) -> None:
    await server_state.runtime.two_factor.set_policy(False)
    client = await make_client(Service.CPANEL)
    assert (await client.get(INFO, headers=BOB_AUTH)).status == 200
