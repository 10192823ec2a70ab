"""Brute-force protection on the wire (w§19, BF-1..BF-10): what a user and an operator rely on.

The server trusts X-Forwarded-For from the test client's own peer (127.0.0.1), so each request
can come "from" the address it names (w§1.5); one test runs without a trusted proxy to show that
a forged header then changes nothing. Defaults (w§19.1): 5 failures per address in 15 minutes
block it for 15 minutes; 15 per account in 5 minutes lock its password and code logins.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import RawTestServer, TestClient

from panelauth.clock import FrozenClock
from panelauth.core.bruteforce import BLOCKED, BruteForceGuard
from panelauth.core.bruteforce_admin import BruteForceAdmin
from panelauth.core.hulk import ListName, Method
from panelauth.core.passwords import HashingPool, VerifiedPassword
from panelauth.core.settings import Settings
from panelauth.errors import AuthenticationFailed
from panelauth.protocol.envelopes import ACCESS_DENIED_BODY
from panelauth.protocol.logformat import parse_login_line
from panelauth.protocol.services import Listener, Service
from panelauth.secret import Secret
from panelauth.server.datadir import DataDir
from panelauth.server.gateway import Gateway
from panelauth.server.protocol_errors import CalmServer
from panelauth.server.state import ServerState, build_state
from tests.conftest import BOB_PASSWORD, CHEAP_ARGON2
from tests.server.conftest import BOB_AUTH, ROOT_AUTH, basic, state_with_bob
from tests.server.test_tokens_http import cpanel_token, whm_token

Client = TestClient[web.Request, None]
Answer = tuple[int, str, str, bytes]  # status, reason, Content-Type, body

INFO = "/execute/Variables/get_user_information"  # cPanel, any cPanel identity
VERSION = "/json-api/version?api.version=1"  # WHM
LOGIN = "/login/?login_only=1"
WRONG = "wrong-Passw0rd!"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PEER = ipaddress.ip_network("127.0.0.1/32")  # the test client's address
BY_ADDRESS = 5  # max_failures_byip
BY_ACCOUNT = 15  # max_failures
BLOCK_SECONDS = 15 * 60  # an address block and an account lock


@pytest.fixture
def settings() -> Settings:
    return Settings(hostname="panel.example.test", argon2=CHEAP_ARGON2, trusted_proxies=(PEER,))


def via(address: str, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """`headers`, sent as if from `address` (through the trusted proxy)."""
    return {**(headers or {}), "X-Forwarded-For": address}


async def answer(response: ClientResponse) -> Answer:
    return (
        response.status,
        response.reason or "",
        response.headers.get("Content-Type", ""),
        await response.read(),
    )


def failed(logs: Path, address: str | None = None) -> list[str | None]:
    """The reasons of login_log's FAILED lines (for `address` only, if given), in order."""
    path = logs / "login_log"
    if not path.exists():
        return []
    reasons = []
    for line in path.read_text().splitlines():
        fields = parse_login_line(line)
        assert fields is not None, f"not a login_log line: {line!r}"
        if fields["outcome"] == "FAILED" and address in (None, fields["address"]):
            reasons.append(fields["reason"])
    return reasons


async def form_login(client: Client, address: str, user: str, password: str) -> Answer:
    response = await client.post(LOGIN, data={"user": user, "pass": password}, headers=via(address))
    return await answer(response)


async def enrol_bob(state: ServerState, clock: FrozenClock) -> None:
    """bob has two-factor with SECRET; the clock moved one step past enrolment."""
    code = pyotp.TOTP(SECRET).at(clock.now())
    await state.runtime.two_factor.enrol("bob", SECRET, code, address="127.0.0.1")
    clock.advance(30)


def wrong_code(clock: FrozenClock) -> str:
    right = {pyotp.TOTP(SECRET).at(clock.now() + step * 30) for step in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222") if code not in right)


class CalmTestServer(RawTestServer):
    """RawTestServer with the real listener's parser (CalmServer: 64 KiB header lines)."""

    async def _make_runner(self, debug: bool = True, **kwargs: Any) -> web.ServerRunner:
        server = CalmServer(self._handler, loop=self._loop, debug=debug, **kwargs)
        return web.ServerRunner(server, debug=debug, **kwargs)


async def client_for(state: ServerState, service: Service) -> Client:
    """A client of `state`'s gateway, parsing like the real listener (server/listeners.py)."""
    server = CalmTestServer(Gateway(Listener(service, True, service.tls_port), state))
    client: Client = TestClient(server)
    await client.start_server()
    return client


@pytest.fixture
async def clients(server_state: ServerState) -> AsyncIterator[dict[Service, Client]]:
    """One client per TLS service of `server_state`, with the real listener's header limits."""
    made = {service: await client_for(server_state, service) for service in Service}
    yield made
    for client in made.values():
        await client.close()


# -- 1. a block answers like a wrong password, and ends ---------------------------------------


async def test_a_blocked_right_password_gets_exactly_the_wrong_password_answer(
    clients: dict[Service, Client], logs: Path, clock: FrozenClock
) -> None:
    client, attacker = clients[Service.CPANEL], "203.0.113.10"
    wrong = via(attacker, basic("bob", WRONG))
    first = await answer(await client.get(INFO, headers=wrong))
    assert first[0] == 403 and json.loads(first[3]) == ACCESS_DENIED_BODY
    for _ in range(49):
        assert await answer(await client.get(INFO, headers=wrong)) == first
    right = await answer(await client.get(INFO, headers=via(attacker, BOB_AUTH)))
    assert right == first  # same status, reason, type and bytes: nothing to tell them apart
    reasons = failed(logs, attacker)
    assert reasons == ["user password incorrect"] * BY_ADDRESS + [BLOCKED] * (51 - BY_ADDRESS)
    # the address is blocked, not the account: bob still works from elsewhere
    assert (await client.get(INFO, headers=via("198.51.100.20", BOB_AUTH))).status == 200
    clock.advance(BLOCK_SECONDS - 1)
    assert await answer(await client.get(INFO, headers=via(attacker, BOB_AUTH))) == first
    clock.advance(2)
    assert (await client.get(INFO, headers=via(attacker, BOB_AUTH))).status == 200


# -- 2. unknown names (BF-8) --------------------------------------------------------------------


async def _lock_scenario(client: Client, user: str, net: str) -> list[Answer]:
    """The answers to wrong passwords for `user` from addresses `net`.1..: 6 from one address
    (blocked after 5), 3 from each of three more, one from a fifth (the 15th failure: the
    account locks), one from a fresh sixth address."""
    plan = [1] * 6 + [2, 2, 2, 3, 3, 3, 4, 4, 4] + [5, 6]
    seen = []
    for host in plan:
        response = await client.get(INFO, headers=via(f"{net}.{host}", basic(user, WRONG)))
        seen.append(await answer(response))
    return seen


async def test_unknown_user_names_are_blocked_and_locked_exactly_like_real_ones(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    client = clients[Service.CPANEL]
    real = await _lock_scenario(client, "bob", "198.51.100")
    real_reasons = failed(logs)
    unknown = await _lock_scenario(client, "nobody-here", "203.0.113")
    unknown_reasons = failed(logs)[len(real_reasons) :]
    assert real == unknown
    blocked_real = [reason == BLOCKED for reason in real_reasons]
    blocked_unknown = [reason == BLOCKED for reason in unknown_reasons]
    assert blocked_real == blocked_unknown
    assert blocked_real == [False] * 5 + [True] + [False] * 10 + [True]
    blocks = await BruteForceAdmin(server_state.runtime.store, clock).blocks()
    locked = sorted(block.shown for block in blocks if block.kind == "user")
    assert locked == ["bob", "nobody-here"]
    # the lock holds from a fresh address for either name
    for user in ("bob", "nobody-here"):
        response = await client.get(INFO, headers=via("192.0.2.77", basic(user, WRONG)))
        assert await answer(response) == real[0]
    assert failed(logs, "192.0.2.77") == [BLOCKED, BLOCKED]


# -- 3. guessed tokens (TK-6) -----------------------------------------------------------------


async def test_guessed_root_tokens_block_the_address_and_even_a_valid_token(
    clients: dict[Service, Client], logs: Path, server_state: ServerState
) -> None:
    token = await whm_token(server_state)
    client, attacker = clients[Service.WHM], "203.0.113.30"
    for _ in range(1000):
        guess = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
        response = await client.get(
            VERSION, headers=via(attacker, {"Authorization": f"whm root:{guess}"})
        )
        assert response.status == 403
    reasons = failed(logs, attacker)
    assert len(reasons) == 1000
    # root's guessed tokens are tried as the access hash, the last resort (w§2.3)
    assert reasons[:BY_ADDRESS] == ["access hash incorrect"] * BY_ADDRESS
    assert reasons[BY_ADDRESS:] == [BLOCKED] * (1000 - BY_ADDRESS)
    valid = {"Authorization": f"whm root:{token}"}
    refused = await client.get(VERSION, headers=via(attacker, valid))
    assert refused.status == 403 and json.loads(await refused.read()) == ACCESS_DENIED_BODY
    assert failed(logs, attacker)[-1] == BLOCKED
    assert (await client.get(VERSION, headers=via("198.51.100.30", valid))).status == 200
    assert (await client.get(VERSION, headers=valid)).status == 200  # the peer itself


# -- 4. an account lock stops passwords, not tokens --------------------------------------------


async def test_an_account_lock_stops_passwords_from_anywhere_but_not_tokens(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    token = await cpanel_token(server_state)
    client = clients[Service.CPANEL]
    for host in range(1, 6):  # 3 each from 5 addresses: none of them is blocked
        for _ in range(3):
            response = await client.get(
                INFO, headers=via(f"198.51.100.{host}", basic("bob", WRONG))
            )
            assert response.status == 403
    assert BLOCKED not in failed(logs)
    fresh = "192.0.2.40"
    assert (await client.get(INFO, headers=via(fresh, BOB_AUTH))).status == 403
    assert (await form_login(client, fresh, "bob", BOB_PASSWORD))[0] == 401
    assert failed(logs, fresh) == [BLOCKED, BLOCKED]
    # the address is not blocked (other accounts log in) and bob's token still works (w§19.2)
    bearer = {"Authorization": f"cpanel bob:{token}"}
    assert (await client.get(INFO, headers=via(fresh, bearer))).status == 200
    assert (await client.get(INFO, headers=via("198.51.100.1", bearer))).status == 200
    whm = clients[Service.WHM]
    assert (await whm.get(VERSION, headers=via(fresh, ROOT_AUTH))).status == 200
    # locks are temporary (BF-5)
    clock.advance(BLOCK_SECONDS + 1)
    assert (await client.get(INFO, headers=via(fresh, BOB_AUTH))).status == 200


# -- 5. parallel guesses (BF-4) -----------------------------------------------------------------


@pytest.mark.parametrize("users", ["one", "many"])
async def test_parallel_wrong_passwords_get_at_most_the_limit_of_verifications(
    clients: dict[Service, Client],
    logs: Path,
    server_state: ServerState,
    monkeypatch: pytest.MonkeyPatch,
    users: str,
) -> None:
    pool: HashingPool = server_state.runtime.passwords
    original = pool.verify
    verifications = 0

    async def counting(stored_hash: str | None, password: Secret) -> VerifiedPassword:
        nonlocal verifications
        verifications += 1
        return await original(stored_hash, password)

    monkeypatch.setattr(pool, "verify", counting)  # the pool BasicAuthenticator hashes with
    client, attacker = clients[Service.CPANEL], "203.0.113.50"

    async def attempt(number: int) -> int:
        user = "bob" if users == "one" else f"guess{number}"
        response = await client.get(INFO, headers=via(attacker, basic(user, f"{WRONG}{number}")))
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(attempt(number) for number in range(200)))
    assert statuses == [403] * 200
    # w§19.4: a password attempt is recorded before its hash is verified, so 200 parallel
    # guesses get exactly the limit of verifications: no slack within one worker
    assert verifications == BY_ADDRESS, verifications
    reasons = failed(logs, attacker)
    assert len(reasons) == 200
    assert reasons.count(BLOCKED) == 200 - verifications


# -- 6. allow and deny lists (BF-5) -------------------------------------------------------------


async def test_an_allow_listed_address_is_never_blocked_and_allow_listing_unblocks(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    admin = BruteForceAdmin(server_state.runtime.store, clock)
    client, office = clients[Service.CPANEL], "198.51.100.7"
    await admin.add(ListName.WHITE, [("198.51.100.0/24", "office")])
    for _ in range(50):
        assert (await client.get(INFO, headers=via(office, basic("bob", WRONG)))).status == 403
    assert failed(logs, office) == ["user password incorrect"] * 50
    assert (await client.get(INFO, headers=via(office, BOB_AUTH))).status == 200
    assert await admin.blocks() == [] and await admin.history() == []  # nothing recorded
    # a blocked address that is then allow-listed loses its history: removing the entry
    # again does not bring the block back
    blocked = "203.0.113.60"
    for _ in range(BY_ADDRESS):
        await client.get(INFO, headers=via(blocked, basic("bob", WRONG)))
    assert (await client.get(INFO, headers=via(blocked, BOB_AUTH))).status == 403
    assert failed(logs, blocked)[-1] == BLOCKED
    change = await admin.add(ListName.WHITE, [("203.0.113.0/24", "")])
    assert change.records_removed > 0
    assert (await client.get(INFO, headers=via(blocked, BOB_AUTH))).status == 200
    await admin.remove(ListName.WHITE, ["203.0.113.0/24"])
    assert await admin.blocks() == []
    assert (await client.get(INFO, headers=via(blocked, BOB_AUTH))).status == 200


async def test_a_deny_listed_address_is_refused_even_with_valid_credentials(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    token = await whm_token(server_state)
    await BruteForceAdmin(server_state.runtime.store, clock).add(
        ListName.BLACK, [("192.0.2.66", "")]
    )
    cpanel, whm, denied = clients[Service.CPANEL], clients[Service.WHM], "192.0.2.66"
    wrong = await answer(await cpanel.get(INFO, headers=via("198.51.100.66", basic("bob", WRONG))))
    assert await answer(await cpanel.get(INFO, headers=via(denied, BOB_AUTH))) == wrong
    token_answer = await answer(
        await whm.get(VERSION, headers=via(denied, {"Authorization": f"whm root:{token}"}))
    )
    assert token_answer[0] == 403 and json.loads(token_answer[3]) == ACCESS_DENIED_BODY
    assert (await whm.get(VERSION, headers=via(denied, ROOT_AUTH))).status == 403
    form_wrong = await form_login(cpanel, "198.51.100.66", "bob", WRONG)
    assert await form_login(cpanel, denied, "bob", BOB_PASSWORD) == form_wrong
    assert failed(logs, denied) == [BLOCKED] * 4
    # the same credentials work from anywhere else
    assert (await whm.get(VERSION, headers=via("198.51.100.67", ROOT_AUTH))).status == 200


# -- 7. root is not locked out where it logs in from (BF-5) ------------------------------------


async def test_root_keeps_the_address_it_logged_in_from(
    clients: dict[Service, Client], logs: Path
) -> None:
    cpanel, whm = clients[Service.CPANEL], clients[Service.WHM]
    home, elsewhere = "198.51.100.70", "203.0.113.70"
    assert (await whm.get(VERSION, headers=via(home, ROOT_AUTH))).status == 200
    for address in (home, elsewhere):
        for _ in range(BY_ADDRESS):
            await cpanel.get(INFO, headers=via(address, basic("bob", WRONG)))
        assert (await cpanel.get(INFO, headers=via(address, BOB_AUTH))).status == 403
        assert failed(logs, address)[-1] == BLOCKED
    assert (await whm.get(VERSION, headers=via(home, ROOT_AUTH))).status == 200
    assert (await whm.get(VERSION, headers=via(elsewhere, ROOT_AUTH))).status == 403
    assert failed(logs, elsewhere)[-1] == BLOCKED
    # not even root's own wrong passwords lock root out of its address
    for _ in range(20):
        assert (await whm.get(VERSION, headers=via(home, basic("root", WRONG)))).status == 403
    assert (await whm.get(VERSION, headers=via(home, ROOT_AUTH))).status == 200
    assert BLOCKED not in failed(logs, home)[-20:]


# -- 8. one counter for every pathway (BF-1) ---------------------------------------------------


async def test_form_logins_and_wrong_codes_count_with_basic_in_one_counter(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    await enrol_bob(server_state, clock)
    cpanel, whm, attacker = clients[Service.CPANEL], clients[Service.WHM], "203.0.113.80"
    assert (await cpanel.get(INFO, headers=via(attacker, basic("bob", WRONG)))).status == 403
    assert (await form_login(cpanel, attacker, "bob", WRONG))[0] == 401
    assert (await form_login(cpanel, attacker, "nobody-here", WRONG))[0] == 401
    otp = via(attacker, {**BOB_AUTH, "X-CPANEL-OTP": wrong_code(clock)})
    assert (await cpanel.get(INFO, headers=otp)).status == 403
    assert failed(logs, attacker) == [
        "user password incorrect",
        "user password incorrect",
        "user name not provided or invalid user",
        "2fa code incorrect",
    ]
    # the fifth failure, by form: the address is blocked for every pathway
    form_wrong = await form_login(cpanel, "198.51.100.80", "bob", WRONG)
    assert form_wrong[0] == 401
    assert await form_login(cpanel, attacker, "bob", WRONG) == form_wrong
    assert await form_login(cpanel, attacker, "bob", BOB_PASSWORD) == form_wrong
    assert (await whm.get(VERSION, headers=via(attacker, ROOT_AUTH))).status == 403
    assert failed(logs, attacker)[4:] == ["user password incorrect", BLOCKED, BLOCKED]


async def test_wrong_codes_with_the_right_password_on_the_login_form_are_counted(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    """A guesser who has the password cannot reset the count with it: a code attempt through
    the login form counts like one by header (w§19.2)."""
    await enrol_bob(server_state, clock)
    cpanel, whm, attacker = clients[Service.CPANEL], clients[Service.WHM], "203.0.113.81"
    for _ in range(BY_ADDRESS):
        response = await cpanel.post(
            LOGIN,
            data={"user": "bob", "pass": BOB_PASSWORD, "tfa_token": wrong_code(clock)},
            headers=via(attacker),
        )
        assert response.status == 401
    assert (await whm.get(VERSION, headers=via(attacker, ROOT_AUTH))).status == 403
    assert failed(logs, attacker)[-1] == BLOCKED


# -- 9. what is no guess is not counted (BF-7) --------------------------------------------------


async def test_refusals_that_are_no_guess_never_block(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    cpanel, whm, address = clients[Service.CPANEL], clients[Service.WHM], "203.0.113.90"
    token = await whm_token(server_state, whitelist_ip="192.0.2.0/24")
    for _ in range(20):
        response = await whm.get(
            VERSION, headers=via(address, {"Authorization": f"whm root:{token}"})
        )
        assert response.status == 403
    await enrol_bob(server_state, clock)
    for _ in range(20):  # the right password without its code
        assert (await cpanel.get(INFO, headers=via(address, BOB_AUTH))).status == 403
    await server_state.runtime.store.set_suspended("bob", True, "test")
    for _ in range(20):  # a suspended account's right password
        assert (await cpanel.get(INFO, headers=via(address, BOB_AUTH))).status == 403
    assert failed(logs, address) == (
        ["api token not allowed from this address"] * 20
        + ["2fa code missing"] * 20
        + ["account suspended"] * 20
    )
    admin = BruteForceAdmin(server_state.runtime.store, clock)
    assert await admin.history() == [] and await admin.blocks() == []
    assert (await whm.get(VERSION, headers=via(address, ROOT_AUTH))).status == 200


# -- 10. blocks live in the store (BF-9) ----------------------------------------------------------


async def test_a_block_survives_a_restart(
    clients: dict[Service, Client],
    logs: Path,
    server_state: ServerState,
    tmp_path: Path,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    attacker = "203.0.113.100"
    for host in range(1, 4):  # bob locked too: 5 + 5 + 5
        for _ in range(BY_ADDRESS):
            source = attacker if host == 1 else f"198.51.100.{host}"
            await clients[Service.CPANEL].get(INFO, headers=via(source, basic("bob", WRONG)))
    restarted = await build_state(DataDir(tmp_path / "data"), settings, clock)
    try:
        client = await client_for(restarted, Service.CPANEL)
        try:
            assert (await client.get(INFO, headers=via(attacker, BOB_AUTH))).status == 403
            assert (await client.get(INFO, headers=via("192.0.2.100", BOB_AUTH))).status == 403
            assert failed(logs)[-2:] == [BLOCKED, BLOCKED]
            guard = BruteForceGuard(restarted.runtime.store, clock)
            with pytest.raises(AuthenticationFailed) as refused:
                await guard.admit(attacker, "root", Method.PASSWORD)
            assert refused.value.detail == BLOCKED
            clock.advance(BLOCK_SECONDS + 1)
            assert (await client.get(INFO, headers=via(attacker, BOB_AUTH))).status == 200
        finally:
            await client.close()
    finally:
        await restarted.aclose()


# -- 11. bad input ------------------------------------------------------------------------------


async def test_forwarded_for_from_an_untrusted_peer_cannot_escape_a_block(
    tmp_path: Path, clock: FrozenClock
) -> None:
    (tmp_path / "untrusted").mkdir()
    plain = Settings(hostname="panel.example.test", argon2=CHEAP_ARGON2)  # no trusted proxy
    state = await state_with_bob(tmp_path / "untrusted", clock, plain)
    logs = tmp_path / "untrusted" / "data" / "logs"
    try:
        client = await client_for(state, Service.CPANEL)
        try:
            for number in range(BY_ADDRESS):
                forged = via(f"192.0.2.{number + 1}", basic("bob", WRONG))
                assert (await client.get(INFO, headers=forged)).status == 403
            for forged_for in ("192.0.2.200", "198.51.100.1, 203.0.113.9", "::1"):
                response = await client.get(INFO, headers=via(forged_for, BOB_AUTH))
                assert response.status == 403
            assert failed(logs) == ["user password incorrect"] * BY_ADDRESS + [BLOCKED] * 3
            assert failed(logs, "127.0.0.1") == failed(logs)  # every line names the peer
        finally:
            await client.close()
    finally:
        await state.aclose()


async def test_forged_hops_before_a_trusted_proxy_cannot_escape_a_block(
    clients: dict[Service, Client], logs: Path
) -> None:
    client, attacker = clients[Service.CPANEL], "203.0.113.110"
    for _ in range(BY_ADDRESS):
        await client.get(INFO, headers=via(attacker, basic("bob", WRONG)))
    # the proxy appends the real client: whatever the client wrote before it is not believed
    forged = via(f"198.51.100.1, {attacker}", BOB_AUTH)
    assert (await client.get(INFO, headers=forged)).status == 403
    assert failed(logs, attacker)[-1] == BLOCKED


async def test_a_very_long_user_name_is_answered_calmly_and_not_counted_as_a_guess(
    clients: dict[Service, Client], logs: Path, server_state: ServerState, clock: FrozenClock
) -> None:
    """10,000 characters get the answer of a wrong password (never a 500). Such a name is
    malformed (over 255 bytes) and refused before any credential is looked at, so it can guess
    nothing and is not counted (w§19.2: a malformed Authorization header is not counted)."""
    client, address = clients[Service.CPANEL], "203.0.113.120"
    long_name = "a" * 10_000
    wrong = await answer(await client.get(INFO, headers=via("198.51.100.120", basic("bob", WRONG))))
    form_wrong = await form_login(client, "198.51.100.120", "bob", WRONG)
    for _ in range(2 * BY_ADDRESS):
        header = await answer(await client.get(INFO, headers=via(address, basic(long_name, WRONG))))
        assert header == wrong  # 403 Access denied, never a 500
        assert await form_login(client, address, long_name, WRONG) == form_wrong
    reasons = failed(logs, address)
    assert len(reasons) == 4 * BY_ADDRESS
    assert set(reasons) <= {"authorization header too long", "user name too long"}
    # the longest name a header may carry is counted like any other (w§19.2)
    longest = "b" * 255
    for _ in range(BY_ADDRESS):
        await client.get(INFO, headers=via(address, basic(longest, WRONG)))
    assert (await client.get(INFO, headers=via(address, BOB_AUTH))).status == 403
    assert failed(logs, address)[-1] == BLOCKED
    history = await BruteForceAdmin(server_state.runtime.store, clock).history()
    assert {failure.user for failure in history if failure.address == address} == {longest}
