"""The PROXY protocol (v1 and v2): the parser as units, the setting, and the connection seam
over real loopback sockets on both asyncio's loop and uvloop (server/proxy_protocol.py)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from panelauth.core.settings import ConfigError, Settings, settings_from_mapping
from panelauth.server import proxy_protocol
from panelauth.server.connections import ConnectionLimits, GuardedServer
from panelauth.server.proxy_protocol import (
    V1_MAX_BYTES,
    V2_MAX_BYTES,
    V2_SIGNATURE,
    ClientAddressTransport,
    ProxyHeader,
    ProxyHeaderError,
    ProxySockSite,
    TrustedProxies,
    bytes_wanted,
    parse_header,
)
from panelauth.server.tls import generate_self_signed, server_context

PROXY_ADDRESS = "127.0.0.2"  # the trusted proxy (loopback, another address)
DIRECT_ADDRESS = "127.0.0.1"  # anyone else
HEADER_TIMEOUT = 0.5
CLOSE_BOUND = 3.0  # the deadline plus scheduling slack on a busy two-core machine


# -- building headers --------------------------------------------------------------------------


def v1(protocol: str, source: str, destination: str, sport: int, dport: int) -> bytes:
    return f"PROXY {protocol} {source} {destination} {sport} {dport}\r\n".encode()


def v2(command: int, family: int, addresses: bytes = b"", tlvs: bytes = b"") -> bytes:
    body = addresses + tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family]) + len(body).to_bytes(2, "big") + body


def v2_tcp(source: str, destination: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    family = 0x11 if src.version == 4 else 0x21
    ports = sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
    return v2(0x1, family, src.packed + dst.packed + ports, tlvs)


# a TLV as AWS NLB sends it (type 0xEA, its VPC endpoint ID) and HAProxy's unique ID (0x05)
TLVS = b"\xea\x00\x17\x01vpce-08d2bf15fEXAMPLE" + b"\x05\x00\x04abcd"

_VALID: list[tuple[bytes, tuple[int, tuple[str, int] | None]]] = [
    (
        v1("TCP4", "203.0.113.7", "192.0.2.1", 56324, 443),
        (1, ("203.0.113.7", 56324)),
    ),
    (
        v1("TCP6", "2001:db8::7", "2001:db8::1", 1, 2087),
        (1, ("2001:db8::7", 1)),
    ),
    # an IPv4-mapped IPv6 client is named as the logs and rules name it: IPv4
    (
        v1("TCP6", "::ffff:198.51.100.4", "::1", 65535, 443),
        (1, ("198.51.100.4", 65535)),
    ),
    (b"PROXY UNKNOWN\r\n", (1, None)),
    (b"PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n", (1, None)),
    (
        v2_tcp("203.0.113.7", "192.0.2.1", 56324, 443),
        (2, ("203.0.113.7", 56324)),
    ),
    (
        v2_tcp("2001:db8::7", "2001:db8::1", 40000, 2083),
        (2, ("2001:db8::7", 40000)),
    ),
    (
        v2_tcp("203.0.113.9", "192.0.2.1", 1234, 443, TLVS),
        (2, ("203.0.113.9", 1234)),
    ),
    # LOCAL (a health check of the proxy itself): the real endpoints, whatever the family says
    (v2(0x0, 0x00), (2, None)),
    (v2(0x0, 0x11, bytes(12)), (2, None)),
    (v2(0x0, 0x99, b"ignored"), (2, None)),
    # PROXY with UNSPEC, UDP or AF_UNIX: valid, not TCP over IP: the real endpoints too
    (v2(0x1, 0x00, b"", TLVS), (2, None)),
    (v2(0x1, 0x12, bytes(12)), (2, None)),
    (v2(0x1, 0x31, bytes(216)), (2, None)),
]
VALID = [
    (header, ProxyHeader(version, len(header), client)) for header, (version, client) in _VALID
]


@pytest.mark.parametrize(("header", "expected"), VALID)
def test_a_valid_header_is_read_exactly(header: bytes, expected: ProxyHeader) -> None:
    assert bytes_wanted(header) == 0
    assert parse_header(header) == expected
    # what follows (a TLS ClientHello, a request) is left alone
    assert parse_header(header + b"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n") == expected


@pytest.mark.parametrize(("header", "expected"), VALID)
def test_every_truncation_asks_for_more_and_never_parses(
    header: bytes, expected: ProxyHeader
) -> None:
    for cut in range(len(header)):
        wanted = bytes_wanted(header[:cut])
        assert 0 < wanted <= len(header) - cut, (cut, wanted)
        with pytest.raises(ProxyHeaderError, match="truncated"):
            parse_header(header[:cut])


@given(
    version=st.sampled_from(["TCP4", "TCP6"]),
    source=st.integers(0, 2**32 - 1),
    destination=st.integers(0, 2**32 - 1),
    ports=st.tuples(st.integers(0, 65535), st.integers(0, 65535)),
    chunks=st.lists(st.integers(1, 200), min_size=1, max_size=60),
    following=st.binary(max_size=40),
)
def test_exact_reads_stop_at_the_end_of_the_header(
    version: str,
    source: int,
    destination: int,
    ports: tuple[int, int],
    chunks: list[int],
    following: bytes,
) -> None:
    """A reader that takes at most `bytes_wanted` bytes at a time, in pieces of any size, ends
    exactly at the header's last byte: the next bytes stay in the socket for TLS or HTTP."""
    if version == "TCP4":
        addresses = [str(ipaddress.IPv4Address(a)) for a in (source, destination)]
    else:
        addresses = [str(ipaddress.IPv6Address(a << 96 | a)) for a in (source, destination)]
    for header in (
        v1(version, addresses[0], addresses[1], *ports),
        v2_tcp(addresses[0], addresses[1], *ports, tlvs=TLVS[: source % len(TLVS)]),
    ):
        stream, head, pieces = header + following, b"", iter(chunks * 200)
        while wanted := bytes_wanted(head):
            head += stream[len(head) : len(head) + min(wanted, next(pieces))]
        assert head == header
        assert parse_header(head).client is not None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
        b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROX",  # rejected only once it cannot be a header: see the truncation test
        b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c",
        b"\r\n\r\nGET",
    ],
)
def test_bad_signatures_are_refused(data: bytes) -> None:
    if data == b"PROX":
        assert bytes_wanted(data) > 0
        data += b"Z TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
    with pytest.raises(ProxyHeaderError, match="no PROXY header"):
        bytes_wanted(data)
    with pytest.raises(ProxyHeaderError):
        parse_header(data)


@pytest.mark.parametrize(
    "data",
    [
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        b"PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n",
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xd9\xa1\r\n",
        b"PROXY TCP4 \xc3\xa9.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY \r\n",
    ],
)
def test_malformed_v1_headers_are_refused(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_header(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (V2_SIGNATURE + b"\x11\x11\x00\x0c" + bytes(12), "version"),  # version 1 in binary
        (V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12), "version"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12), "command"),
        (V2_SIGNATURE + b"\x21\x13\x00\x0c" + bytes(12), "family"),
        (V2_SIGNATURE + b"\x21\x41\x00\x0c" + bytes(12), "family"),
        (V2_SIGNATURE + b"\x21\x11\x00\x08" + bytes(8), "shorter"),
        (V2_SIGNATURE + b"\x21\x21\x00\x0c" + bytes(12), "shorter"),
        (V2_SIGNATURE + b"\x21\x31\x00\x24" + bytes(36), "shorter"),
    ],
)
def test_malformed_v2_headers_are_refused_from_their_fixed_part(data: bytes, reason: str) -> None:
    with pytest.raises(ProxyHeaderError, match=reason):
        bytes_wanted(data[:16])  # no waiting for a body that cannot help
    with pytest.raises(ProxyHeaderError, match=reason):
        parse_header(data)


@pytest.mark.parametrize(
    "head",
    [
        b"PROXY X",
        b"PROXY TCP5 ",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3",
        b"PROXY UNKNOWN " + b"x" * 100,  # no CRLF within 107 bytes
    ],
)
def test_a_header_is_refused_as_soon_as_it_cannot_be_valid(head: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        bytes_wanted(head)


def test_overlong_headers_are_refused_before_they_are_read() -> None:
    # v1: 107 bytes at most, CRLF included, and a line that cannot fit is refused early
    longest = b"PROXY UNKNOWN " + b"x" * (V1_MAX_BYTES - 16) + b"\r\n"
    assert len(longest) == V1_MAX_BYTES and parse_header(longest).client is None
    with pytest.raises(ProxyHeaderError, match="too long"):
        parse_header(longest[:-2] + b"x\r\n")
    with pytest.raises(ProxyHeaderError, match="too long"):
        bytes_wanted(longest[:-2] + b"x")
    with pytest.raises(ProxyHeaderError, match="too long"):
        bytes_wanted(b"PROXY TCP6 " + b"f" * 90)  # no room left for the other fields
    # v2: the 16-bit length is bounded at V2_MAX_BYTES in all, refused from the fixed part
    assert bytes_wanted(v2(0x1, 0x00, b"", bytes(V2_MAX_BYTES - 16))[:16]) == V2_MAX_BYTES - 16
    for length in (V2_MAX_BYTES - 15, 65535):
        with pytest.raises(ProxyHeaderError, match="too long"):
            bytes_wanted(V2_SIGNATURE + b"\x21\x11" + length.to_bytes(2, "big"))


def test_the_first_read_never_passes_the_shortest_header() -> None:
    assert bytes_wanted(b"") == len(b"PROXY UNKNOWN\r\n") < 16
    # a v1 line is asked for in few reads, never past its end
    header = v1("TCP4", "203.0.113.7", "192.0.2.1", 56324, 443)
    head, reads = b"", 0
    while wanted := bytes_wanted(head):
        head += header[len(head) : len(head) + wanted]
        reads += 1
    assert head == header and reads <= 6


# -- the setting -------------------------------------------------------------------------------


def test_the_setting_is_off_by_default_and_needs_trusted_proxies() -> None:
    assert Settings().proxy_protocol is False
    settings = settings_from_mapping({"proxy_protocol": True, "trusted_proxies": ["10.0.0.0/8"]})
    assert settings.proxy_protocol is True
    assert settings_from_mapping({"proxy_protocol": False}) == Settings()
    with pytest.raises(ConfigError, match="proxy_protocol: needs trusted_proxies"):
        settings_from_mapping({"proxy_protocol": True})
    for value in ("yes", 1, None, ["on"]):
        with pytest.raises(ConfigError, match="proxy_protocol: expected bool"):
            settings_from_mapping({"proxy_protocol": value, "trusted_proxies": ["10.0.0.1"]})


def test_trust_follows_trusted_proxies_and_refusals_are_reported_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    proxies = TrustedProxies(
        [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")],
        monotonic=lambda: now[0],
    )
    assert proxies.trusts("10.1.2.3") and proxies.trusts("::ffff:10.1.2.3")
    assert proxies.trusts("2001:db8::5")
    assert not proxies.trusts("192.0.2.1") and not proxies.trusts("") and not proxies.trusts("x")
    proxies.refused("10.0.0.1", "no PROXY header")
    for _ in range(4):
        proxies.refused("10.0.0.2", "no PROXY header in time")
    now[0] += 61
    proxies.refused("::ffff:10.0.0.3", "truncated PROXY header")
    assert [r.getMessage() for r in caplog.records] == [
        "closed 1 connection(s) from a trusted proxy without a valid PROXY header, "
        "the last from 10.0.0.1: no PROXY header",
        "closed 5 connection(s) from a trusted proxy without a valid PROXY header, "
        "the last from 10.0.0.3: truncated PROXY header",
    ]
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in caplog.records)


class _Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__({"peername": ("10.0.0.1", 4000), "sockname": ("10.0.0.9", 2087)})
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattribute__(self, name: str) -> Any:
        if name in ("calls", "_extra", "get_extra_info") or name.startswith("__"):
            return super().__getattribute__(name)
        calls = super().__getattribute__("calls")
        return lambda *args: calls.append((name, args))


def test_the_client_transport_names_the_client_and_passes_everything_else_on() -> None:
    inner = _Recorder()
    wrapped = ClientAddressTransport(inner, ("203.0.113.7", 56324))
    assert wrapped.get_extra_info("peername") == ("203.0.113.7", 56324)
    assert wrapped.get_extra_info("sockname") == ("10.0.0.9", 2087)
    assert wrapped.get_extra_info("sslcontext", "none") == "none"
    wrapped.write(b"a")
    wrapped.writelines([b"b", b"c"])
    wrapped.pause_reading()
    wrapped.resume_reading()
    wrapped.set_write_buffer_limits(10, 5)
    wrapped.write_eof()
    wrapped.close()
    wrapped.abort()
    for name in (
        "is_closing",
        "is_reading",
        "get_write_buffer_size",
        "get_write_buffer_limits",
        "can_write_eof",
        "get_protocol",
    ):
        getattr(wrapped, name)()
    wrapped.set_protocol(asyncio.Protocol())
    assert [name for name, _ in inner.calls] == [
        "write",
        "writelines",
        "pause_reading",
        "resume_reading",
        "set_write_buffer_limits",
        "write_eof",
        "close",
        "abort",
        "is_closing",
        "is_reading",
        "get_write_buffer_size",
        "get_write_buffer_limits",
        "can_write_eof",
        "get_protocol",
        "set_protocol",
    ]


# -- the seam, over loopback, on both loops ----------------------------------------------------


LOOPS: dict[str, Callable[[Coroutine[Any, Any, None]], None]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


@pytest.fixture(params=list(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    return LOOPS[request.param]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key, "localhost")
    return cert, key


async def whoami(request: web.BaseRequest) -> web.Response:
    """The client address and port as the gateway reads them, and whether TLS carried it."""
    transport = request.transport
    assert transport is not None
    host, port = transport.get_extra_info("peername")[:2]
    return web.Response(text=f"{host} {port} {'tls' if request.secure else 'plain'}")


@dataclass
class Served:
    port: int
    limits: ConnectionLimits
    server_tls: ssl.SSLContext | None
    client_tls: ssl.SSLContext | None
    site: ProxySockSite

    async def exchange(
        self,
        header: bytes = b"",
        request: bytes = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        *,
        source: str = PROXY_ADDRESS,
        bound: float = 5.0,
        tls: bool = True,
    ) -> tuple[bytes, float]:
        """Send `header` in clear, then `request` (over TLS on a TLS site); everything the
        server sent until it closed, and how long that took."""
        raw = socket.create_connection(("127.0.0.1", self.port), source_address=(source, 0))
        raw.sendall(header)
        raw.setblocking(False)
        started, received = time.monotonic(), b""
        use_tls = self.client_tls if tls else None
        try:
            reader, writer = await asyncio.open_connection(
                sock=raw,
                ssl=use_tls,
                server_hostname="127.0.0.1" if use_tls else None,
                ssl_handshake_timeout=bound if use_tls else None,
            )
        except (OSError, ssl.SSLError):
            raw.close()
            return b"", time.monotonic() - started  # closed during the handshake
        try:
            writer.write(request)
            with suppress(ConnectionError, ssl.SSLError):
                async with asyncio.timeout(bound):
                    while chunk := await reader.read(65536):
                        received += chunk
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
        return received, time.monotonic() - started


def body(answer: bytes) -> str:
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer[:200]
    return rest.decode()


@asynccontextmanager
async def served(
    certificate: tuple[Path, Path] | None,
    *,
    max_per_address: int = 100,
    head_timeout: float = HEADER_TIMEOUT,
    trusted: str = f"{PROXY_ADDRESS}/32",
    sock_class: type[socket.socket] = socket.socket,
) -> AsyncIterator[Served]:
    async with AsyncExitStack() as stack:
        limits = ConnectionLimits(100, max_per_address)
        runner = web.ServerRunner(
            GuardedServer(whoami, limits=limits, head_timeout=head_timeout),
            handle_signals=False,
            shutdown_timeout=1,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        sock = sock_class()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        server_tls = server_context(*certificate) if certificate else None
        site = ProxySockSite(
            runner,
            sock,
            proxies=TrustedProxies([ipaddress.ip_network(trusted)]),
            ssl_context=server_tls,
            handshake_timeout=head_timeout,
        )
        await site.start()
        client_tls = ssl.create_default_context(cafile=certificate[0]) if certificate else None
        yield Served(port, limits, server_tls, client_tls, site)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_trusted_proxys_header_names_the_client(
    run: Callable[[Coroutine[Any, Any, None]], None],
    certificate: tuple[Path, Path],
    tls: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kind = "tls" if tls else "plain"

    async def scenario() -> None:
        async with served(certificate if tls else None) as server:
            for header, expected in [
                (v1("TCP4", "203.0.113.7", "192.0.2.1", 56324, 443), "203.0.113.7 56324"),
                (v1("TCP6", "2001:db8::7", "2001:db8::1", 2, 443), "2001:db8::7 2"),
                (v2_tcp("198.51.100.4", "192.0.2.1", 1234, 443, TLVS), "198.51.100.4 1234"),
                (v2_tcp("2001:db8::9", "2001:db8::1", 9, 443), "2001:db8::9 9"),
            ]:
                answer, _ = await server.exchange(header)
                assert body(answer) == f"{expected} {kind}"
            # LOCAL and UNKNOWN: the proxy's own address
            for header in (v2(0x0, 0x00), b"PROXY UNKNOWN\r\n"):
                answer, _ = await server.exchange(header)
                assert body(answer).startswith(f"{PROXY_ADDRESS} ")
            # a request pipelined right behind the header, in the same segment, is served
            if not tls:
                answer, _ = await server.exchange(
                    v1("TCP4", "192.0.2.77", "192.0.2.1", 7, 80)
                    + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    b"",
                )
                assert body(answer) == "192.0.2.77 7 plain"
            await drained(server)

    run(scenario())
    assert not caplog.records


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_anyone_else_is_served_as_before_and_its_header_is_not_believed(
    run: Callable[[Coroutine[Any, Any, None]], None],
    certificate: tuple[Path, Path],
    tls: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with served(certificate if tls else None) as server:
            answer, _ = await server.exchange(source=DIRECT_ADDRESS)
            assert body(answer).startswith(f"{DIRECT_ADDRESS} ")
            forged = v1("TCP4", "203.0.113.66", "192.0.2.1", 1, 443)
            if tls:  # the header is not a ClientHello: the handshake fails
                answer, _ = await server.exchange(forged, source=DIRECT_ADDRESS)
                assert answer == b""
            else:  # the header is not a request line: 400, from aiohttp's parser
                answer, _ = await server.exchange(forged, b"", source=DIRECT_ADDRESS)
                assert answer.split(b" ", 2)[1] == b"400"
                assert b"203.0.113.66" not in answer
            await drained(server)

    run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_trusted_peer_without_a_valid_header_is_closed_without_an_answer(
    run: Callable[[Coroutine[Any, Any, None]], None],
    certificate: tuple[Path, Path],
    tls: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with served(certificate if tls else None) as server:
            # no header: the request (or the ClientHello) is not a header
            answer, elapsed = await server.exchange()
            assert answer == b"" and elapsed < CLOSE_BOUND
            # malformed, truncated, and a bad v2 fixed part
            for header in (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
                V2_SIGNATURE + b"\x21\x11\xff\xff",
            ):
                answer, elapsed = await server.exchange(header, tls=False)
                assert answer == b"" and elapsed < CLOSE_BOUND
            raw = socket.create_connection(
                ("127.0.0.1", server.port), source_address=(PROXY_ADDRESS, 0)
            )
            raw.sendall(b"PROXY TCP4 203.0.113.7 ")
            raw.close()  # truncated
            # too slow: nothing within the head deadline
            started = time.monotonic()
            answer, elapsed = await server.exchange(b"PROXY TCP4 203.0.113.7", b"", tls=False)
            assert answer == b""
            assert HEADER_TIMEOUT * 0.8 <= time.monotonic() - started < CLOSE_BOUND
            # a TCP health check (connect, close, no byte) is closed quietly
            socket.create_connection(
                ("127.0.0.1", server.port), source_address=(PROXY_ADDRESS, 0)
            ).close()
            await asyncio.sleep(0.2)
            await drained(server)

    run(scenario())
    refusals = [r for r in caplog.records if r.name == "panelauth.server.proxy_protocol"]
    assert len(refusals) == 1  # five closes, one line (the rest would come a minute later)
    assert refusals[0].levelno == logging.WARNING and refusals[0].exc_info is None
    assert "from 127.0.0.2: no PROXY header" in refusals[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_the_per_address_limit_counts_the_client_not_the_proxy(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    async def scenario() -> None:
        async with served(None, max_per_address=2, head_timeout=30) as server:
            held = []
            for _ in range(2):
                raw = socket.create_connection(
                    ("127.0.0.1", server.port), source_address=(PROXY_ADDRESS, 0)
                )
                raw.sendall(v1("TCP4", "192.0.2.10", "192.0.2.1", 5, 80))
                held.append(raw)
            deadline = time.monotonic() + 5
            while server.limits.total < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert server.limits.by_address == {"192.0.2.10": 2}
            refused, _ = await server.exchange(v1("TCP4", "192.0.2.10", "192.0.2.1", 6, 80))
            assert refused == b""
            other, _ = await server.exchange(v1("TCP4", "192.0.2.11", "192.0.2.1", 6, 80))
            assert body(other) == "192.0.2.11 6 plain"
            for raw in held:
                raw.close()
            await drained(server)

    run(scenario())


def test_closing_the_site_stops_accepting_and_drops_pending_headers(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    async def scenario() -> None:
        async with served(None, head_timeout=30) as server:
            raw = socket.create_connection(
                ("127.0.0.1", server.port), source_address=(PROXY_ADDRESS, 0)
            )
            raw.sendall(b"PROXY TCP4 ")
            await asyncio.sleep(0.1)
            acceptor = server.site._server
            assert isinstance(acceptor, proxy_protocol.ProxyAcceptor) and acceptor.is_serving()
            assert acceptor.get_loop() is asyncio.get_running_loop()
            assert [sock.getsockname()[1] for sock in acceptor.sockets] == [server.port]
            await server.site.stop()
            await acceptor.wait_closed()
            assert not acceptor.is_serving() and acceptor.sockets == ()
            raw.settimeout(5)
            assert raw.recv(10) == b""  # dropped, without an answer
            raw.close()
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()

    run(scenario())


class _OutOfDescriptors(socket.socket):
    """A listening socket whose first accept() fails as when the process has no fd left."""

    failures = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if _OutOfDescriptors.failures:
            _OutOfDescriptors.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_a_failed_accept_pauses_accepting_then_recovers(
    run: Callable[[Coroutine[Any, Any, None]], None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(proxy_protocol, "ACCEPT_RETRY_DELAY", 0.3)
    _OutOfDescriptors.failures = 2

    async def scenario() -> None:
        async with served(None, sock_class=_OutOfDescriptors) as server:
            started = time.monotonic()
            first, _ = await server.exchange(v1("TCP4", "192.0.2.5", "192.0.2.1", 5, 80))
            second, _ = await server.exchange(source=DIRECT_ADDRESS)
            assert body(first) == "192.0.2.5 5 plain"
            assert body(second).startswith(f"{DIRECT_ADDRESS} ")
            assert 0.5 <= time.monotonic() - started < CLOSE_BOUND  # two pauses
            await drained(server)

    run(scenario())
    failures = [r for r in caplog.records if "accept() failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].levelno == logging.WARNING  # once a minute
    assert "Too many open files" in failures[0].getMessage()


async def drained(server: Served) -> None:
    """Every connection the server counted has been released."""
    deadline = time.monotonic() + 5
    while server.limits.total and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert server.limits.total == 0 and server.limits.by_address == {}
