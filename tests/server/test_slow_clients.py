"""Slow and stalled clients over real loopback sockets: head and body deadlines, connection
limits, clients that go away mid-request (TR-5, TR-6)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from panelauth.core.settings import Settings
from panelauth.protocol.services import Listener, Service
from panelauth.server.connections import (
    ConnectionLimits,
    GuardedServer,
    GuardedSockSite,
)
from panelauth.server.gateway import Gateway
from panelauth.server.state import ServerState
from panelauth.server.tls import generate_self_signed, server_context
from tests.conftest import CHEAP_ARGON2
from tests.server.conftest import ROOT_AUTH

HEAD_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
# the deadline plus scheduling slack on a busy two-core machine
CLOSE_BOUND = 2.5
OTHER_ADDRESS = "127.0.0.2"  # loopback too, but a different client address

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        hostname="panel.example.test",
        argon2=CHEAP_ARGON2,
        request_head_timeout=HEAD_TIMEOUT,
        request_body_timeout=BODY_TIMEOUT,
    )


@dataclass
class Served:
    port: int
    limits: ConnectionLimits
    client_tls: ssl.SSLContext | None

    async def connect(self, source: str = "127.0.0.1") -> Connection:
        return await asyncio.open_connection(
            "127.0.0.1",
            self.port,
            local_addr=(source, 0),
            ssl=self.client_tls,
            server_hostname="127.0.0.1" if self.client_tls else None,
        )

    async def drained(self) -> None:
        """Wait until every connection the server counted has been released."""
        deadline = time.monotonic() + 5
        while self.limits.total and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert self.limits.total == 0 and self.limits.by_address == {}


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(server_state: ServerState, tmp_path: Path) -> AsyncIterator[Serve]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key, "localhost")
    async with AsyncExitStack() as stack:

        async def start(
            *,
            tls: bool = False,
            max_connections: int = 100,
            max_per_address: int = 100,
            head_timeout: float = HEAD_TIMEOUT,
        ) -> Served:
            limits = ConnectionLimits(max_connections, max_per_address)
            port = Service.WHM.tls_port if tls else Service.WHM.plain_port
            gateway = Gateway(Listener(Service.WHM, tls, port), server_state)
            runner = web.ServerRunner(
                GuardedServer(gateway, limits=limits, head_timeout=head_timeout),
                handle_signals=False,
                shutdown_timeout=1,
            )
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            sock.setblocking(False)
            site = GuardedSockSite(
                runner,
                sock,
                ssl_context=server_context(cert, key) if tls else None,
                handshake_timeout=head_timeout,
            )
            await site.start()
            client_tls = ssl.create_default_context(cafile=cert) if tls else None
            return Served(sock.getsockname()[1], limits, client_tls)

        yield start


async def closed_within(reader: asyncio.StreamReader, bound: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    received = b""
    with suppress(ConnectionResetError, ssl.SSLError):
        async with asyncio.timeout(bound):
            while chunk := await reader.read(65536):
                received += chunk
    return received, time.monotonic() - started


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), as a client that crashed or was killed."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def request_ok(served: Served, source: str = "127.0.0.1") -> bool:
    """A full request on a new connection gets an HTTP answer (the connection was accepted)."""
    reader, writer = await served.connect(source)
    try:
        writer.write(b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        with suppress(ConnectionError, ssl.SSLError):
            async with asyncio.timeout(5):
                line = await reader.readline()
                return line.startswith(b"HTTP/1.1 ")
        return False
    finally:
        await close(writer)


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- the request head ------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_stalled_request_head_is_closed_after_the_head_timeout(
    serve: Serve, tls: bool
) -> None:
    served = await serve(tls=tls)
    reader, writer = await served.connect()
    writer.write(b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\nX-Half")
    received, elapsed = await closed_within(reader, CLOSE_BOUND + 1)
    await close(writer)
    assert received == b""  # closed without an answer
    assert HEAD_TIMEOUT * 0.8 <= elapsed < CLOSE_BOUND
    await served.drained()


async def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    serve: Serve,
) -> None:
    served = await serve()
    reader, writer = await served.connect()
    received, elapsed = await closed_within(reader, CLOSE_BOUND + 1)
    await close(writer)
    assert received == b"" and elapsed < CLOSE_BOUND


async def test_a_stalled_tls_handshake_is_closed_after_the_head_timeout(serve: Serve) -> None:
    served = await serve(tls=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)  # no TLS at all
    received, elapsed = await closed_within(reader, CLOSE_BOUND + 1)
    await close(writer)
    assert received == b"" and elapsed < CLOSE_BOUND


async def test_a_head_sent_in_slow_pieces_within_the_deadline_is_served(serve: Serve) -> None:
    served = await serve()
    reader, writer = await served.connect()
    for piece in (b"GET /json-api/version?api.version=1 ", b"HTTP/1.1\r\nHost: x\r\n", b"\r\n"):
        writer.write(piece)
        await asyncio.sleep(HEAD_TIMEOUT / 5)
    status = await reader.readline()
    await close(writer)
    assert status.startswith(b"HTTP/1.1 403 ")  # answered (no credentials given)


async def test_keep_alive_requests_each_get_a_fresh_head_deadline(serve: Serve) -> None:
    served = await serve()
    reader, writer = await served.connect()
    request = b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(3):
        await asyncio.sleep(HEAD_TIMEOUT * 0.6)  # each wait alone is within the deadline
        writer.write(request)
        assert (await reader.readline()).startswith(b"HTTP/1.1 403 ")
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = int(head.lower().split("content-length: ")[1].split("\r\n")[0])
        await reader.readexactly(length)  # the next status line is read next
    # idle after the last answer: closed by the head deadline, never answered again
    received, elapsed = await closed_within(reader, CLOSE_BOUND + 1)
    await close(writer)
    assert received == b"" and elapsed < CLOSE_BOUND


async def test_a_partial_head_pipelined_behind_a_request_is_bounded_too(serve: Serve) -> None:
    served = await serve()
    reader, writer = await served.connect()
    writer.write(
        b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHo"
    )
    received, elapsed = await closed_within(reader, CLOSE_BOUND + 1)
    await close(writer)
    assert received.count(b"HTTP/1.1 403 ") == 1
    assert elapsed < CLOSE_BOUND


# -- the request body ------------------------------------------------------------------------


async def trickled(served: Served, head: bytes) -> tuple[bytes, float]:
    """Send `head` then a body a byte every 0.1 s; what came back and when the server closed."""
    reader, writer = await served.connect()
    writer.write(head)
    started = time.monotonic()

    async def trickle() -> None:
        with suppress(ConnectionError, ssl.SSLError, RuntimeError):
            for _ in range(100):
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    received, _ = await closed_within(reader, BODY_TIMEOUT + CLOSE_BOUND + 1)
    elapsed = time.monotonic() - started
    trickling.cancel()
    await close(writer)
    return received, elapsed


async def test_a_trickled_api_body_gets_408_in_the_envelope_and_the_connection_closes(
    serve: Serve,
) -> None:
    served = await serve(tls=True)
    auth = ROOT_AUTH["Authorization"].encode()
    received, elapsed = await trickled(
        served,
        b"POST /json-api/version HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
    )
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in head
    document = json.loads(body)
    assert document["metadata"]["result"] == 0
    assert document["metadata"]["reason"] == "Request Timeout"
    assert BODY_TIMEOUT * 0.8 <= elapsed < BODY_TIMEOUT + CLOSE_BOUND  # closed, no lingering
    await served.drained()


async def test_a_trickled_login_form_gets_408_and_the_connection_closes(serve: Serve) -> None:
    served = await serve(tls=True)
    received, elapsed = await trickled(
        served,
        b"POST /login/?login_only=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
    )
    assert received.startswith(b"HTTP/1.1 408 ")
    assert BODY_TIMEOUT * 0.8 <= elapsed < BODY_TIMEOUT + CLOSE_BOUND
    await served.drained()


# -- connection limits -----------------------------------------------------------------------


async def test_connections_over_the_per_address_limit_are_refused_other_addresses_are_not(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve(max_per_address=3, head_timeout=30)
    held = [await served.connect(OTHER_ADDRESS) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert served.limits.by_address == {OTHER_ADDRESS: 3}
    for _ in range(3):
        assert not await request_ok(served, OTHER_ADDRESS)
    assert await request_ok(served, "127.0.0.1")  # another address is still served
    # closing one frees its place: the address is served again
    await close(held.pop()[1])
    await asyncio.sleep(0.1)
    assert await request_ok(served, OTHER_ADDRESS)
    for _, writer in held:
        await close(writer)
    await served.drained()  # no leaked count
    refusals = [r for r in caplog.records if r.name == "panelauth.server.connections"]
    assert len(refusals) == 1  # three refusals, one line
    assert refusals[0].levelno == logging.WARNING and refusals[0].exc_info is None
    assert "per-address limit (3)" in refusals[0].getMessage()
    assert not errors(caplog)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_connections_over_the_worker_limit_are_refused_until_one_closes(
    serve: Serve, tls: bool, caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve(tls=tls, max_connections=2, head_timeout=30)
    first = await served.connect("127.0.0.1")
    second = await served.connect(OTHER_ADDRESS)
    await asyncio.sleep(0.1)
    assert served.limits.total == 2
    assert not await request_ok(served, "127.0.0.3")
    await close(first[1])
    await asyncio.sleep(0.1)
    assert await request_ok(served, "127.0.0.3")
    await close(second[1])
    await served.drained()
    assert "per-worker limit (2)" in caplog.text
    assert not errors(caplog)


async def test_every_close_path_releases_its_count(serve: Serve) -> None:
    served = await serve(max_per_address=5)
    # answered and closed by the client; reset by the client; stalled and closed by the server;
    # answered with Connection: close
    answered = await served.connect()
    answered[1].write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await answered[0].readline()
    await close(answered[1])
    crashed = await served.connect()
    crashed[1].write(b"GET / HTTP/1.1\r\nHo")
    await asyncio.sleep(0.05)
    reset(crashed[1])
    stalled = await served.connect()
    await closed_within(stalled[0], CLOSE_BOUND)
    await close(stalled[1])
    once = await served.connect()
    once[1].write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await closed_within(once[0], CLOSE_BOUND)
    await close(once[1])
    malformed = await served.connect()
    malformed[1].write(b"NOT HTTP AT ALL\r\n\r\n")
    await closed_within(malformed[0], CLOSE_BOUND)
    await close(malformed[1])
    await served.drained()


def test_refusals_are_reported_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    limits = ConnectionLimits(1, 1, report_interval=60, monotonic=lambda: now[0])
    assert limits.acquire("192.0.2.1")
    for _ in range(5):
        assert not limits.acquire("192.0.2.1")
    now[0] += 61
    assert not limits.acquire("192.0.2.2")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "refused 1 connection(s) over the per-worker limit (1), the last from 192.0.2.1",
        "refused 5 connection(s) over the per-worker limit (1), the last from 192.0.2.2",
    ]
    limits.release("192.0.2.1")
    assert (limits.total, limits.by_address) == (0, {})


# -- clients that go away --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["reset", "close"])
async def test_a_client_leaving_mid_body_writes_no_error_or_traceback(
    serve: Serve, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    served = await serve(tls=True, head_timeout=30)  # plain ports never read an API body
    _, writer = await served.connect()
    auth = ROOT_AUTH["Authorization"].encode()
    writer.write(
        b"POST /json-api/version HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + b"\r\n"
        b"Content-Length: 1000\r\n\r\napi.version=1&"
    )
    await writer.drain()
    await asyncio.sleep(0.2)  # authenticated, now reading the body
    if how == "reset":
        reset(writer)
    else:
        await close(writer)
    await served.drained()
    await asyncio.sleep(0.1)
    assert not errors(caplog), [r.getMessage() for r in errors(caplog)]
    assert "Traceback" not in caplog.text
    assert "went away" in caplog.text  # it left while panelauth was reading the body


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_client_leaving_before_its_answer_writes_no_error_or_traceback(
    serve: Serve, tls: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    served = await serve(tls=tls, head_timeout=30)
    for _ in range(5):
        _, writer = await served.connect()
        writer.write(
            b"GET /json-api/version?api.version=1 HTTP/1.1\r\nHost: x\r\n"
            + b"Authorization: "
            + ROOT_AUTH["Authorization"].encode()
            + b"\r\n\r\n"
        )
        await writer.drain()
        reset(writer)
    await served.drained()
    await asyncio.sleep(0.2)
    assert not errors(caplog), [r.getMessage() for r in errors(caplog)]
