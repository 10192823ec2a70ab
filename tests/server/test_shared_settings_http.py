"""The shared decision settings over HTTP: `set_tweaksetting` changes what the plain port
accepts, and two nodes on one store (two ServerStates in one process, each with its own view)
decide alike within a second of a change made on either.

`requiressl=0` lets the plain port take a token, never a password: Basic stays refused there
whatever the setting (w§1.2; docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from panelauth.clock import Clock, FrozenClock, SystemClock
from panelauth.core.settings import Settings
from panelauth.protocol.services import Listener, Service
from panelauth.server.datadir import DataDir, initialise, settings_template
from panelauth.server.gateway import Gateway
from panelauth.server.state import ServerState, build_state
from tests.backends.conftest import postgresql_schema, postgresql_server, postgresql_store_url
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import ROOT_AUTH, MakeClient
from tests.server.sessions_helpers import login
from tests.server.test_tokens_http import access_hash, whm_token

Client = TestClient[web.Request, None]
VERSION = "/json-api/version?api.version=1"
INFO = "/execute/Variables/get_user_information"
SSL_REQUIRED = "SSL is required"
# the PostgreSQL fixtures of the store tests: a fresh schema on the test server
__all__ = ["postgresql_schema", "postgresql_server", "postgresql_store_url"]


async def client_of(state: ServerState, service: Service, *, tls: bool) -> Client:
    port = service.tls_port if tls else service.plain_port
    client: Client = TestClient(RawTestServer(Gateway(Listener(service, tls, port), state)))
    await client.start_server()
    return client


@pytest.fixture
async def other_node(
    server_state: ServerState, tmp_path: Path, clock: FrozenClock, settings: Settings
) -> AsyncIterator[ServerState]:
    """A second node on the first one's store: its own worker state and view (same clock)."""
    state = await build_state(DataDir(tmp_path / "data"), settings, clock)
    yield state
    await state.aclose()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    made: list[Client] = []

    async def make(state: ServerState, service: Service = Service.WHM, *, tls: bool) -> Client:
        client = await client_of(state, service, tls=tls)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def tweak(client: Client, key: str, value: str, headers: dict[str, str]) -> None:
    """`set_tweaksetting` over HTTP; it must succeed."""
    response = await client.get(
        f"/json-api/set_tweaksetting?api.version=1&key={key}&value={value}", headers=headers
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body == {
        "metadata": {"command": "set_tweaksetting", "reason": "OK", "result": 1, "version": 1}
    }


async def status_and_reason(client: Client, headers: dict[str, str]) -> tuple[int, str]:
    response = await client.get(VERSION, headers=headers)
    body = await response.json()
    return response.status, str(body.get("metadata", {}).get("reason", ""))


# -- one node ------------------------------------------------------------------------------------


async def test_requiressl_switches_the_plain_port_for_tokens_never_for_passwords(
    make_client: MakeClient, server_state: ServerState
) -> None:
    token = {"Authorization": f"whm root:{await whm_token(server_state)}"}
    tls = await make_client(Service.WHM)
    plain = await make_client(Service.WHM, tls=False)
    status, reason = await status_and_reason(plain, token)
    assert (status, reason[: len(SSL_REQUIRED)]) == (403, SSL_REQUIRED)

    await tweak(tls, "requiressl", "0", ROOT_AUTH)
    assert (await plain.get(VERSION, headers=token)).status == 200  # this node: at once
    status, reason = await status_and_reason(plain, ROOT_AUTH)
    assert (status, reason[: len(SSL_REQUIRED)]) == (403, SSL_REQUIRED)  # a password: never

    # turning it on over the plain port is allowed: this request is answered, the next refused
    await tweak(plain, "requiressl", "1", token)
    status, reason = await status_and_reason(plain, token)
    assert (status, reason[: len(SSL_REQUIRED)]) == (403, SSL_REQUIRED)
    # the TLS port authenticates whatever requiressl says: root is never locked out
    assert (await tls.get(VERSION, headers=ROOT_AUTH)).status == 200
    assert (await tls.get(VERSION, headers=token)).status == 200


async def test_log_successful_logins_is_read_per_request(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    tls = await make_client(Service.WHM)
    assert (await tls.get(VERSION, headers=ROOT_AUTH)).status == 200
    successes = (logs / "login_log").read_text().count("SUCCESS")
    assert successes >= 1
    await tweak(tls, "log_successful_logins", "0", ROOT_AUTH)  # its own SUCCESS line is written
    after_change = (logs / "login_log").read_text().count("SUCCESS")
    assert (await tls.get(VERSION, headers=ROOT_AUTH)).status == 200
    assert (logs / "login_log").read_text().count("SUCCESS") == after_change


# -- two nodes on one store ------------------------------------------------------------------------


async def test_requiressl_changed_on_one_node_applies_on_the_other_within_a_second(
    server_state: ServerState,
    other_node: ServerState,
    clock: FrozenClock,
    clients: Callable[..., Awaitable[Client]],
) -> None:
    token = {"Authorization": f"whm root:{await whm_token(server_state)}"}
    a_tls = await clients(server_state, tls=True)
    b_plain = await clients(other_node, tls=False)
    assert (await b_plain.get(VERSION, headers=token)).status == 403

    await tweak(a_tls, "requiressl", "0", ROOT_AUTH)
    clock.advance(0.5)
    assert (await b_plain.get(VERSION, headers=token)).status == 403  # B read it 0.5 s ago
    clock.advance(0.5)
    assert (await b_plain.get(VERSION, headers=token)).status == 200  # 1 s: B re-reads
    status, _ = await status_and_reason(b_plain, ROOT_AUTH)
    assert status == 403  # a password never, on any node

    await tweak(a_tls, "requiressl", "1", ROOT_AUTH)
    assert (await b_plain.get(VERSION, headers=token)).status == 200  # until B's next read
    clock.advance(1)
    status, reason = await status_and_reason(b_plain, token)
    assert (status, reason[: len(SSL_REQUIRED)]) == (403, SSL_REQUIRED)


async def test_the_access_hash_switch_reaches_the_other_node_within_a_second(
    server_state: ServerState,
    other_node: ServerState,
    clock: FrozenClock,
    clients: Callable[..., Awaitable[Client]],
) -> None:
    hash_header = {"Authorization": f"WHM root:{await access_hash(server_state)}"}
    b_tls = await clients(other_node, tls=True)
    a_tls = await clients(server_state, tls=True)
    assert (await b_tls.get(VERSION, headers=hash_header)).status == 200
    await tweak(a_tls, "allow_deprecated_accesshash", "0", ROOT_AUTH)
    assert (await a_tls.get(VERSION, headers=hash_header)).status == 403  # A: at once
    clock.advance(1)
    assert (await b_tls.get(VERSION, headers=hash_header)).status == 403  # B: within 1 s


async def test_session_rules_changed_on_one_node_apply_on_the_other(
    server_state: ServerState,
    other_node: ServerState,
    clock: FrozenClock,
    clients: Callable[..., Awaitable[Client]],
) -> None:
    b_cpanel = await clients(other_node, Service.CPANEL, tls=True)
    a_whm = await clients(server_state, tls=True)
    browser = await login(b_cpanel, "bob", BOB_PASSWORD)
    assert (await b_cpanel.get(browser.token + INFO, headers=browser.headers)).status == 200
    await tweak(a_whm, "panelauth_session_idle_seconds", "60", ROOT_AUTH)
    clock.advance(61)  # idle past the new limit, and B's view is more than 1 s old
    refused = await b_cpanel.get(browser.token + INFO, headers=browser.headers)
    assert refused.status != 200
    # the per-user cap, set on A, ends B's oldest session at B's next login
    await tweak(a_whm, "panelauth_session_idle_seconds", "1800", ROOT_AUTH)
    await tweak(a_whm, "panelauth_max_sessions_per_user", "1", ROOT_AUTH)
    clock.advance(1)
    first = await login(b_cpanel, "bob", BOB_PASSWORD)
    second = await login(b_cpanel, "bob", BOB_PASSWORD)
    assert (await b_cpanel.get(first.token + INFO, headers=first.headers)).status != 200
    assert (await b_cpanel.get(second.token + INFO, headers=second.headers)).status == 200


async def test_with_a_real_clock_the_other_node_follows_within_about_a_second(
    tmp_path: Path, settings: Settings
) -> None:
    clock: Clock = SystemClock()
    data_dir = DataDir(tmp_path / "data")
    data_dir.root.mkdir()
    data_dir.config.write_text("argon2: {time_cost: 1, memory_cost_kib: 256, parallelism: 1}\n")
    await initialise(data_dir, clock, root_password=ROOT_PASSWORD)
    a = await build_state(data_dir, settings, clock)
    b = await build_state(data_dir, settings, clock)
    a_tls = await client_of(a, Service.WHM, tls=True)
    b_plain = await client_of(b, Service.WHM, tls=False)
    try:
        token = {"Authorization": f"whm root:{await whm_token(a)}"}
        await tweak(a_tls, "requiressl", "0", ROOT_AUTH)
        changed = time.monotonic()
        while (await b_plain.get(VERSION, headers=token)).status != 200:
            assert time.monotonic() - changed < 1.5, "the other node did not follow"
            await asyncio.sleep(0.05)
        assert time.monotonic() - changed <= 1.2
    finally:
        for client in (a_tls, b_plain):
            await client.close()
        await a.aclose()
        await b.aclose()


# -- init: the first node seeds, a later one that disagrees is warned --------------------------


async def test_init_seeds_the_store_and_warns_a_later_node_that_disagrees(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    cheap = "argon2: {time_cost: 1, memory_cost_kib: 256, parallelism: 1}\n"
    first = DataDir(tmp_path / "first")
    first.root.mkdir()
    first.config.write_text(cheap + "require_ssl: false\nsession_idle_seconds: 900\n")
    clock = FrozenClock()
    result = await initialise(first, clock, root_password=ROOT_PASSWORD)
    assert result.warnings == []

    store_url = f"sqlite://{first.database.resolve()}"
    later = DataDir(tmp_path / "later", store_option=store_url)
    later.root.mkdir(mode=0o700)
    later.config.write_text(cheap + "require_ssl: true\ncookie_ip_validation: loose\n")
    shutil.copy(first.root / "tfa.key", later.root / "tfa.key")
    with caplog.at_level(logging.WARNING, logger="panelauth.server.datadir"):
        result = await initialise(later, clock, root_password=ROOT_PASSWORD)
    # require_ssl differs from the store's (the first node's); cookie_ip_validation is the
    # default the first node seeded, so it differs too; session_idle_seconds is not named
    assert len(result.warnings) == 2
    ssl = next(w for w in result.warnings if "require_ssl" in w)
    assert "require_ssl: true" in ssl and "requiressl=0" in ssl
    assert "the store's value applies" in ssl
    assert "panelauth whmapi1 set_tweaksetting key=requiressl value=1" in ssl
    assert ssl in caplog.text

    state = await build_state(later, later.load_settings(), clock)
    try:
        shared = state.shared.value
        assert shared.require_ssl is False  # the store's, not this node's yaml
        assert shared.session_idle_seconds == 900.0  # seeded by the first node
        assert shared.cookie_ip_validation == "strict"
    finally:
        await state.aclose()


def test_the_settings_file_says_which_settings_are_shared() -> None:
    text = settings_template()
    note = "# (shared by every node: the first `init` copies it into the store"
    assert text.count(note) == 8
    assert "set_tweaksetting key=panelauth_tfa_window_steps value=...`)\n" in text


async def test_two_nodes_on_one_postgresql_store_follow_each_other(
    tmp_path: Path, settings: Settings, postgresql_store_url: str
) -> None:
    """As deployed: each node its own data directory, one PostgreSQL store, the real clock."""
    clock: Clock = SystemClock()
    cheap = "argon2: {time_cost: 1, memory_cost_kib: 256, parallelism: 1}\n"
    nodes = [DataDir(tmp_path / name, store_option=postgresql_store_url) for name in "ab"]
    for data_dir in nodes:
        data_dir.root.mkdir(mode=0o700)
        data_dir.config.write_text(cheap)
    await initialise(nodes[0], clock, root_password=ROOT_PASSWORD)
    shutil.copy(nodes[0].root / "tfa.key", nodes[1].root / "tfa.key")
    await initialise(nodes[1], clock, root_password=ROOT_PASSWORD)
    a = await build_state(nodes[0], settings, clock)
    b = await build_state(nodes[1], settings, clock)
    a_tls = await client_of(a, Service.WHM, tls=True)
    b_tls = await client_of(b, Service.WHM, tls=True)
    try:
        hash_header = {"Authorization": f"WHM root:{await access_hash(a)}"}
        assert (await b_tls.get(VERSION, headers=hash_header)).status == 200
        await tweak(a_tls, "allow_deprecated_accesshash", "0", ROOT_AUTH)
        changed = time.monotonic()
        while (await b_tls.get(VERSION, headers=hash_header)).status == 200:
            assert time.monotonic() - changed < 1.5, "the other node did not follow"
            await asyncio.sleep(0.05)
        assert time.monotonic() - changed <= 1.2
        response = await b_tls.get(
            "/json-api/get_tweaksetting?api.version=1&key=allow_deprecated_accesshash",
            headers=ROOT_AUTH,
        )
        assert (await response.json())["data"]["tweaksetting"]["value"] == "0"
    finally:
        for client in (a_tls, b_tls):
            await client.close()
        await a.aclose()
        await b.aclose()
