"""An in-process server: the real Gateway on aiohttp's test server, one per listener."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.settings import Settings
from panelauth.protocol.services import Listener, Service
from panelauth.server.datadir import DataDir, initialise
from panelauth.server.gateway import Gateway
from panelauth.server.state import ServerState, build_state
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD

MakeClient = Callable[..., Awaitable[TestClient[web.Request, None]]]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ROOT_AUTH = basic("root", ROOT_PASSWORD)
BOB_AUTH = basic("bob", BOB_PASSWORD)


async def state_with_bob(tmp_path: Path, clock: FrozenClock, settings: Settings) -> ServerState:
    """An initialised data directory in `tmp_path`, its state, and root's account `bob` with
    the mailbox info@bob.example; the caller closes it."""
    data_dir = DataDir(tmp_path / "data")
    data_dir.root.mkdir()
    data_dir.config.write_text("argon2: {time_cost: 1, memory_cost_kib: 256, parallelism: 1}\n")
    await initialise(data_dir, clock, root_password=ROOT_PASSWORD)
    state = await build_state(data_dir, settings, clock)
    runtime = state.runtime
    accounts = Accounts(runtime.store, runtime.passwords, clock)
    await accounts.create(user="bob", domain="bob.example", password=BOB_PASSWORD, owner="root")
    bob = await runtime.store.get_account("bob")
    assert bob is not None
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="info-Pw-1234", quota_mb=0
    )
    return state


@pytest.fixture
async def server_state(
    tmp_path: Path, clock: FrozenClock, settings: Settings
) -> AsyncIterator[ServerState]:
    state = await state_with_bob(tmp_path, clock, settings)
    yield state
    await state.aclose()


@pytest.fixture
def logs(server_state: ServerState, tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data" / "logs"


@pytest.fixture
async def make_client(server_state: ServerState) -> AsyncIterator[MakeClient]:
    clients: list[TestClient[web.Request, None]] = []

    async def make(
        service: Service = Service.WHM, *, tls: bool = True
    ) -> TestClient[web.Request, None]:
        port = service.tls_port if tls else service.plain_port
        server = RawTestServer(Gateway(Listener(service, tls, port), server_state))
        client: TestClient[web.Request, None] = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
