"""One request, start to finish: port rules, authentication, routing, envelope, logs.

The flow is w§1.4: plain-port rule -> authentication -> routing (404) -> authorisation (403) ->
the function. This module adapts aiohttp to `core` and `api`; it holds no policy of its own
beyond the wire rules of w§1 and w§2.0.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from aiohttp import web

from panelauth.api.answers import Answer, failure
from panelauth.api.registry import Api
from panelauth.core.authentication import AuthAttempt
from panelauth.core.models import CredentialKind, Identity, IdentityKind
from panelauth.core.session_manager import SessionRefused
from panelauth.core.two_factor import TwoFactorFailed
from panelauth.errors import (
    AuthenticationFailed,
    BadRequest,
    FunctionNotFound,
    InvalidArgument,
    PanelauthError,
    PermissionDenied,
    ServiceUnavailable,
    SslRequired,
)
from panelauth.protocol import envelopes
from panelauth.protocol.addresses import client_address
from panelauth.protocol.authorization import (
    MalformedCredentials,
    Scheme,
    header_scheme,
    parse_authorization,
)
from panelauth.protocol.logformat import request_line
from panelauth.protocol.params import Params
from panelauth.protocol.paths import BadPath, RequestPath, parse_path
from panelauth.protocol.services import Listener, Service
from panelauth.server import pages, responses
from panelauth.server.browser import Browser
from panelauth.server.request_info import RequestInfo, public_host
from panelauth.server.state import ServerState

log = logging.getLogger(__name__)


class Route(enum.Enum):
    WHM1 = "whm1"  # /json-api/<fn>
    UAPI = "uapi"  # /execute/<Module>/<fn>
    CPANEL_JSONAPI = "cpanel"  # /json-api/cpanel (API 2)
    UAPI_CPANEL = "uapi_cpanel"  # /json-api/uapi_cpanel (UAPI through WHM)
    HTML = "html"


@dataclass(frozen=True, slots=True)
class Target:
    route: Route
    module: str = ""
    function: str = ""


def classify(segments: tuple[str, ...]) -> Target:
    if len(segments) == 2 and segments[0] == "json-api":
        name = segments[1]
        if name == "cpanel":
            return Target(Route.CPANEL_JSONAPI)
        if name == "uapi_cpanel":
            return Target(Route.UAPI_CPANEL, function="uapi_cpanel")
        return Target(Route.WHM1, function=name)
    if len(segments) == 3 and segments[0] == "execute":
        return Target(Route.UAPI, segments[1], segments[2])
    return Target(Route.HTML)


class Gateway:
    """The request handler of one listener (the port decides the service)."""

    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.listener = listener
        self.service = listener.service
        self.state = state
        self.browser = Browser(listener, state)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        identity: Identity | None = None
        address = self._client_address(request)
        try:
            response, identity = await self._handle(request, address)
        except Exception as error:
            if isinstance(error, ConnectionError) and _client_gone(request):
                # the client went away mid-request: nobody to answer, nothing to report
                log.debug("client %s went away on port %s", address, self.listener.port)
                return responses.text_response(400, "Bad Request")  # never written
            log.exception("unhandled error on %s %s", request.method, self.listener.port)
            response = responses.text_response(500, "Internal Server Error")
        self._log_access(request, response, identity, address)
        return response

    async def _handle(
        self, request: web.BaseRequest, address: str
    ) -> tuple[web.StreamResponse, Identity | None]:
        raw_path, _, query = request.raw_path.partition("?")
        try:
            path = parse_path(raw_path)
        except BadPath:
            return responses.text_response(400, "Bad Request"), None
        target = classify(path.segments)
        settings = self.state.settings
        info = RequestInfo.of(
            request, self.listener, address, settings.max_body_bytes, settings.request_body_timeout
        )
        if path.segments[:1] == ("xml-api",):
            return responses.text_response(404, "Not Found"), None  # w§1.6: XML is not served
        if target.route is Route.HTML:
            # w§2.4: a cPanel token reaches UAPI and API 2 only; on every other path of a cPanel
            # port (2082 too) the scheme alone decides, and the token is never looked up
            if self.service is Service.CPANEL and _carries_cpanel_token(request):
                return responses.cpanel_token_scope(in_cpanelresult=False), None
            if not self.listener.tls:
                return self._plain_html(request, path, query), None
            try:
                return await self.browser.handle(request, path, info)
            except PanelauthError as error:
                return self._html_error(request, path, query, error), None
        if len(request.headers.getall("Authorization", ())) > 1:
            return self._api_error(
                target, request, BadRequest("Only one Authorization header")
            ), None

        # 1. plain-port rule: credentials are not even looked at (w§1.2)
        if not self.listener.tls:
            header = request.headers.get("Authorization", "")
            if self.state.settings.require_ssl or header.lower().startswith("basic"):
                self.state.audit.write(
                    event="auth",
                    outcome="refused",
                    reason="ssl required",
                    service=self.service.value,
                    address=address,
                )
                return self._api_error(target, request, SslRequired()), None

        # 2. authentication: one answer for every failure (w§2.0)
        authenticated = await self._authenticate_api(request, path, info, target)
        if isinstance(authenticated, web.StreamResponse):
            return authenticated, None
        identity = authenticated

        # 3-6. parameters, routing, authorisation, the function
        try:
            params = await self._params(request, info)
            if not _token_may_call(identity, target, params):
                return responses.cpanel_token_scope(target.route is Route.CPANEL_JSONAPI), identity
            answer = await self._dispatch(target, identity, params, address)
        except PanelauthError as error:
            return self._api_error(target, request, error), identity
        return _answer_response(answer), identity

    def _plain_html(self, request: web.BaseRequest, path: RequestPath, query: str) -> web.Response:
        """w§1.2: pages move to the TLS twin; a JSON login gets 403 SSL required."""
        if _is_json_login(request, path, query):
            return responses.json_response(403, {"status": 0, "message": "SSL is required"})
        # the host comes from configuration, never from an unchecked Host header (SS-8)
        host = public_host(request, self.state.settings)
        prefix = path.security_token or ""
        location = f"https://{host}:{self.listener.twin_port}{prefix}{path.path}"
        return responses.redirect(301, location + (f"?{query}" if query else ""))

    # -- authentication --------------------------------------------------------------------

    async def _authenticate_api(
        self, request: web.BaseRequest, path: RequestPath, info: RequestInfo, target: Target
    ) -> Identity | web.StreamResponse:
        """Header or cookie authentication of an API request, or the answer refusing it."""
        header = request.headers.get("Authorization")
        try:
            if header is not None:
                identity = await self._authenticate(request, info.address)
                # CS-4: a browser's cross-site request never acts with Basic credentials
                if info.cross_site and header[:6].lower() == "basic ":
                    return self._api_error(target, request, PermissionDenied())
                return identity
            if info.cross_site and not info.top_level_navigation:
                return self._api_error(target, request, PermissionDenied())
            return (await self.browser.authenticate(request, path, info))[1]
        except AuthenticationFailed as failed:
            self._log_failure(request, info.address, failed)
            return responses.access_denied()
        except TwoFactorFailed as failed:
            claimed = AuthenticationFailed(failed.detail, claimed_user=_claimed_user(header))
            self._log_failure(request, info.address, claimed)
            return responses.two_factor_failed()
        except SessionRefused as refused:
            if refused.token_denied:
                return self.browser.refusal(refused)
            if refused.pending is not None:
                return responses.two_factor_failed()
            return responses.access_denied()
        except ServiceUnavailable as error:
            return self._api_error(target, request, error)

    async def _authenticate(self, request: web.BaseRequest, address: str) -> Identity:
        header = request.headers["Authorization"]
        try:
            credentials = parse_authorization(header)
        except MalformedCredentials as malformed:
            raise AuthenticationFailed(
                malformed.reason, claimed_user=malformed.claimed_user
            ) from None
        otp = request.headers.get("X-CPANEL-OTP")
        identity = await self.state.authenticator.authenticate(
            AuthAttempt(credentials, self.service, address, otp=otp)
        )
        # CV-10: the identity is written only now, after validation
        self.state.audit.write(
            event="auth",
            outcome="success",
            user=identity.user,
            factor=identity.credential.value,
            service=self.service.value,
            address=address,
        )
        if self.state.settings.log_successful_logins:
            self.state.login_log.success(address=address, user=identity.user, service=self.service)
        return identity

    def _log_failure(
        self, request: web.BaseRequest, address: str, failed: AuthenticationFailed
    ) -> None:
        self.state.authentication_failed(
            address=address,
            claimed_user=failed.claimed_user,
            request=request_line(request.method, request.raw_path, _version(request)),
            service=self.service,
            reason=failed.detail,
            factor="header",
        )

    # -- parameters and dispatch -----------------------------------------------------------

    async def _params(self, request: web.BaseRequest, info: RequestInfo) -> Params:
        if request.method != "POST":
            return Params.from_query(info.query)
        if request.content_type == "multipart/form-data":
            raise BadRequest("multipart/form-data is not supported; send a URL-encoded form")
        try:
            text = (await info.body(request)).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("The request body is not UTF-8") from None
        return Params.from_query(info.query, text)

    async def _dispatch(
        self, target: Target, identity: Identity, params: Params, address: str
    ) -> Answer:
        dispatcher = self.state.dispatcher
        if target.route is Route.WHM1:
            if self.service is not Service.WHM:
                raise FunctionNotFound()  # WHM API 1 never runs on cPanel or Webmail (w§1.3)
            version = params.get("api.version")
            if version is not None and version != "1":
                raise BadRequest(f"Unsupported API version: {version[:16]}")
            answer = await dispatcher.whm1(
                identity, target.function, params, client_address=address
            )
            if version is None and target.function == "applist" and answer.succeeded:
                # legacy API 0 shape that old access-hash clients probe with (w§15.1)
                return Answer(200, answer.document["data"])
            return answer
        if target.route is Route.UAPI:
            if self.service is Service.WHM:
                raise FunctionNotFound()
            return await dispatcher.cpanel(
                Api.UAPI,
                identity,
                self.service,
                target.module,
                target.function,
                params,
                client_address=address,
            )
        if target.route is Route.CPANEL_JSONAPI:
            return await self._cpanel_jsonapi(identity, params, address)
        if self.service is not Service.WHM:
            raise FunctionNotFound()
        return await self._uapi_cpanel(identity, params, address)

    async def _cpanel_jsonapi(self, identity: Identity, params: Params, address: str) -> Answer:
        """`/json-api/cpanel`: API 2 on a cPanel/Webmail port or through WHM (w§15.3)."""
        module = params.get("cpanel_jsonapi_module", "")
        function = params.get("cpanel_jsonapi_func", "")
        version = params.get("cpanel_jsonapi_apiversion", "2")
        user = params.get("cpanel_jsonapi_user", "") or None
        if version != "2":
            only_api2 = FunctionNotFound(
                "Only cPanel API 2 (cpanel_jsonapi_apiversion=2) is served."
            )
            return failure(Api.API2, module, function, only_api2)
        if not module or not function:
            missing = InvalidArgument("cpanel_jsonapi_module and cpanel_jsonapi_func are required.")
            return failure(Api.API2, module, function, missing)
        args = params.without(
            "cpanel_jsonapi_module",
            "cpanel_jsonapi_func",
            "cpanel_jsonapi_apiversion",
            "cpanel_jsonapi_user",
            "api.version",
        )
        return await self.state.dispatcher.cpanel(
            Api.API2,
            identity,
            self.service,
            module,
            function,
            args,
            client_address=address,
            acting_user=user,
        )

    async def _uapi_cpanel(self, identity: Identity, params: Params, address: str) -> Answer:
        """`/json-api/uapi_cpanel`: UAPI through WHM, flat result in `data.uapi` (w§15.4)."""
        module = params.get("cpanel.module", "")
        function = params.get("cpanel.function", "")
        user = params.get("cpanel.user", "") or None
        if not module or not function:
            raise InvalidArgument("cpanel.module and cpanel.function are required.")
        args = params.without("cpanel.module", "cpanel.function", "cpanel.user", "api.version")
        inner = await self.state.dispatcher.cpanel(
            Api.UAPI,
            identity,
            self.service,
            module,
            function,
            args,
            client_address=address,
            acting_user=user,
        )
        if inner.status != 200:
            errors = inner.document.get("errors") or ["Permission denied"]
            document = envelopes.whm1_failure("uapi_cpanel", " ".join(errors))
            return Answer(inner.status, document, inner.retry_after)
        return Answer(200, envelopes.whm1_success("uapi_cpanel", {"uapi": inner.document}))

    # -- HTML, errors, logs ----------------------------------------------------------------

    def _api_error(
        self, target: Target, request: web.BaseRequest, error: PanelauthError
    ) -> web.Response:
        if target.route is Route.WHM1:
            answer = failure(Api.WHM1, "", target.function, error)
        elif target.route is Route.UAPI:
            answer = failure(Api.UAPI, target.module, target.function, error)
        elif target.route is Route.UAPI_CPANEL:
            answer = failure(Api.WHM1, "", "uapi_cpanel", error)
        else:
            query = request.rel_url.query  # names for the envelope only; never parsed as args
            module = query.get("cpanel_jsonapi_module", "")[:64]
            answer = failure(Api.API2, module, query.get("cpanel_jsonapi_func", "")[:64], error)
        return _answer_response(answer)

    def _html_error(
        self, request: web.BaseRequest, path: RequestPath, query: str, error: PanelauthError
    ) -> web.Response:
        """An error on an HTML path: the JSON login keeps its JSON shape (w§3.1), a 503 is a
        small page with the plain reason (w§15.5), anything else plain text."""
        if _is_json_login(request, path, query):
            document = {"status": 0, "message": error.reason}
            response = responses.json_response(error.status, document)
        elif isinstance(error, ServiceUnavailable):
            html = pages.unavailable_page(self.service, error.reason)
            response = responses.html_response(error.status, html)
        else:
            response = responses.text_response(error.status, error.reason)
        return responses.with_retry_after(response, error)

    def _client_address(self, request: web.BaseRequest) -> str:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        peer_host = peer[0] if isinstance(peer, tuple) and peer else ""
        return client_address(
            peer_host, request.headers.get("X-Forwarded-For"), self.state.settings.trusted_proxies
        )

    def _log_access(
        self,
        request: web.BaseRequest,
        response: web.StreamResponse,
        identity: Identity | None,
        address: str,
    ) -> None:
        size = response.content_length or 0
        self.state.access_log.write(
            address=address,
            user=identity.user if identity else None,
            request=request_line(request.method, request.raw_path, _version(request)),
            status=response.status,
            size=size,
            user_agent=request.headers.get("User-Agent"),
            port=self.listener.port,
        )


def _claimed_user(header: str | None) -> str:
    """The user named by a header that already authenticated by password."""
    try:
        return parse_authorization(header or "").user
    except MalformedCredentials:
        return ""


def _token_may_call(identity: Identity, target: Target, params: Params) -> bool:
    """cPanel API tokens reach UAPI and API 2 only (w§2.4, TK-5)."""
    if (
        identity.credential is not CredentialKind.API_TOKEN
        or identity.kind is not IdentityKind.CPANEL
    ):
        return True
    if target.route is Route.UAPI:
        return True
    api2 = params.get("cpanel_jsonapi_apiversion", "2") == "2"
    return target.route is Route.CPANEL_JSONAPI and api2


def _client_gone(request: web.BaseRequest) -> bool:
    """The client's connection is closed or closing (a reset, or a close mid-request)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _answer_response(answer: Answer) -> web.Response:
    """An API answer on the wire; a 503 tells the client when to retry (w§15.5)."""
    response = responses.json_response(answer.status, answer.document)
    if answer.retry_after is not None:
        response.headers["Retry-After"] = str(answer.retry_after)
    return response


def _is_json_login(request: web.BaseRequest, path: RequestPath, query: str) -> bool:
    """`POST /login/?login_only=1` (w§3.1), which answers JSON, errors included."""
    return path.segments[:1] == ("login",) and request.method == "POST" and "login_only" in query


def _carries_cpanel_token(request: web.BaseRequest) -> bool:
    """An `Authorization: cpanel ...` header; only the scheme is read (w§2.4)."""
    return any(
        header_scheme(value) is Scheme.CPANEL
        for value in request.headers.getall("Authorization", ())
    )


def _version(request: web.BaseRequest) -> str:
    return f"HTTP/{request.version.major}.{request.version.minor}"
