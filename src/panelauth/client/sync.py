"""`Client`: the blocking client, an httpx.Client driving the sans-I/O core (client/core.py)."""

from __future__ import annotations

import http.cookiejar
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from panelauth.client.answers import Response, Result
from panelauth.client.auth import Auth
from panelauth.client.core import (
    USER_AGENT,
    Call,
    ClientCore,
    Flow,
    Request,
    RetryPolicy,
    T,
    api2_call,
    logout_request,
    tls_verify,
    uapi_call,
    uapi_cpanel_call,
    unwrap,
    whm_call,
)
from panelauth.client.errors import Timeout, TransportError
from panelauth.client.loggedin import LoggedInUrl, loggedin_request, read_loggedin


def no_cookie_jar() -> http.cookiejar.CookieJar:
    """A jar that keeps nothing: the core holds the session cookie itself (w§4)."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def to_response(response: httpx.Response) -> Response:
    return Response(
        response.status_code,
        response.headers.multi_items(),
        response.content,
        response.reason_phrase,
    )


def send_sync(client: httpx.Client, request: Request) -> Response:
    """Send one request; httpx's errors become TransportError (or Timeout)."""
    try:
        answer = client.request(
            request.method, request.url, headers=dict(request.headers), content=request.content
        )
    except httpx.TimeoutException as error:
        raise Timeout(f"timed out: {error}") from error
    except httpx.HTTPError as error:
        raise TransportError(f"{type(error).__name__}: {error}") from error
    return to_response(answer)


class Client:
    """A blocking cPanel & WHM API client; see docs/client.md.

    `base_url` is the service's TLS address (`https://host:2087` for WHM, `:2083` cPanel,
    `:2096` Webmail). Connections are reused until `close()` (or the `with` block ends).
    """

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        ca_file: str | Path | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self._core = ClientCore(base_url, auth, retry=retry, user_agent=user_agent)
        self._http = httpx.Client(
            verify=tls_verify(ca_file, insecure), timeout=timeout, cookies=no_cookie_jar()
        )
        self._sleep = sleep

    def _run(self, flow: Flow[T]) -> T:
        return unwrap(flow, lambda request: send_sync(self._http, request), self._sleep)

    def call(self, call: Call) -> Result:
        return self._run(self._core.call(call))

    def whm(self, function: str, **args: object) -> Result:
        """A WHM API 1 function; lists become `-N` parameters."""
        return self.call(whm_call(function, args))

    def uapi(self, module: str, function: str, **args: object) -> Result:
        """A UAPI function of the authenticated cPanel or Webmail user."""
        return self.call(uapi_call(module, function, args))

    def api2(self, module: str, function: str, **args: object) -> Result:
        """A cPanel API 2 function of the authenticated cPanel user."""
        return self.call(api2_call(module, function, args))

    def cpanel_as(self, user: str) -> CpanelAs:
        """The cPanel account `user`'s functions through WHM's proxies (root or its reseller)."""
        return CpanelAs(self, user)

    def login(self) -> None:
        """Log in (or open the SessionUrl) now; calls otherwise do it when they need to."""
        self._run(self._core.login())

    def logout(self) -> None:
        """End the session, if any (w§7)."""
        request = logout_request(self._core)
        self._core.session = None
        if request is not None:
            send_sync(self._http, request)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class CpanelAs:
    """UAPI and API 2 as a cPanel account, through `/json-api/uapi_cpanel` and
    `/json-api/cpanel` with `cpanel_jsonapi_user` (w§15.4)."""

    def __init__(self, client: Client, user: str) -> None:
        self._client = client
        self.user = user

    def uapi(self, module: str, function: str, **args: object) -> Result:
        return self._client.call(uapi_cpanel_call(self.user, module, function, args))

    def api2(self, module: str, function: str, **args: object) -> Result:
        return self._client.call(api2_call(module, function, args, user=self.user))


def get_loggedin_url(
    user: str,
    password: str,
    hostname: str,
    service: str = "cpanel",
    goto_uri: str = "/",
    active_token_for_reuse: str | None = None,
    *,
    port: int | None = None,
    ca_file: str | Path | None = None,
    insecure: bool = False,
    timeout: float = 30.0,
) -> LoggedInUrl:
    """Log in and return `(login_ok, login_message, login_url, security_token)` (w§18)."""
    request = loggedin_request(
        user, password, hostname, service, goto_uri, active_token_for_reuse, port=port
    )
    verify = tls_verify(ca_file, insecure)
    with httpx.Client(verify=verify, timeout=timeout, cookies=no_cookie_jar()) as client:
        try:
            response = send_sync(client, request)
        except TransportError as error:
            return LoggedInUrl(0, error.message, None, None)
    return read_loggedin(response, request, goto_uri)
