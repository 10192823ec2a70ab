"""One request, start to finish (docs/architecture.md draws it; w§1.4 is the order).

facts (server/request_info) -> rules (server/rules) -> AuthenticatorChain (core) -> the
function (api/dispatch) -> render (api/answers, server/render) -> logs. This module adapts
aiohttp to `core` and `api` and holds no policy of its own: each step is another module's job,
called once. The load balancers' probes (`/healthz`, `/readyz`, server/health, w§1.7) are
answered before the first step, and only the access log records them.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from functools import lru_cache

from aiohttp import web

from panelauth.api.answers import Endpoint, Envelope, render
from panelauth.api.outcome import Outcome
from panelauth.api.registry import Api
from panelauth.core.models import Identity
from panelauth.errors import (
    AuthenticationFailed,
    BadRequest,
    FunctionNotFound,
    InvalidArgument,
    MailboxPasswordIncorrect,
    PanelauthError,
    SslRequired,
    TokenScopeDenied,
    TwoFactorFailed,
)
from panelauth.protocol.addresses import client_address
from panelauth.protocol.logformat import request_line
from panelauth.protocol.params import Params
from panelauth.protocol.paths import BadPath
from panelauth.protocol.services import Listener, Service
from panelauth.server import responses
from panelauth.server.browser import Browser
from panelauth.server.health import Health, probe_of
from panelauth.server.render import answer_response, error_response
from panelauth.server.request_info import RequestFacts, public_host
from panelauth.server.rules import (
    carries_cpanel_token,
    check_api_request,
    check_token_scope,
)
from panelauth.server.state import ServerState

log = logging.getLogger(__name__)


class Route(enum.Enum):
    WHM1 = "whm1"  # /json-api/<fn>
    UAPI = "uapi"  # /execute/<Module>/<fn>
    CPANEL_JSONAPI = "cpanel"  # /json-api/cpanel (API 2, or UAPI with apiversion=3)
    UAPI_CPANEL = "uapi_cpanel"  # /json-api/uapi_cpanel (UAPI through WHM)
    XML = "xml"  # /xml-api/...: not served (w§1.6)
    HTML = "html"


@dataclass(frozen=True, slots=True)
class Target:
    route: Route
    # the envelope of an error of the request; None for pages, and for /json-api/cpanel,
    # whose API and names come from the query (see `_request_endpoint`)
    endpoint: Endpoint | None = None


_HTML = Target(Route.HTML)
_XML = Target(Route.XML)
_API2 = Target(Route.CPANEL_JSONAPI)
_UAPI_CPANEL = Target(Route.UAPI_CPANEL, Endpoint(Envelope.UAPI_CPANEL, "", "uapi_cpanel"))
_APPLIST = Endpoint(Envelope.APPLIST, "", "applist")
# `cpanel_jsonapi_apiversion` on /json-api/cpanel: API 2 (the default) or UAPI (w§15.3)
API2_VERSION = "2"
UAPI_VERSION = "3"
JSONAPI_VERSIONS = (API2_VERSION, UAPI_VERSION)
API2_CONTROL = (
    "cpanel_jsonapi_module",
    "cpanel_jsonapi_func",
    "cpanel_jsonapi_apiversion",
    "cpanel_jsonapi_user",
    "api.version",
)


@lru_cache(maxsize=1024)
def classify(segments: tuple[str, ...]) -> Target:
    """The route of a path, with its envelope: computed once per distinct path."""
    if len(segments) == 2 and segments[0] == "json-api":
        name = segments[1]
        if name == "cpanel":
            return _API2
        if name == "uapi_cpanel":
            return _UAPI_CPANEL
        return Target(Route.WHM1, Endpoint(Envelope.WHM1, "", name))
    if len(segments) == 3 and segments[0] == "execute":
        return Target(Route.UAPI, Endpoint(Envelope.UAPI, segments[1], segments[2]))
    if segments[:1] == ("xml-api",):
        return _XML
    return _HTML


class Gateway:
    """The request handler of one listener (the port decides the service)."""

    def __init__(
        self, listener: Listener, state: ServerState, *, health: Health | None = None
    ) -> None:
        self.listener = listener
        self.service = listener.service
        self.state = state
        # the probes' answers, shared by the worker's six gateways (one per store)
        self.health = health if health is not None else Health.for_store(state.runtime.store)
        self.clock = state.runtime.clock
        # the worker's shared decision settings (requiressl, lifetimes, ...: core/shared_settings)
        self.shared = state.runtime.shared
        self.browser = Browser(listener, state)
        self.port_offset = listener.port_offset

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        identity: Identity | None = None
        facts: RequestFacts | None = None
        # one reading of the clock stamps every line this request logs here
        at = self.clock.now()
        address = self._client_address(request)
        response: web.StreamResponse
        try:
            probe = probe_of(request.raw_path)
            if probe is not None:
                # w§1.7: before every rule (require_ssl included), credential and counter
                response = await self.health.answer(probe, request.method)
            else:
                # cached reads see every write committed by now
                self.state.runtime.store.begin_request()
                # the shared settings, re-read (once for every request waiting) when 1 s old;
                # `SharedSettingsView.stale` written out: two attribute reads, one comparison
                shared = self.shared
                if not shared.read_at <= at < shared.due:
                    await shared.refresh()
                facts = RequestFacts(request, self.listener, address, self.state.settings)
                response, identity = await self._handle(request, facts, at)
        except BadPath:
            response = responses.text_response(400, "Bad Request")
        except Exception as error:
            if isinstance(error, ConnectionError) and _client_gone(request):
                # the client went away mid-request: nobody to answer, nothing to report
                log.debug("client %s went away on port %s", address, self.listener.port)
                return responses.text_response(400, "Bad Request")  # never written
            log.exception("unhandled error on %s %s", request.method, self.listener.port)
            response = responses.text_response(500, "Internal Server Error")
        self._log_access(request, facts, response, identity, address, at)
        return response

    async def _handle(
        self, request: web.BaseRequest, facts: RequestFacts, at: float
    ) -> tuple[web.StreamResponse, Identity | None]:
        target = classify(facts.path.segments)
        route = target.route
        if route is Route.HTML:
            return await self._page(request, facts)
        if route is Route.XML:
            return responses.text_response(404, "Not Found"), None
        identity: Identity | None = None
        try:
            # 1. the rules before any credential is looked at (w§1.2, w§1.6, w§6)
            check_api_request(facts, require_ssl=self.shared.value.require_ssl)
            # 2. authentication: one answer for every failure (w§2.0)
            identity = await self.state.authenticator.authenticate(facts)
            # 3. parameters; a cPanel token reaches UAPI and API 2 only, whichever path carries
            # them: /execute, or /json-api/cpanel with version 2 or 3 (w§2.4)
            params = await self._params(request, facts)
            if route is not Route.UAPI:
                version = params.get("cpanel_jsonapi_apiversion", API2_VERSION)
                uapi_or_api2 = route is Route.CPANEL_JSONAPI and version in JSONAPI_VERSIONS
                check_token_scope(identity, uapi_or_api2=uapi_or_api2)
            # 4. every check passed: only now is the login recorded (CV-10)
            self._logged_in(identity, facts, at)
            # 5. routing, authorisation and the function (api/dispatch)
            # the Host as sent: checked only by a function that hands out a URL (SS-8)
            host = request.host
            outcome, endpoint = await self._call(target, identity, params, facts.address, host)
            self._check_password_failed(outcome, identity, facts)
        except PanelauthError as error:
            self._refused(error, facts)
            endpoint = target.endpoint or _request_endpoint(request)
            return error_response(error, self.service, endpoint), identity
        # 6. the envelope, built once
        return answer_response(render(outcome, endpoint, self.service)), identity

    async def _page(
        self, request: web.BaseRequest, facts: RequestFacts
    ) -> tuple[web.StreamResponse, Identity | None]:
        """An HTML path: pages are reached with a session cookie only (w§2.0)."""
        try:
            # w§2.4: a cPanel token reaches UAPI and API 2 only; on every other path of a
            # cPanel port (2082 too) the scheme alone decides, and the token is never looked up
            if carries_cpanel_token(facts):
                raise TokenScopeDenied()
            if not self.listener.tls:
                return self._plain_html(request, facts), None
            return await self.browser.handle(request, facts)
        except PanelauthError as error:
            json_login = _is_json_login(facts)
            return error_response(error, self.service, None, json_login=json_login), None

    def _plain_html(self, request: web.BaseRequest, facts: RequestFacts) -> web.Response:
        """w§1.2: pages move to the TLS twin; a JSON login gets 403 SSL required."""
        if _is_json_login(facts):
            return responses.json_response(403, {"status": 0, "message": "SSL is required"})
        # the host comes from configuration, never from an unchecked Host header (SS-8)
        host = public_host(request, self.state.settings)
        path, query = facts.path, facts.query
        prefix = path.security_token or ""
        location = f"https://{host}:{self.listener.twin_port}{prefix}{path.path}"
        return responses.redirect(301, location + (f"?{query}" if query else ""))

    # -- parameters and the call -----------------------------------------------------------

    async def _params(self, request: web.BaseRequest, facts: RequestFacts) -> Params:
        if facts.method != "POST":
            return Params.from_query(facts.query)
        if request.content_type == "multipart/form-data":
            raise BadRequest("multipart/form-data is not supported; send a URL-encoded form")
        try:
            text = (await facts.body(request)).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("The request body is not UTF-8") from None
        return Params.from_query(facts.query, text)

    async def _call(
        self, target: Target, identity: Identity, params: Params, address: str, host: str
    ) -> tuple[Outcome, Endpoint]:
        """The function's outcome, and the envelope it is answered in."""
        dispatcher = self.state.dispatcher
        route, endpoint = target.route, target.endpoint
        if route is Route.WHM1:
            assert endpoint is not None
            if self.service is not Service.WHM:
                raise FunctionNotFound()  # WHM API 1 never runs on cPanel or Webmail (w§1.3)
            version = params.get("api.version")
            if version is not None and version != "1":
                raise BadRequest(f"Unsupported API version: {version[:16]}")
            name = endpoint.name
            outcome = await dispatcher.whm1(
                identity,
                name,
                params,
                client_address=address,
                host=host,
                port_offset=self.port_offset,
            )
            if version is None and name == "applist":
                # legacy API 0 shape that old access-hash clients probe with (w§15.1)
                return outcome, _APPLIST
            return outcome, endpoint
        if route is Route.UAPI:
            assert endpoint is not None
            if self.service is Service.WHM:
                raise FunctionNotFound()
            outcome = await dispatcher.cpanel(
                Api.UAPI,
                identity,
                self.service,
                endpoint.module,
                endpoint.name,
                params,
                client_address=address,
                host=host,
                port_offset=self.port_offset,
            )
            return outcome, endpoint
        if route is Route.CPANEL_JSONAPI:
            return await self._cpanel_jsonapi(identity, params, address, host)
        assert endpoint is not None
        if self.service is not Service.WHM:
            raise FunctionNotFound()
        return await self._uapi_cpanel(identity, params, address, host), endpoint

    async def _cpanel_jsonapi(
        self, identity: Identity, params: Params, address: str, host: str
    ) -> tuple[Outcome, Endpoint]:
        """`/json-api/cpanel`: API 2 (version 2 or none) or UAPI (version 3), on a cPanel or
        Webmail port or through WHM (w§15.3); the same rights as `/execute` and `uapi_cpanel`
        for UAPI, as the API 2 path for API 2, since both go through `Dispatcher.cpanel`."""
        module = params.get("cpanel_jsonapi_module", "")
        function = params.get("cpanel_jsonapi_func", "")
        version = params.get("cpanel_jsonapi_apiversion", API2_VERSION)
        user = params.get("cpanel_jsonapi_user", "") or None
        if version == UAPI_VERSION:
            api, endpoint = Api.UAPI, Endpoint(Envelope.UAPI_JSONAPI, module, function)
        else:
            api, endpoint = Api.API2, Endpoint(Envelope.API2, module, function)
        if version == "1":
            legacy = FunctionNotFound(
                "cPanel API 1 (cpanel_jsonapi_apiversion=1) is not served;"
                " use 2 (cPanel API 2) or 3 (UAPI)."
            )
            return Outcome(error=legacy), endpoint
        if version not in JSONAPI_VERSIONS:
            unknown = BadRequest(
                f"Unsupported cpanel_jsonapi_apiversion: {version[:16]};"
                " use 2 (cPanel API 2) or 3 (UAPI)."
            )
            return Outcome(error=unknown), endpoint
        if not module or not function:
            missing = InvalidArgument("cpanel_jsonapi_module and cpanel_jsonapi_func are required.")
            return Outcome(error=missing), endpoint
        outcome = await self.state.dispatcher.cpanel(
            api,
            identity,
            self.service,
            module,
            function,
            params.without(*API2_CONTROL),
            client_address=address,
            acting_user=user,
            # the Host as sent: read only by a function that hands out a URL (SS-8)
            host=host,
            port_offset=self.port_offset,
        )
        return outcome, endpoint

    async def _uapi_cpanel(
        self, identity: Identity, params: Params, address: str, host: str
    ) -> Outcome:
        """`/json-api/uapi_cpanel`: UAPI through WHM, flat result in `data.uapi` (w§15.4)."""
        module = params.get("cpanel.module", "")
        function = params.get("cpanel.function", "")
        user = params.get("cpanel.user", "") or None
        if not module or not function:
            raise InvalidArgument("cpanel.module and cpanel.function are required.")
        args = params.without("cpanel.module", "cpanel.function", "cpanel.user", "api.version")
        return await self.state.dispatcher.cpanel(
            Api.UAPI,
            identity,
            self.service,
            module,
            function,
            args,
            client_address=address,
            acting_user=user,
            host=host,
            port_offset=self.port_offset,
        )

    # -- logs ------------------------------------------------------------------------------

    def _check_password_failed(
        self, outcome: Outcome, identity: Identity, facts: RequestFacts
    ) -> None:
        """A wrong mailbox password given to a `check_password` function is a failed login
        for that mailbox (w§10.2)."""
        error = outcome.error
        if isinstance(error, MailboxPasswordIncorrect):
            self.state.authentication_failed(
                address=facts.address,
                claimed_user=error.mailbox,
                request=facts.request_line,
                service=Service.WEBMAIL,
                reason=error.detail,
                factor="password",
            )

    def _logged_in(self, identity: Identity, facts: RequestFacts, at: float) -> None:
        """A header credential passed every check (CV-10); a session logged in long ago."""
        if facts.credentials is None:
            return
        state, service, address = self.state, self.service, facts.address
        state.audit.authenticated_at(
            at,
            user=identity.user,
            factor=identity.credential.value,
            service=service.value,
            address=address,
        )
        if self.shared.value.log_successful_logins:
            state.login_log.success(address=address, user=identity.user, service=service, at=at)

    def _refused(self, error: PanelauthError, facts: RequestFacts) -> None:
        """Failed credentials go to login_log and the audit log (LG-2); SSL refusals to audit."""
        if isinstance(error, AuthenticationFailed | TwoFactorFailed):
            if isinstance(error, AuthenticationFailed):
                claimed = error.claimed_user
            else:
                credentials = facts.credentials
                claimed = credentials.user if credentials is not None else ""
            self.state.authentication_failed(
                address=facts.address,
                claimed_user=claimed,
                request=facts.request_line,
                service=self.service,
                reason=error.detail,
                factor="header",
            )
        elif isinstance(error, SslRequired):
            self.state.audit.write(
                event="auth",
                outcome="refused",
                reason="ssl required",
                service=self.service.value,
                address=facts.address,
            )

    def _client_address(self, request: web.BaseRequest) -> str:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        peer_host = peer[0] if isinstance(peer, tuple) and peer else ""
        settings = self.state.settings
        # with the PROXY protocol the transport's peer is already the client its header named,
        # and X-Forwarded-For is never believed (docs/proxy-protocol.md)
        if not settings.trusted_proxies or settings.proxy_protocol:
            return _peer_address(peer_host)
        trusted = settings.trusted_proxies
        return client_address(peer_host, request.headers.get("X-Forwarded-For"), trusted)

    def _log_access(
        self,
        request: web.BaseRequest,
        facts: RequestFacts | None,
        response: web.StreamResponse,
        identity: Identity | None,
        address: str,
        at: float,
    ) -> None:
        if facts is not None:
            line, user_agent = facts.request_line, facts.user_agent
        else:
            version = f"HTTP/{request.version.major}.{request.version.minor}"
            line = request_line(request.method, request.raw_path, version)
            user_agent = request.headers.get("User-Agent")
        self.state.access_log.write(
            at=at,
            address=address,
            user=identity.user if identity else None,
            request=line,
            status=response.status,
            size=response.content_length or 0,
            user_agent=user_agent,
            port=self.listener.port,
        )


@lru_cache(maxsize=4096)
def _peer_address(peer: str) -> str:
    """The TCP peer as the logs and rules name it (w§1.5), formatted once per peer."""
    return client_address(peer, None, ())


def _request_endpoint(request: web.BaseRequest) -> Endpoint:
    """The envelope of `/json-api/cpanel` for an error of the request: UAPI's wrapped result
    if the query asks for version 3, else API 2's; the names it asked for, from the query
    only, shortened (they are echoed, never parsed as arguments)."""
    query = request.rel_url.query
    module = query.get("cpanel_jsonapi_module", "")[:64]
    function = query.get("cpanel_jsonapi_func", "")[:64]
    if query.get("cpanel_jsonapi_apiversion") == UAPI_VERSION:
        return Endpoint(Envelope.UAPI_JSONAPI, module, function)
    return Endpoint(Envelope.API2, module, function)


def _client_gone(request: web.BaseRequest) -> bool:
    """The client's connection is closed or closing (a reset, or a close mid-request)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _is_json_login(facts: RequestFacts) -> bool:
    """`POST /login/?login_only=1` (w§3.1), which answers JSON, errors included."""
    return (
        facts.path.segments[:1] == ("login",)
        and facts.method == "POST"
        and "login_only" in facts.query
    )
