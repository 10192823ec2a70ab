"""The PROXY protocol, versions 1 and 2, from trusted proxies only (docs/proxy-protocol.md).

A load balancer that passes TCP through (HAProxy `send-proxy-v2`, AWS NLB, nginx `stream`)
names the client in a header sent before anything else on the connection, so before the TLS
handshake on TLS ports (HAProxy's "The PROXY protocol, versions 1 & 2"). With the setting
`proxy_protocol` on:

* **Trust.** A connection from an address in `trusted_proxies` must begin with a header, v1
  (text) or v2 (binary), told apart by its signature. Its source address becomes the client's
  address for everything (`peername` of the transport the request sees, hence the logs,
  brute-force counting, token IP lists, session binding and the per-address connection limit).
  `LOCAL` (v2) and `UNKNOWN` (v1), and the valid v2 families that are not TCP over IPv4/IPv6,
  keep the peer's own address, as the spec says. A trusted peer that sends no header, a
  malformed or truncated one, or none within `request_head_timeout`, is closed without an
  answer; `TrustedProxies` reports those at most once a minute, with a count. A connection
  that closes before sending a byte (a TCP health check) is closed quietly.
* **Everyone else is served as before,** with the TCP peer as the client: the spec forbids
  guessing whether a header is present, so an untrusted peer's bytes are never looked at for
  one (a header it sends is whatever HTTP or TLS makes of it: a 400, or a failed handshake).
  Closing such connections would protect nothing (their address is the real one) and would
  lock out direct access (an administrator on the box, monitoring); serving them keeps it.
* **X-Forwarded-For is not believed** while the PROXY protocol is on: the header already names
  the client, and a client behind the proxy could otherwise write its own
  (server/listeners.py hands the gateway settings with no trusted proxy).

The seam is the socket, before aiohttp or TLS see it. `ProxyAcceptor` accepts a listener's
connections itself; a trusted peer's header is read with exact-size reads (`bytes_wanted`
never asks for a byte past the header, so the TLS ClientHello or the request stays in the
socket), then the socket is handed to the loop with `loop.connect_accepted_socket`, which is
what `create_server` does for each accepted socket: the same TLS handshake (with the same
deadline) and the same aiohttp connection protocol. `ProxiedRequestHandler` gives that
protocol a transport whose `peername` is the client from the header. The header's deadline is
a timer per trusted connection (`asyncio.timeout`), only while its header is read.

The alternative seam, a protocol that reads the header and then calls `loop.start_tls`, is
unsafe on uvloop: it starts reading a new transport as soon as `connection_made` returns, and
`start_tls` is a coroutine, so it runs a loop turn later; a ClientHello that arrives in between
is read by the wrong protocol (measured: 160 of 200 loopback connections), and `start_tls`
takes no bytes already read. With the setting off none of this runs: listeners use
`GuardedSockSite` and the loop's own accept, exactly as before.

The parser is written here, for a small, exactly specified format: the PyPI package
`proxy-protocol` was considered, but its reader reads v1 by lines from a buffered stream
(which would take bytes past the header on a TLS port), treats a closed connection as
`UNKNOWN`, and bounds neither the v1 line nor the v2 length.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from panelauth.protocol.addresses import IPNetwork, is_trusted, normalize_address
from panelauth.server.connections import (
    GuardedRequestHandler,
    GuardedServer,
    GuardedSockSite,
    ThrottledReport,
)

log = logging.getLogger(__name__)

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX_BYTES = 107  # the spec's bound for the whole line, CRLF included
V1_MIN_BYTES = len(b"PROXY UNKNOWN\r\n")
V2_FIXED_BYTES = 16  # signature, version and command, family, length
# 16 + the longest address block (AF_UNIX, 216) + room for every TLV a balancer sends (AWS
# NLB's endpoint ID, HAProxy's unique ID, authority and SSL details); the field allows 65535
V2_MAX_BYTES = 4096

_V2_LOCAL, _V2_PROXY = 0x0, 0x1
# family and transport byte -> its address block's size; any other value is invalid
_V2_ADDRESS_BYTES = {0x00: 0, 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}
_V2_TCP4, _V2_TCP6 = 0x11, 0x21

# v1: the fields after the protocol (source, destination, source port, destination port), each
# with its shortest valid spelling, and the shortest rest of a line after each protocol name
_V1_MIN_FIELDS = {b"TCP4": (7, 7, 1, 1), b"TCP6": (2, 2, 1, 1)}
_V1_MIN_TAIL = {b"UNKNOWN": 2, b"TCP4": len(b" 0.0.0.0 0.0.0.0 0 0\r\n"), b"TCP6": 12}


class ProxyHeaderError(ValueError):
    """Not a whole, valid PROXY header; the message is a fixed phrase, safe to log."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    version: int  # 1 or 2
    length: int  # bytes the header took on the wire
    # the client's address and port; None: keep the peer's own (LOCAL, UNKNOWN, other families)
    client: tuple[str, int] | None


def bytes_wanted(head: bytes) -> int:
    """How many more bytes the start of a connection needs before it holds a whole header.

    0 when it does (`parse_header` then reads it). Otherwise a lower bound: a reader that asks
    for exactly this many never takes a byte past the header. Raises ProxyHeaderError as soon
    as `head` cannot begin a valid header.
    """
    n = len(head)
    if n == 0:
        return V1_MIN_BYTES  # the shortest header of either version
    if head[0] == V2_SIGNATURE[0]:
        return _v2_wanted(head)
    if head[:6] != V1_PREFIX[:n]:
        raise ProxyHeaderError("no PROXY header")
    if n < len(V1_PREFIX):
        return V1_MIN_BYTES - n
    return _v1_wanted(head)


def parse_header(data: bytes) -> ProxyHeader:
    """The header at the start of `data` (bytes after it are left alone)."""
    if bytes_wanted(data):
        raise ProxyHeaderError("truncated PROXY header")
    if data[0] == V2_SIGNATURE[0]:
        return _parse_v2(data)
    return _parse_v1(data)


# -- version 2 ---------------------------------------------------------------------------------


def _v2_wanted(head: bytes) -> int:
    n = len(head)
    if head[:12] != V2_SIGNATURE[:n]:
        raise ProxyHeaderError("no PROXY header")
    if n < V2_FIXED_BYTES:
        return V2_FIXED_BYTES - n
    total = _v2_total(head)
    return max(0, total - n)


def _v2_total(head: bytes) -> int:
    """Check the fixed part; the header's whole length."""
    if head[12] >> 4 != 2:
        raise ProxyHeaderError("unsupported PROXY header version")
    command = head[12] & 0x0F
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise ProxyHeaderError("unknown PROXY v2 command")
    length = int.from_bytes(head[14:16], "big")
    total = V2_FIXED_BYTES + length
    if total > V2_MAX_BYTES:
        raise ProxyHeaderError("PROXY v2 header too long")
    if command == _V2_PROXY:  # LOCAL: the family "is ignored" (the spec)
        family = head[13]
        if family not in _V2_ADDRESS_BYTES:
            raise ProxyHeaderError("unknown PROXY v2 address family")
        if length < _V2_ADDRESS_BYTES[family]:
            raise ProxyHeaderError("PROXY v2 addresses shorter than their family")
    return total


def _parse_v2(data: bytes) -> ProxyHeader:
    total = _v2_total(data)
    family = data[13]
    if data[12] & 0x0F == _V2_LOCAL:
        return ProxyHeader(2, total, None)
    block = data[V2_FIXED_BYTES:total]  # the TLVs after the addresses are ignored
    if family == _V2_TCP4:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(block[:4])
        port = int.from_bytes(block[8:10], "big")
    elif family == _V2_TCP6:
        address = ipaddress.IPv6Address(block[:16])
        port = int.from_bytes(block[32:34], "big")
    else:
        # UNSPEC, UDP and AF_UNIX: valid, not TCP over IP; the spec lets a receiver fall back
        # to the real connection's endpoints
        return ProxyHeader(2, total, None)
    return ProxyHeader(2, total, (normalize_address(str(address)), port))


# -- version 1 ---------------------------------------------------------------------------------


def _v1_wanted(head: bytes) -> int:
    n = len(head)
    end = head.find(b"\n")
    if end >= 0:
        if end >= V1_MAX_BYTES:
            raise ProxyHeaderError("PROXY v1 header too long")
        return 0
    if n >= V1_MAX_BYTES:
        raise ProxyHeaderError("PROXY v1 header too long")
    wanted = 1 if head.endswith(b"\r") else _v1_rest(head[len(V1_PREFIX) :])
    if n + wanted > V1_MAX_BYTES:
        raise ProxyHeaderError("PROXY v1 header too long")
    return wanted


def _v1_rest(line: bytes) -> int:
    """The fewest bytes that can still follow `line` (after "PROXY ", no CR or LF yet)."""
    fields = line.split(b" ")
    protocol = fields[0]
    if len(fields) == 1:  # the protocol's name is still arriving
        candidates = [name for name in _V1_MIN_TAIL if name.startswith(protocol)]
        if not candidates:
            raise ProxyHeaderError("unknown PROXY v1 protocol")
        return min(len(name) - len(protocol) + _V1_MIN_TAIL[name] for name in candidates)
    if protocol == b"UNKNOWN":
        return 2  # anything may follow until CRLF
    widths = _V1_MIN_FIELDS.get(protocol)
    if widths is None:
        raise ProxyHeaderError("unknown PROXY v1 protocol")
    arrived = fields[1:]
    if len(arrived) > len(widths):
        raise ProxyHeaderError("malformed PROXY v1 header")
    current = len(arrived) - 1  # the field being received
    wanted = max(0, widths[current] - len(arrived[-1]))
    return wanted + sum(1 + width for width in widths[current + 1 :]) + 2


def _parse_v1(data: bytes) -> ProxyHeader:
    end = data.index(b"\n") + 1
    if data[end - 2 : end] != b"\r\n":
        raise ProxyHeaderError("malformed PROXY v1 header")
    fields = data[len(V1_PREFIX) : end - 2].split(b" ")
    if fields[0] == b"UNKNOWN":
        return ProxyHeader(1, end, None)  # the rest of the line is ignored (the spec)
    if len(fields) != 5 or fields[0] not in _V1_MIN_FIELDS:
        raise ProxyHeaderError("malformed PROXY v1 header")
    version = 4 if fields[0] == b"TCP4" else 6
    source = _v1_address(fields[1], version)
    _v1_address(fields[2], version)
    source_port = _v1_port(fields[3])
    _v1_port(fields[4])
    return ProxyHeader(1, end, (source, source_port))


def _v1_address(text: bytes, version: int) -> str:
    try:
        decoded = text.decode("ascii")
        if "%" in decoded:
            raise ValueError(decoded)  # no IPv6 zone: not an address on the wire
        address = ipaddress.ip_address(decoded)
    except ValueError:
        raise ProxyHeaderError("malformed PROXY v1 address") from None
    if address.version != version:
        raise ProxyHeaderError("malformed PROXY v1 address")
    return normalize_address(str(address))


def _v1_port(text: bytes) -> int:
    if not (1 <= len(text) <= 5 and text.isdigit()) or int(text) > 65535:
        raise ProxyHeaderError("malformed PROXY v1 port")
    return int(text)


# -- whom to believe ---------------------------------------------------------------------------


class TrustedProxies:
    """The trust rule and the report of connections closed for their header; one per worker,
    shared by its six listeners."""

    def __init__(
        self,
        networks: Iterable[IPNetwork],
        *,
        report_interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.networks = tuple(networks)
        self._report = ThrottledReport(
            log,
            "closed %d connection(s) from a trusted proxy without a valid PROXY header, "
            "the last from %s: %s",
            interval=report_interval,
            monotonic=monotonic,
        )

    def trusts(self, peer: str) -> bool:
        return is_trusted(peer, self.networks)

    def refused(self, peer: str, reason: str) -> None:
        self._report.add(normalize_address(peer), reason)


# -- the seam ----------------------------------------------------------------------------------


class ClientAddressTransport(asyncio.Transport):
    """A connection's transport, whose `peername` is the client named by the PROXY header."""

    __slots__ = ("_inner", "_peername")

    def __init__(self, inner: asyncio.Transport, peername: tuple[str, int]) -> None:
        super().__init__()
        self._inner = inner
        self._peername = peername

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peername
        return self._inner.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def close(self) -> None:
        self._inner.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._inner.write(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self._inner.writelines(list_of_data)

    def write_eof(self) -> None:
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def abort(self) -> None:
        self._inner.abort()


class ProxiedRequestHandler(GuardedRequestHandler):
    """A GuardedRequestHandler whose transport names the client from the PROXY header."""

    def __init__(self, manager: GuardedServer, *, client: tuple[str, int], **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        inner = cast(asyncio.Transport, transport)
        super().connection_made(ClientAddressTransport(inner, self._client))


# after a failed accept() (out of descriptors or memory, most often), wait, then accept again
ACCEPT_RETRY_DELAY = 1.0


class _Quiet(Exception):
    """The connection ended before sending a byte: nothing to report."""


class ProxyAcceptor(asyncio.AbstractServer):
    """One listener's accept loop while the PROXY protocol is on (see the module docstring)."""

    def __init__(
        self,
        sock: socket.socket,
        server: GuardedServer,
        proxies: TrustedProxies,
        *,
        tls: ssl.SSLContext | None,
        handshake_timeout: float,
        header_timeout: float,
        backlog: int = 128,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._server = server
        self._proxies = proxies
        self._tls = tls
        self._handshake_timeout = handshake_timeout if tls is not None else None
        self._header_timeout = header_timeout
        self._backlog = backlog
        self._pending: set[asyncio.Task[None]] = set()
        self._reading = False
        self._closed = False
        self._retry: asyncio.TimerHandle | None = None
        self._finished: asyncio.Future[None] = self._loop.create_future()
        self._accept_errors = ThrottledReport(
            log, "accept() failed %d time(s) on port %s (the last: %s); pausing 1 s each time"
        )

    # -- asyncio.AbstractServer

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return not self._closed

    async def start_serving(self) -> None:
        self.start()

    async def serve_forever(self) -> None:
        self.start()
        await self._finished

    def close(self) -> None:
        """Stop accepting and close the listening socket, as asyncio's Server.close does;
        connections still in their header or handshake are dropped."""
        if self._closed:
            return
        self._closed = True
        self._stop_reading()
        if self._retry is not None:
            self._retry.cancel()
        self._sock.close()
        for task in list(self._pending):
            task.cancel()
        self._finished.set_result(None)

    async def wait_closed(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    # -- accepting

    def start(self) -> None:
        self._retry = None
        if not self._closed and not self._reading:
            self._loop.add_reader(self._sock.fileno(), self._accept_ready)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False

    def _accept_ready(self) -> None:
        for _ in range(self._backlog):
            try:
                conn, peer = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # gone before it was accepted
            except OSError as error:
                # accepting pauses a second either way, so that a lasting error cannot spin
                self._accept_errors.add(self._port(), error)
                self._stop_reading()
                self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY, self.start)
                return
            conn.setblocking(False)
            self._spawn(self._serve(conn, peer))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._finished_task)

    def _finished_task(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("error while accepting a connection", exc_info=error)

    def _port(self) -> object:
        try:
            return self._sock.getsockname()[1]
        except OSError:
            return "?"

    # -- one connection

    async def _serve(self, conn: socket.socket, peer: Any) -> None:
        handed = False
        try:
            host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            factory: Callable[[], RequestHandler] = self._server
            if self._proxies.trusts(host):
                try:
                    header = await self._read_header(conn)
                except _Quiet:
                    return
                except ProxyHeaderError as error:
                    self._proxies.refused(host, str(error))
                    return
                if header.client is not None:
                    factory = self._proxied(header.client)
            handed = True  # from here the loop owns the socket
            await self._loop.connect_accepted_socket(
                factory, conn, ssl=self._tls, ssl_handshake_timeout=self._handshake_timeout
            )
        except OSError as error:  # a failed or timed-out TLS handshake, a reset
            log.debug("connection from %s ended before it was served: %r", peer, error)
        finally:
            if not handed:
                conn.close()  # refused or cancelled: closed without an answer

    def _proxied(self, client: tuple[str, int]) -> Callable[[], RequestHandler]:
        def factory() -> RequestHandler:
            return self._server.handler(ProxiedRequestHandler, client=client)

        return factory

    async def _read_header(self, conn: socket.socket) -> ProxyHeader:
        """Read exactly the header (never a byte of what follows) within the head deadline."""
        head = b""
        try:
            async with asyncio.timeout(self._header_timeout):
                while wanted := bytes_wanted(head):
                    chunk = await self._loop.sock_recv(conn, wanted)
                    if not chunk:
                        raise ConnectionResetError
                    head += chunk
        except TimeoutError:
            raise ProxyHeaderError("no PROXY header in time") from None
        except OSError:
            if not head:
                raise _Quiet from None  # a TCP health check, or a peer that changed its mind
            raise ProxyHeaderError("the connection ended inside the PROXY header") from None
        return parse_header(head)


class ProxySockSite(GuardedSockSite):
    """A GuardedSockSite whose connections pass through a ProxyAcceptor: with the PROXY
    protocol on, every listener's site is one of these."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        *,
        proxies: TrustedProxies,
        handshake_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, sock, handshake_timeout=handshake_timeout, ssl_context=ssl_context)
        self._proxies = proxies

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert isinstance(server, GuardedServer)
        acceptor = ProxyAcceptor(
            self._sock,
            server,
            self._proxies,
            tls=self._ssl_context,
            handshake_timeout=self.handshake_timeout,
            header_timeout=server.head_timeout,
            backlog=self._backlog,
        )
        acceptor.start()
        self._server = acceptor
