"""The sans-I/O core shared by `Client` and `AsyncClient`: it builds every request and reads
every answer; the two clients only send what it yields (as httpx's auth flows do).

A flow is a generator: it yields a `Request` (send it, send the `Response` back in) or a
`Wait` (sleep that long, send None back in) and returns its value. `drive` loops in
client/sync.py and client/aio.py are the only code that differs between the two clients.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from panelauth.client.answers import Api, Response, Result, failure, interpret, retry_after
from panelauth.client.auth import Auth, SessionLogin, SessionUrl
from panelauth.client.errors import (
    AccessDenied,
    ClientError,
    LoginFailed,
    TokenDenied,
    UnexpectedAnswer,
)
from panelauth.protocol.paths import SECURITY_TOKEN

T = TypeVar("T")
USER_AGENT = "panelauth-client/0.1"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes = b""


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


Step = Request | Wait
Flow = Generator[Step, Response | None, T]


@dataclass(frozen=True, slots=True)
class Call:
    """One API call: where it goes, its parameters, and the envelope of its answer."""

    api: Api
    path: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """503 answers with `Retry-After` are retried at most `attempts` times, and only while the
    total wait stays within `max_wait` seconds (w§15.5); nothing else is ever retried."""

    attempts: int = 3
    max_wait: float = 30.0


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"  # w§15.1: booleans are 1/0
    return str(value)


def encode_args(args: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """Call arguments as form pairs: lists and tuples become `key-0`, `key-1`... (w§20), booleans
    1/0, None is left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in args.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            pairs += [(f"{key}-{index}", _value(item)) for index, item in enumerate(value)]
        else:
            pairs.append((key, _value(value)))
    return tuple(pairs)


def whm_call(function: str, args: Mapping[str, object]) -> Call:
    """WHM API 1: `/json-api/<function>?api.version=1` (w§15.1)."""
    return Call(Api.WHM1, f"/json-api/{quote(function)}?api.version=1", encode_args(args))


def uapi_call(module: str, function: str, args: Mapping[str, object]) -> Call:
    """UAPI on a cPanel or Webmail port: `/execute/<Module>/<function>` (w§15.2)."""
    return Call(Api.UAPI, f"/execute/{quote(module)}/{quote(function)}", encode_args(args))


def api2_call(
    module: str, function: str, args: Mapping[str, object], *, user: str | None = None
) -> Call:
    """cPanel API 2 through `/json-api/cpanel`; `user` is required on WHM (w§15.3, w§15.4)."""
    head = [("cpanel_jsonapi_user", user)] if user is not None else []
    head += [
        ("cpanel_jsonapi_apiversion", "2"),
        ("cpanel_jsonapi_module", module),
        ("cpanel_jsonapi_func", function),
    ]
    return Call(Api.API2, "/json-api/cpanel", (*head, *encode_args(args)))


def uapi_cpanel_call(user: str, module: str, function: str, args: Mapping[str, object]) -> Call:
    """UAPI as `user` through WHM's `/json-api/uapi_cpanel` (w§15.4)."""
    head = (("cpanel.user", user), ("cpanel.module", module), ("cpanel.function", function))
    return Call(Api.UAPI_CPANEL, "/json-api/uapi_cpanel?api.version=1", (*head, *encode_args(args)))


def tls_verify(ca_file: str | Path | None, insecure: bool) -> ssl.SSLContext | bool:
    """httpx's `verify`: the system CAs by default, `ca_file` instead, or nothing if insecure."""
    if insecure:
        if ca_file is not None:
            raise ValueError("ca_file and insecure=True contradict each other")
        return False
    return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)


def session_cookie(response: Response) -> str | None:
    """`name=value` of the first Set-Cookie whose name ends in `session` (w§4, w§18)."""
    for header in response.header_values("Set-Cookie"):
        pair = header.split(";", 1)[0].strip()
        name, equals, value = pair.partition("=")
        if equals and value and name.strip().endswith("session"):
            return f"{name.strip()}={value.strip()}"
    return None


@dataclass(frozen=True, slots=True)
class Session:
    cookie: str  # "whostmgrsession=root%3a...%2c..."
    token: str  # "/cpsessNNNNNNNNNN"


def read_login(response: Response) -> Session:
    """The session of a `/login/?login_only=1` answer, or its error (w§3.1)."""
    if response.status == 401:
        message = _json_field(response, "message") or "login failed"
        raise LoginFailed(message, status=401)
    error = failure(response)
    if error is not None:
        raise error
    token = _json_field(response, "security_token")
    cookie = session_cookie(response)
    if _json_field(response, "status") != "1" or not token or cookie is None:
        raise UnexpectedAnswer("the login answer has no session", status=response.status)
    if not SECURITY_TOKEN.match(token):
        raise UnexpectedAnswer("the login answer's security token is malformed", status=200)
    return Session(cookie, token)


def _path_token(path: str) -> str | None:
    first = "/" + path.lstrip("/").split("/", 1)[0]
    return first if SECURITY_TOKEN.match(first) else None


def read_session_url(url: str, response: Response) -> Session:
    """The session an opened session URL hands over: its Set-Cookie, and the security token of
    the URL (or of the redirect's Location). Anything but a redirect with a cookie is refused:
    cPanel & WHM (and panelauth) answer a used, expired or unknown URL with the login page."""
    redirect = response.status in (301, 302, 303, 307)
    error = None if redirect or response.status in (200, 401) else failure(response)
    if error is not None:
        raise error
    cookie = session_cookie(response)
    if not redirect or cookie is None:
        raise LoginFailed(
            "the session URL was refused (already used, expired or unknown)",
            status=response.status,
        )
    location = urlsplit(response.header("Location") or "").path
    token = _path_token(location) or _path_token(urlsplit(url).path)
    if token is None:
        raise UnexpectedAnswer("the session URL names no security token", status=response.status)
    return Session(cookie, token)


def _json_field(response: Response, key: str) -> str | None:
    try:
        document = json.loads(response.body)
    except ValueError:
        return None
    value = document.get(key) if isinstance(document, dict) else None
    return None if value is None else str(value)


class ClientCore:
    """Everything a client does except sending: request building, the session login and its
    renewal, 503 retries, and reading answers. Not safe for concurrent use from threads."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        retry: RetryPolicy | None = None,
        user_agent: str = USER_AGENT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.user_agent = user_agent
        self.session: Session | None = None
        self._monotonic = monotonic

    def call(self, call: Call) -> Flow[Result]:
        """Send `call` (logging in first if needed) and read its answer.

        A session refused with "Access denied" or Token Denied (expired, purged, logged out)
        is replaced once by a new login and the call sent again; not when it was just made.
        """
        fresh = False
        while True:
            if isinstance(self.auth, SessionLogin | SessionUrl) and self.session is None:
                yield from self.login()
                fresh = True
            response = yield from self.send(lambda: self.request(call))
            error = failure(response)
            if error is None:
                return interpret(call.api, response)
            if self._renewable(error) and not fresh:
                self.session = None
                continue
            raise error

    def _renewable(self, error: ClientError) -> bool:
        return isinstance(self.auth, SessionLogin) and isinstance(error, AccessDenied | TokenDenied)

    def login(self) -> Flow[None]:
        """`POST /login/?login_only=1`, keeping the cookie and security token (w§3.1, w§9);
        with `SessionUrl`, `GET` the URL once instead (w§10.3)."""
        if isinstance(self.auth, SessionUrl):
            url = self.auth.url.reveal()
            headers = {"User-Agent": self.user_agent}
            response = yield from self.send(lambda: Request("GET", url, headers))
            self.session = read_session_url(url, response)
            return
        if not isinstance(self.auth, SessionLogin):
            raise TypeError("login() needs SessionLogin or SessionUrl authentication")
        auth = self.auth

        def build() -> Request:
            return self._post("/login/?login_only=1", tuple(auth.form()), {})

        response = yield from self.send(build)
        self.session = read_login(response)

    def send(self, build: Callable[[], Request]) -> Flow[Response]:
        """Send `build()`; a 503 with Retry-After is sent again (a fresh build each time, so a
        new one-time code) while the policy allows (w§15.5)."""
        started = self._monotonic()
        retries = 0
        waited = 0.0  # counted too, so a sleep cut short cannot stretch the bound
        while True:
            response = yield build()
            assert response is not None
            if response.status != 503:
                return response
            delay = retry_after(response)
            if delay is None or retries >= self.retry.attempts:
                return response
            if max(self._monotonic() - started, waited) + delay > self.retry.max_wait:
                return response
            retries += 1
            waited += delay
            yield Wait(delay)

    def request(self, call: Call) -> Request:
        """The HTTP request of `call` with the current credentials."""
        if isinstance(self.auth, SessionLogin | SessionUrl):
            if self.session is None:
                raise RuntimeError("no session: log in first")
            cookie = {"Cookie": self.session.cookie}
            return self._post(self.session.token + call.path, call.params, cookie)
        return self._post(call.path, call.params, self.auth.headers())

    def _post(
        self, path: str, params: tuple[tuple[str, str], ...], headers: Mapping[str, str]
    ) -> Request:
        all_headers = {"User-Agent": self.user_agent, "Content-Type": FORM, **headers}
        return Request("POST", self.base_url + path, all_headers, urlencode(params).encode())


def logout_request(core: ClientCore) -> Request | None:
    """`POST /logout` for the core's session, if there is one (w§7)."""
    if core.session is None:
        return None
    headers = {"User-Agent": core.user_agent, "Cookie": core.session.cookie}
    return Request("POST", core.base_url + "/logout", headers)


def unwrap(flow: Flow[T], send: Callable[[Request], Response], wait: Callable[[float], Any]) -> T:
    """Run `flow` synchronously: the whole of the sync client's driving."""
    step = next(flow)
    while True:
        try:
            if isinstance(step, Wait):
                wait(step.seconds)
                step = flow.send(None)
            else:
                step = flow.send(send(step))
        except StopIteration as done:
            result: T = done.value
            return result
