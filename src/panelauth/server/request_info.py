"""Facts about one request that several handlers need, computed once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from panelauth.core.settings import Settings
from panelauth.errors import BadRequest, PayloadTooLarge, RequestTimeout
from panelauth.protocol.logformat import request_line
from panelauth.protocol.services import Listener


@dataclass
class RequestInfo:
    listener: Listener
    address: str
    query: str
    method: str
    raw_path: str
    version: str
    max_body: int
    # seconds allowed for the whole body, from the moment it is first read (TR-6)
    body_timeout: float = 30.0
    cross_site: bool = False
    top_level_navigation: bool = False
    _body: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        request: web.BaseRequest,
        listener: Listener,
        address: str,
        max_body: int,
        body_timeout: float = 30.0,
    ) -> RequestInfo:
        headers = request.headers
        return cls(
            listener=listener,
            address=address,
            query=request.raw_path.partition("?")[2],
            method=request.method,
            raw_path=request.raw_path,
            version=f"HTTP/{request.version.major}.{request.version.minor}",
            max_body=max_body,
            body_timeout=body_timeout,
            cross_site=_cross_site(request, listener),
            top_level_navigation=(
                request.method == "GET" and headers.get("Sec-Fetch-Mode", "navigate") == "navigate"
            ),
        )

    @property
    def request_line(self) -> str:
        """The redacted request line for logs (w§14.3)."""
        return request_line(self.method, self.raw_path, self.version)

    async def body(self, request: web.BaseRequest) -> bytes:
        if self._body is None:
            if request.content_length is not None and request.content_length > self.max_body:
                raise PayloadTooLarge()
            chunks, size = [], 0
            try:
                # one bound for the whole body: a client trickling a byte a second is cut off
                async with asyncio.timeout(self.body_timeout):
                    while chunk := await request.content.readany():
                        size += len(chunk)
                        if size > self.max_body:
                            raise PayloadTooLarge()
                        chunks.append(chunk)
            except TimeoutError:
                raise RequestTimeout() from None
            self._body = b"".join(chunks)
        return self._body

    async def form(self, request: web.BaseRequest) -> dict[str, str]:
        """A URL-encoded form body, whatever its Content-Type (w§1.6)."""
        try:
            text = (await self.body(request)).decode("utf-8")
            return dict(
                parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=100)
            )
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("Malformed form") from None


def _cross_site(request: web.BaseRequest, listener: Listener) -> bool:
    """A browser request marked cross-site, or whose Origin is not the host it addressed (w§6).

    The Origin is compared with the Host header rather than the listener's port, so requests
    through a TLS-terminating proxy (cpanel.example.com on 443) stay same-origin.
    """
    headers = request.headers
    if headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = headers.get("Origin")
    # With Referrer-Policy: no-referrer, browsers send "Origin: null" even for same-origin form
    # posts; then Sec-Fetch-Site (checked above) decides, and the /cpsess token still guards.
    if origin is None or origin == "null":
        return False
    default_port = 443 if listener.tls else 80
    try:
        origin_parts = urlsplit(origin)
        host_parts = urlsplit(f"//{request.host}")
        origin_port = origin_parts.port or (443 if origin_parts.scheme == "https" else 80)
        host_port = host_parts.port or default_port
    except ValueError:
        return True
    return (origin_parts.hostname, origin_port) != (host_parts.hostname, host_port)


def public_host(request: web.BaseRequest, settings: Settings) -> str:
    """The request's host if it is a configured server name, else the hostname (SS-8)."""
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    return host if host and settings.is_server_name(host) else settings.hostname
