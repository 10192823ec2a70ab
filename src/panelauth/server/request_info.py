"""RequestFacts: what every later step reads of a request, gathered once, up front.

The gateway builds one per request; the rules (server/rules.py), the authenticator chain (it
satisfies core's `AuthFacts`), the pages and the logs read it, and nothing reads the same
header twice. The Authorization header is parsed here, once, into credentials, a malformed
header, or neither.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from panelauth.api.handoffs import url_host
from panelauth.core.settings import Settings
from panelauth.errors import BadRequest, PayloadTooLarge, RequestTimeout
from panelauth.protocol.authorization import (
    BasicCredentials,
    Credentials,
    MalformedCredentials,
    Scheme,
    header_scheme,
    parse_authorization,
)
from panelauth.protocol.cookies import COOKIE_NAMES, cookie_values
from panelauth.protocol.logformat import request_line
from panelauth.protocol.paths import RequestPath, parse_path
from panelauth.protocol.services import Listener, Service

_VERSIONS = {(1, 1): "HTTP/1.1", (1, 0): "HTTP/1.0"}


class RequestFacts:
    """One request's facts; raises BadPath for a path that cannot be served (w§1.6)."""

    __slots__ = (
        "_body",
        "_request_line",
        "address",
        "authorization",
        "body_timeout",
        "cookies",
        "credentials",
        "cross_site",
        "listener",
        "malformed",
        "max_body",
        "method",
        "otp",
        "path",
        "query",
        "raw_path",
        "schemes",
        "service",
        "top_level_navigation",
        "user_agent",
        "version",
    )

    # header authentication always checks the second factor; a form login builds its own facts
    check_second_factor = True

    def __init__(
        self, request: web.BaseRequest, listener: Listener, address: str, settings: Settings
    ) -> None:
        headers = request.headers
        raw_path = request.raw_path
        path, _, query = raw_path.partition("?")
        self.path: RequestPath = parse_path(path)
        self.listener = listener
        self.service: Service = listener.service
        self.address = address
        self.method = request.method
        self.raw_path = raw_path
        self.query = query
        version = request.version
        self.version = _VERSIONS.get(version) or f"HTTP/{version.major}.{version.minor}"
        self.max_body = settings.max_body_bytes
        # seconds allowed for the whole body, from the moment it is first read (TR-6)
        self.body_timeout = settings.request_body_timeout
        self._body: bytes | None = None
        self._request_line: str | None = None
        # Authorization: counted (two are a 400, w§1.6), parsed once when there is one
        values = headers.getall("Authorization", ())
        self.authorization: str | None = values[0] if values else None
        self.credentials: Credentials | None = None
        self.malformed: MalformedCredentials | None = None
        self.schemes: tuple[Scheme | None, ...] = ()
        if len(values) == 1:
            try:
                credentials = self.credentials = parse_authorization(values[0])
                self.schemes = (
                    Scheme.BASIC
                    if isinstance(credentials, BasicCredentials)
                    else credentials.scheme,
                )
            except MalformedCredentials as malformed:
                self.malformed = malformed
                self.schemes = (header_scheme(values[0]),)
        elif values:
            self.schemes = tuple(header_scheme(value) for value in values)
        self.otp = headers.get("X-CPANEL-OTP")
        self.cookies = cookie_values(headers.get("Cookie"), COOKIE_NAMES[self.service])
        self.user_agent = headers.get("User-Agent")
        self.cross_site = _cross_site(request, listener)
        self.top_level_navigation = (
            self.method == "GET" and headers.get("Sec-Fetch-Mode", "navigate") == "navigate"
        )

    # -- what core's AuthFacts reads under other names -------------------------------------------

    @property
    def client_address(self) -> str:
        return self.address

    @property
    def security_token(self) -> str | None:
        """The supplied `/cpsess` segment (w§6)."""
        return self.path.security_token

    @property
    def request_line(self) -> str:
        """The redacted request line for logs (w§14.3), built once."""
        line = self._request_line
        if line is None:
            line = self._request_line = request_line(self.method, self.raw_path, self.version)
        return line

    # -- the body ------------------------------------------------------------------------------

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
    return settings.public_host(request.host)


def service_origin(
    request: web.BaseRequest, settings: Settings, service: Service, port_offset: int
) -> str:
    """Where a one-time login URL made from a page opens `service`: its TLS port, shifted like
    this server's, on the host the browser used when that is one of the server's names."""
    host = public_host(request, settings)
    return f"https://{url_host(host)}:{service.tls_port + port_offset}"
