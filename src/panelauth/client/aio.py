"""`AsyncClient`: the asyncio client, an httpx.AsyncClient driving the same sans-I/O core."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

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
    Wait,
    api2_call,
    logout_request,
    tls_verify,
    uapi_call,
    uapi_cpanel_call,
    whm_call,
)
from panelauth.client.errors import Timeout, TransportError
from panelauth.client.loggedin import LoggedInUrl, loggedin_request, read_loggedin
from panelauth.client.sync import no_cookie_jar, to_response


async def send_async(client: httpx.AsyncClient, request: Request) -> Response:
    """Send one request; httpx's errors become TransportError (or Timeout)."""
    try:
        answer = await client.request(
            request.method, request.url, headers=dict(request.headers), content=request.content
        )
    except httpx.TimeoutException as error:
        raise Timeout(f"timed out: {error}") from error
    except httpx.HTTPError as error:
        raise TransportError(f"{type(error).__name__}: {error}") from error
    return to_response(answer)


class AsyncClient:
    """The asyncio twin of `Client`, with the same constructor and methods (awaitable)."""

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
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._core = ClientCore(base_url, auth, retry=retry, user_agent=user_agent)
        self._http = httpx.AsyncClient(
            verify=tls_verify(ca_file, insecure), timeout=timeout, cookies=no_cookie_jar()
        )
        self._sleep = sleep

    async def _run(self, flow: Flow[T]) -> T:
        step = next(flow)
        while True:
            try:
                if isinstance(step, Wait):
                    await self._sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await send_async(self._http, step))
            except StopIteration as done:
                result: T = done.value
                return result

    async def call(self, call: Call) -> Result:
        return await self._run(self._core.call(call))

    async def whm(self, function: str, **args: object) -> Result:
        """A WHM API 1 function; lists become `-N` parameters."""
        return await self.call(whm_call(function, args))

    async def uapi(self, module: str, function: str, **args: object) -> Result:
        """A UAPI function of the authenticated cPanel or Webmail user."""
        return await self.call(uapi_call(module, function, args))

    async def api2(self, module: str, function: str, **args: object) -> Result:
        """A cPanel API 2 function of the authenticated cPanel user."""
        return await self.call(api2_call(module, function, args))

    def cpanel_as(self, user: str) -> AsyncCpanelAs:
        """The cPanel account `user`'s functions through WHM's proxies (root or its reseller)."""
        return AsyncCpanelAs(self, user)

    async def login(self) -> None:
        """Log in (or open the SessionUrl) now; calls otherwise do it when they need to."""
        await self._run(self._core.login())

    async def logout(self) -> None:
        """End the session, if any (w§7)."""
        request = logout_request(self._core)
        self._core.session = None
        if request is not None:
            await send_async(self._http, request)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncCpanelAs:
    """`CpanelAs` for the AsyncClient."""

    def __init__(self, client: AsyncClient, user: str) -> None:
        self._client = client
        self.user = user

    async def uapi(self, module: str, function: str, **args: object) -> Result:
        return await self._client.call(uapi_cpanel_call(self.user, module, function, args))

    async def api2(self, module: str, function: str, **args: object) -> Result:
        return await self._client.call(api2_call(module, function, args, user=self.user))


async def aget_loggedin_url(
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
    """`get_loggedin_url` for asyncio."""
    request = loggedin_request(
        user, password, hostname, service, goto_uri, active_token_for_reuse, port=port
    )
    verify = tls_verify(ca_file, insecure)
    async with httpx.AsyncClient(verify=verify, timeout=timeout, cookies=no_cookie_jar()) as http:
        try:
            response = await send_async(http, request)
        except TransportError as error:
            return LoggedInUrl(0, error.message, None, None)
    return read_loggedin(response, request, goto_uri)
