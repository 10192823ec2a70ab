"""The real Gateway on TLS test servers, and one adapter driving `Client` or `AsyncClient`."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import RawTestServer

from panelauth.client import AsyncClient, Client
from panelauth.client.auth import Auth
from panelauth.clock import FrozenClock
from panelauth.core.settings import Settings
from panelauth.protocol.services import Listener, Service
from panelauth.server.datadir import DataDir
from panelauth.server.gateway import Gateway
from panelauth.server.state import ServerState
from tests.server.conftest import state_with_bob

Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def server_state(
    tmp_path: Path, clock: FrozenClock, settings: Settings
) -> AsyncIterator[ServerState]:
    state = await state_with_bob(tmp_path, clock, settings)
    yield state
    await state.aclose()


@pytest.fixture
def cert(tmp_path: Path) -> Path:
    return DataDir(tmp_path / "data").cert


@pytest.fixture
async def serve(server_state: ServerState, tmp_path: Path) -> AsyncIterator[Serve]:
    """Start a listener of `service`; its base URL (https on 127.0.0.1 unless tls=False)."""
    servers: list[RawTestServer] = []
    data_dir = DataDir(tmp_path / "data")

    async def start(service: Service = Service.WHM, *, tls: bool = True) -> str:
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(data_dir.cert, data_dir.key)
        port = service.tls_port if tls else service.plain_port
        server = RawTestServer(
            Gateway(Listener(service, tls, port), server_state), host="127.0.0.1"
        )
        await server.start_server(ssl=context)
        servers.append(server)
        return f"{'https' if tls else 'http'}://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


class Either:
    """One client, sync (run in a thread, as a blocking program would) or async."""

    def __init__(self, sync: bool, base_url: str, auth: Auth, **options: Any) -> None:
        self.sync = sync
        self.client: Client | AsyncClient = (Client if sync else AsyncClient)(
            base_url, auth, **options
        )

    async def run(self, target: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(target, name)
        if self.sync:
            return await asyncio.to_thread(method, *args, **kwargs)
        return await method(*args, **kwargs)

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self.run(self.client, name, *args, **kwargs)

    async def as_user(self, user: str, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self.run(self.client.cpanel_as(user), name, *args, **kwargs)

    async def close(self) -> None:
        if isinstance(self.client, Client):
            await asyncio.to_thread(self.client.close)
        else:
            await self.client.aclose()


MakeEither = Callable[..., Either]


@pytest.fixture(params=["sync", "async"])
async def make(request: pytest.FixtureRequest, cert: Path) -> AsyncIterator[MakeEither]:
    """Make a client of the parametrised kind, trusting the server's certificate."""
    made: list[Either] = []

    def build(base_url: str, auth: Auth, **options: Any) -> Either:
        options.setdefault("ca_file", cert)
        client = Either(request.param == "sync", base_url, auth, **options)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.close()
