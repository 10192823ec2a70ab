"""`/healthz` and `/readyz` in-process: every listener, no credential, no counting, the
readiness cache, a failing store, draining (w§1.7)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from panelauth.backends.sqlite import SqliteStore
from panelauth.protocol.services import Listener, Service, standard_listeners
from panelauth.server.gateway import Gateway
from panelauth.server.health import Health, Probe, probe_of
from panelauth.server.state import ServerState
from tests.server.conftest import ROOT_AUTH, basic
from tests.server.test_store_unavailable_http import LEAKS, FailingConnection

Client = TestClient[web.Request, None]
LISTENERS = standard_listeners(0)
JSON = "application/json; charset=utf-8"


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore:
    """The real store's `schema_version`, counted; optionally held until released."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def schema_version(self) -> tuple[int, int]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        result: tuple[int, int] = await self.store.schema_version()
        return result

    async def migrate(self) -> tuple[int, int]:
        raise AssertionError("a probe never migrates")

    async def aclose(self) -> None:
        raise AssertionError("a probe never closes the store")


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def counting(server_state: ServerState) -> CountingStore:
    return CountingStore(server_state.runtime.store)


@pytest.fixture
def health(counting: CountingStore, ticks: Ticks) -> Health:
    return Health(counting, monotonic=ticks)


@pytest.fixture
async def clients(
    server_state: ServerState, health: Health
) -> AsyncIterator[dict[Listener, Client]]:
    """One client per listener (the six ports), their gateways sharing one `Health`."""
    made: dict[Listener, Client] = {}
    for listener in LISTENERS:
        client: Client = TestClient(RawTestServer(Gateway(listener, server_state, health=health)))
        await client.start_server()
        made[listener] = client
    yield made
    for client in made.values():
        await client.close()


@pytest.fixture
def whm(clients: dict[Listener, Client]) -> Client:
    return clients[next(x for x in LISTENERS if x.service is Service.WHM and x.tls)]


@pytest.fixture
def fail(server_state: ServerState) -> Iterator[Callable[[], None]]:
    """Call it to make every statement of the real store fail (as test_store_unavailable_http)."""
    store = server_state.runtime.store
    assert isinstance(store, SqliteStore)
    real, real_index = store._db, store._wal_index

    def inject() -> None:
        store._db = FailingConnection()  # type: ignore[assignment]
        store._wal_index = False

    yield inject
    store._db, store._wal_index = real, real_index


async def _get(client: Client, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    response = await client.request(kwargs.pop("method", "GET"), path, **kwargs)
    body = await response.read()
    return response.status, dict(response.headers), body


async def _raw(client: Client, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET `path` byte for byte (aiohttp's client would normalise it first)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = dict(field.split(": ", 1) for field in fields)
    return int(status_line.split()[1]), headers, body


def _health_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "panelauth.server.health"]


# -- what they answer -------------------------------------------------------------------------


@pytest.mark.parametrize("listener", LISTENERS, ids=lambda x: f"{x.port}")
async def test_both_probes_answer_on_every_port_without_credentials(
    clients: dict[Listener, Client], listener: Listener
) -> None:
    # the plain ports too, with require_ssl on (the default): a balancer checks them
    client = clients[listener]
    status, headers, body = await _get(client, "/healthz")
    assert (status, body) == (200, b'{"status":"ok"}')
    assert headers["Content-Type"] == JSON
    assert headers["Cache-Control"].startswith("no-cache, no-store")
    assert "Set-Cookie" not in headers and "Location" not in headers
    status, headers, body = await _get(client, "/readyz")
    assert (status, body) == (200, b'{"status":"ready"}')
    assert headers["Content-Type"] == JSON
    assert "Retry-After" not in headers


async def test_require_ssl_is_on_and_does_not_apply_to_the_probes(
    server_state: ServerState, clients: dict[Listener, Client]
) -> None:
    assert server_state.settings.require_ssl
    plain = clients[next(x for x in LISTENERS if x.service is Service.WHM and not x.tls)]
    refused = await plain.get("/json-api/version?api.version=1")
    assert refused.status == 403  # the plain-port rule, for any other path
    page = await plain.get("/", allow_redirects=False)
    assert page.status == 301
    assert (await plain.get("/healthz")).status == 200
    assert (await plain.get("/readyz")).status == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_head_answers_the_headers_only(whm: Client, path: str) -> None:
    status, headers, body = await _get(whm, path, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Type"] == JSON


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_other_methods_get_405_with_allow(whm: Client, path: str, method: str) -> None:
    status, headers, _ = await _get(whm, path, method=method, data=b"x=1")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/healthz?", b'{"status":"ok"}'),
        ("/healthz?verbose=1&pass=secret", b'{"status":"ok"}'),
        ("/readyz?full=1", b'{"status":"ready"}'),
        # the normalised path decides, as for every route (w§1.6)
        ("/./healthz", b'{"status":"ok"}'),
        ("//readyz", b'{"status":"ready"}'),
        ("/%68ealthz", b'{"status":"ok"}'),
    ],
)
async def test_the_query_is_ignored_and_the_path_normalised(
    whm: Client, path: str, body: bytes
) -> None:
    status, _, answer = await _raw(whm, path)
    assert (status, answer) == (200, body)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
@pytest.mark.parametrize(
    ("path", "like"),
    [
        ("/healthz/", "/nosuch/"),
        ("/healthz/x", "/nosuch/x"),
        ("/readyz/deep/er", "/nosuch/deep/er"),
        ("/healthzz", "/nosuchz"),
        ("/cpsess0123456789/healthz", "/cpsess0123456789/nosuch"),
        ("/cpsess0123456789/readyz", "/cpsess0123456789/nosuch"),
        ("/cpsessX/readyz", "/cpsessX/nosuch"),
    ],
)
async def test_sub_paths_and_token_prefixes_are_ordinary_paths(
    clients: dict[Listener, Client], tls: bool, path: str, like: str
) -> None:
    client = clients[next(x for x in LISTENERS if x.service is Service.CPANEL and x.tls is tls)]
    status, headers, body = await _raw(client, path)
    other_status, other_headers, _ = await _raw(client, like)
    assert status == other_status
    assert status in (301, 302, 404)
    kind, other_kind = headers.get("Content-Type", ""), other_headers.get("Content-Type", "")
    assert kind.split(";")[0] == other_kind.split(";")[0]
    assert ("Location" in headers) is ("Location" in other_headers)
    assert b'"status"' not in body


async def test_a_bad_path_is_still_a_400(whm: Client) -> None:
    status, _, _ = await _raw(whm, "/healthz%00")
    assert status == 400


def test_probe_of_reads_the_path_only() -> None:
    assert probe_of("/healthz") is Probe.LIVE
    assert probe_of("/readyz?x=/healthz") is Probe.READY
    assert probe_of("/json-api/healthz") is None
    assert probe_of("/cpsess0123456789/healthz") is None
    assert probe_of("/healthz/") is None
    assert probe_of("/HEALTHZ") is None


# -- nothing authenticates, nothing counts -------------------------------------------------------


async def test_credentials_are_never_looked_at_and_nothing_is_counted(
    server_state: ServerState, clients: dict[Listener, Client], logs: Path
) -> None:
    wrong = basic("root", "wrong-password")
    for client in clients.values():
        for path in ("/healthz", "/readyz"):
            for headers in (
                wrong,
                ROOT_AUTH,  # a right password on a plain port is not refused either: unread
                {"Authorization": "whm root:NOTATOKEN"},
                {"Authorization": "Basic !!!", "Cookie": "whostmgrsession=%3aforged"},
            ):
                status, response_headers, _ = await _get(client, path, headers=headers)
                assert status == 200, (client.port, path, headers)
                assert "Set-Cookie" not in response_headers
    store = server_state.runtime.store
    assert await store.failures_since(0.0, limit=100) == []
    for name in ("login_log", "session_log", "audit_log"):
        file = logs / name
        assert not file.exists() or file.read_text() == "", name
    # the access log records them as any request, without a user
    lines = (logs / "access_log").read_text().splitlines()
    assert len(lines) == 6 * 2 * 4
    assert all(" - - [" in line for line in lines)
    assert sum('"GET /healthz HTTP/1.1" 200 15 ' in line for line in lines) == 6 * 4
    assert sum('"GET /readyz HTTP/1.1" 200 18 ' in line for line in lines) == 6 * 4


async def test_probes_never_mark_a_request_on_the_store(
    server_state: ServerState, whm: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    marked: list[None] = []
    store = server_state.runtime.store
    monkeypatch.setattr(store, "begin_request", lambda: marked.append(None))
    await whm.get("/healthz")
    await whm.get("/readyz")
    assert marked == []
    await whm.get("/json-api/version?api.version=1", headers=ROOT_AUTH)
    assert marked == [None]


# -- readiness: the store, the cache, draining ------------------------------------------------


async def test_healthz_never_calls_the_store(whm: Client, counting: CountingStore) -> None:
    for _ in range(5):
        await whm.get("/healthz")
        await whm.head("/healthz")
    assert counting.calls == 0


async def test_readyz_is_one_store_call_per_second_for_the_six_ports(
    clients: dict[Listener, Client], counting: CountingStore, ticks: Ticks
) -> None:
    for client in clients.values():
        for _ in range(3):
            assert (await client.get("/readyz")).status == 200
            assert (await client.head("/readyz")).status == 200
    assert counting.calls == 1
    ticks.now += 0.999
    await next(iter(clients.values())).get("/readyz")
    assert counting.calls == 1
    ticks.now += 0.001
    await next(iter(clients.values())).get("/readyz")
    assert counting.calls == 2


async def test_concurrent_probes_share_one_round_trip(
    whm: Client, counting: CountingStore, ticks: Ticks
) -> None:
    counting.gate = asyncio.Event()
    probes = [asyncio.ensure_future(whm.get("/readyz")) for _ in range(20)]
    await asyncio.sleep(0.05)
    ticks.now += 5  # even past the cache's second, one round trip is in flight: it is shared
    probes.append(asyncio.ensure_future(whm.get("/readyz")))
    await asyncio.sleep(0.05)
    counting.gate.set()
    statuses = [response.status for response in await asyncio.gather(*probes)]
    assert statuses == [200] * 21
    assert counting.calls == 1


async def test_a_failing_store_is_503_unavailable_and_healthz_stays_200(
    clients: dict[Listener, Client],
    fail: Callable[[], None],
    ticks: Ticks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    whm = next(iter(clients.values()))
    assert (await whm.get("/readyz")).status == 200
    fail()
    ticks.now += 1
    with caplog.at_level(logging.INFO, logger="panelauth.server.health"):
        for client in clients.values():
            for method in ("GET", "HEAD"):
                status, headers, body = await _get(client, "/readyz", method=method)
                assert status == 503
                assert headers["Retry-After"] == "5"
                assert headers["Content-Type"] == JSON
                assert body == (b'{"status":"unavailable"}' if method == "GET" else b"")
                for leak in LEAKS:
                    assert leak.lower() not in body.decode().lower()
            status, _, body = await _get(client, "/healthz")
            assert (status, body) == (200, b'{"status":"ok"}')
        ticks.now += 1
        await whm.get("/readyz")  # still failing: no second warning
    warnings = [r for r in _health_records(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith("not ready: ")


async def test_readiness_comes_back_when_the_store_does(
    whm: Client, server_state: ServerState, ticks: Ticks, caplog: pytest.LogCaptureFixture
) -> None:
    store = server_state.runtime.store
    assert isinstance(store, SqliteStore)
    real, real_index = store._db, store._wal_index
    store._db, store._wal_index = FailingConnection(), False  # type: ignore[assignment]
    try:
        assert (await whm.get("/readyz")).status == 503
        ticks.now += 0.5
        assert (await whm.get("/readyz")).status == 503  # the failure is kept a second too
    finally:
        store._db, store._wal_index = real, real_index
    ticks.now += 0.5
    with caplog.at_level(logging.INFO, logger="panelauth.server.health"):
        assert (await whm.get("/readyz")).status == 200
    messages = [r.getMessage() for r in _health_records(caplog)]
    assert len(messages) == 2  # one line per change, the reason in the app log only
    assert messages[0].startswith("not ready: ")
    assert messages[1] == "ready again: the store answers"


async def test_a_store_that_does_not_answer_in_time_is_unavailable() -> None:
    class Stalled:
        calls = 0

        async def schema_version(self) -> tuple[int, int]:
            self.calls += 1
            await asyncio.sleep(3600)
            return (1, 1)

        async def migrate(self) -> tuple[int, int]:
            raise AssertionError

        async def aclose(self) -> None:
            raise AssertionError

    stalled = Stalled()
    health = Health(stalled, timeout=0.05)
    started = asyncio.get_running_loop().time()
    response = await health.answer(Probe.READY, "GET")
    assert asyncio.get_running_loop().time() - started < 1
    assert (response.status, response.body) == (503, b'{"status":"unavailable"}')
    assert response.headers["Retry-After"] == "5"
    assert stalled.calls == 1


async def test_a_closed_store_is_unavailable(server_state: ServerState) -> None:
    health = Health(server_state.runtime.store)
    assert await health.ready()
    await server_state.runtime.store.aclose()  # as at the end of a graceful stop
    health = Health(server_state.runtime.store)
    assert not await health.ready()


async def test_draining_makes_readyz_503_and_leaves_healthz_200(
    clients: dict[Listener, Client], health: Health, counting: CountingStore, ticks: Ticks
) -> None:
    whm = next(iter(clients.values()))
    assert (await whm.get("/readyz")).status == 200
    health.drain()
    ticks.now += 10
    for client in clients.values():
        status, headers, body = await _get(client, "/readyz")
        assert (status, body) == (503, b'{"status":"draining"}')
        assert headers["Retry-After"] == "5"
        assert (await client.get("/healthz")).status == 200
    assert counting.calls == 1  # no store call while draining
    assert health.draining


async def test_a_round_trip_in_flight_when_draining_starts_answers_503(
    whm: Client, health: Health, counting: CountingStore
) -> None:
    counting.gate = asyncio.Event()
    probe = asyncio.ensure_future(whm.get("/readyz"))
    await asyncio.sleep(0.05)
    health.drain()
    counting.gate.set()
    response = await probe
    assert response.status == 503
    assert await response.read() == b'{"status":"draining"}'


# -- one Health per worker ----------------------------------------------------------------------


def test_the_gateways_of_one_state_share_one_health(server_state: ServerState) -> None:
    gateways = [Gateway(listener, server_state) for listener in LISTENERS]
    assert len({id(gateway.health) for gateway in gateways}) == 1
    assert gateways[0].health is Health.for_store(server_state.runtime.store)


async def test_the_answers_are_short_fixed_json() -> None:
    class Fine:
        async def schema_version(self) -> tuple[int, int]:
            return (1, 1)

        async def migrate(self) -> tuple[int, int]:
            raise AssertionError

        async def aclose(self) -> None:
            raise AssertionError

    health = Health(Fine())
    answers: list[Awaitable[web.Response]] = [
        health.answer(Probe.LIVE, "GET"),
        health.answer(Probe.READY, "GET"),
    ]
    bodies = [orjson.loads((await answer).body) for answer in answers]  # type: ignore[arg-type]
    assert bodies == [{"status": "ok"}, {"status": "ready"}]
