"""The sans-I/O core: request building, answer reading and each error, retries and the session
flow, driven by hand with recorded answers (no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from panelauth.client import (
    AccessDenied,
    AccessHash,
    CpanelToken,
    FunctionFailed,
    FunctionNotFound,
    LoginFailed,
    Password,
    PermissionDenied,
    RetryPolicy,
    ServerBusy,
    SessionLogin,
    SslRequired,
    TokenDenied,
    TokenScopeDenied,
    TwoFactorFailed,
    UnexpectedAnswer,
    WhmToken,
)
from panelauth.client.answers import Api, Response, Result, failure, interpret, retry_after
from panelauth.client.core import (
    Call,
    ClientCore,
    Request,
    Wait,
    api2_call,
    encode_args,
    tls_verify,
    uapi_call,
    uapi_cpanel_call,
    unwrap,
    whm_call,
)
from panelauth.client.loggedin import loggedin_request, read_loggedin, service_port
from panelauth.protocol.authorization import (
    BasicCredentials,
    HeaderSecretCredentials,
    Scheme,
    parse_authorization,
)
from panelauth.protocol.envelopes import api2_failure, uapi_failure, whm1_failure

ACCESS_DENIED = {
    "cpanelresult": {
        "apiversion": "2",
        "error": "Access denied",
        "data": {"reason": "Access denied", "result": "0"},
        "type": "text",
    }
}
TWO_FACTOR = {
    "data": {"reason": "TwoFactorAuth check failed", "result": "0"},
    "error": "TwoFactorAuth check failed",
    "type": "text",
}
SCOPE = "Token authentication allows access to UAPI or API 2 calls only."
COOKIE = "whostmgrsession=root%3aAqI0aGGAFWI_Mab_%2c31cd420f0fd6aca696a2890f580f2f0a"
TOKEN = "/cpsess4821907736"


def answer(status: int, body: Any, **headers: str) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, list(headers.items()), raw)


def login_ok() -> Response:
    return Response(
        200,
        [("Set-Cookie", f"{COOKIE}; HttpOnly; Path=/; Secure; SameSite=Lax")],
        json.dumps({"status": 1, "security_token": TOKEN, "redirect": TOKEN + "/"}).encode(),
    )


WHM_OK = answer(200, {"data": {"v": 1}, "metadata": {"result": 1, "reason": "OK"}})


def test_encode_args_numbers_lists_and_writes_booleans_as_digits() -> None:
    args = {"acl": ["a", "b"], "flag": True, "off": False, "n": 3, "skip": None}
    assert encode_args(args) == (("acl-0", "a"), ("acl-1", "b"), ("flag", "1"), ("off", "0"),
                                 ("n", "3"))  # fmt: skip


def test_calls_go_to_the_documented_paths() -> None:
    assert whm_call("listaccts", {}).path == "/json-api/listaccts?api.version=1"
    assert uapi_call("Email", "list_pops", {}).path == "/execute/Email/list_pops"
    api2 = api2_call("Email", "listpops", {"x": 1}, user="bob")
    assert (api2.path, api2.params[0], api2.params[-1]) == (
        "/json-api/cpanel",
        ("cpanel_jsonapi_user", "bob"),
        ("x", "1"),
    )
    proxied = uapi_cpanel_call("bob", "Email", "list_pops", {})
    assert proxied.path == "/json-api/uapi_cpanel?api.version=1"
    assert ("cpanel.user", "bob") in proxied.params


def test_headers_round_trip_through_the_servers_parser() -> None:
    basic = parse_authorization(Password("bob", "p:w").headers()["Authorization"])
    assert isinstance(basic, BasicCredentials) and basic.password.reveal() == "p:w"
    for auth, scheme in ((WhmToken("root", "T" * 32), Scheme.WHM), (CpanelToken("bob", "C"),
                         Scheme.CPANEL), (AccessHash("ab\ncd \r\n"), Scheme.WHM)):  # fmt: skip
        parsed = parse_authorization(auth.headers()["Authorization"])
        assert isinstance(parsed, HeaderSecretCredentials) and parsed.scheme is scheme
    assert AccessHash("ab\ncd \r\n").hash.reveal() == "abcd"
    assert "T" * 32 not in repr(WhmToken("root", "T" * 32))


def test_totp_fills_the_otp_header_and_the_tfa_token() -> None:
    secret = pyotp.random_base32()
    expected = pyotp.TOTP(secret).at(1_000_000)
    password = Password("bob", "pw", otp_secret=secret, otp_clock=lambda: 1_000_000.0)
    assert password.headers()["X-CPANEL-OTP"] == expected
    login = SessionLogin("bob", "pw", otp_secret=secret, otp_clock=lambda: 1_000_000.0)
    assert ("tfa_token", expected) in login.form()
    assert "X-CPANEL-OTP" not in Password("bob", "pw").headers()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer(403, ACCESS_DENIED), AccessDenied),
        (answer(403, TWO_FACTOR), TwoFactorFailed),
        (answer(403, SCOPE.encode()), TokenScopeDenied),
        (answer(403, {"cpanelresult": {"error": SCOPE, "data": None}}), TokenScopeDenied),
        (answer(403, whm1_failure("createacct", "Permission denied")), PermissionDenied),
        (answer(403, uapi_failure("Permission denied", "feature x")), PermissionDenied),
        (answer(403, api2_failure("Email", "addpop", "Permission denied")), PermissionDenied),
        (answer(403, uapi_failure("SSL is required for this call.")), SslRequired),
        (answer(404, whm1_failure("nope", "Function not found")), FunctionNotFound),
        (answer(401, b"<html>Token Denied</html>"), TokenDenied),
        (answer(503, uapi_failure("busy"), **{"Retry-After": "5"}), ServerBusy),
        (answer(400, b"Bad Request"), UnexpectedAnswer),
    ],
)
def test_each_error_answer_maps_to_its_error(response: Response, error: type[Exception]) -> None:
    found = failure(response)
    assert type(found) is error
    assert found is not None and found.status == response.status


def test_permission_denied_keeps_the_second_message() -> None:
    found = failure(answer(403, uapi_failure("Permission denied", "needs feature x")))
    assert found is not None and "needs feature x" in found.message


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after(answer(503, {}, **{"Retry-After": "7"})) == 7.0
    dated = {
        "Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT",
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
    }
    assert retry_after(answer(503, {}, **dated)) == 10.0
    assert retry_after(answer(503, {}, **{"Retry-After": "soon"})) is None
    assert retry_after(answer(503, {})) is None


def test_interpret_unwraps_each_envelope() -> None:
    whm: dict[str, Any] = {
        "data": {"acct": []},
        "metadata": {"result": 1, "output": {"messages": ["m"]}},
    }
    assert interpret(Api.WHM1, answer(200, whm)) == Result(
        {"acct": []}, ("m",), (), whm["metadata"]
    )
    flat: dict[str, Any] = {"status": 1, "errors": None, "messages": ["hi"], "warnings": ["w"]}
    flat |= {"data": [1], "metadata": {}}
    assert interpret(Api.UAPI, answer(200, flat)) == Result([1], ("hi",), ("w",), {})
    api2 = {"cpanelresult": {"data": [2], "event": {"result": 1}, "func": "f"}}
    assert interpret(Api.API2, answer(200, api2)).data == [2]
    proxied = {"data": {"uapi": flat}, "metadata": {"result": 1}}
    assert interpret(Api.UAPI_CPANEL, answer(200, proxied)).messages == ("hi",)


@pytest.mark.parametrize(
    ("api", "body", "reason"),
    [
        (Api.WHM1, whm1_failure("createacct", "No such user"), "No such user"),
        (Api.UAPI, uapi_failure("one", "two"), "one; two"),
        (Api.API2, api2_failure("Email", "addpop", "Bad"), "Bad"),
        (Api.UAPI_CPANEL, {"data": {"uapi": uapi_failure("x")}, "metadata": {"result": 1}}, "x"),
        (Api.UAPI_CPANEL, whm1_failure("uapi_cpanel", "no user"), "no user"),
    ],
)
def test_functional_failures_carry_their_reason(api: Api, body: Any, reason: str) -> None:
    with pytest.raises(FunctionFailed) as failed:
        interpret(api, answer(200, body))
    assert failed.value.reason == reason


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"x": 1}'])
def test_unshaped_answers_are_unexpected(body: bytes) -> None:
    for api in Api:
        with pytest.raises(UnexpectedAnswer):
            interpret(api, answer(200, body))


class Script:
    """Feeds recorded answers to a flow and records what it asked for."""

    def __init__(self, *answers: Response) -> None:
        self.answers: Iterator[Response] = iter(answers)
        self.requests: list[Request] = []
        self.waits: list[float] = []

    def run(self, core: ClientCore, call: Call) -> Result:
        def send(request: Request) -> Response:
            self.requests.append(request)
            return next(self.answers)

        return unwrap(core.call(call), send, self.waits.append)


def busy(seconds: str = "2") -> Response:
    return answer(503, uapi_failure("busy"), **{"Retry-After": seconds})


def test_503_is_retried_within_the_policy() -> None:
    script = Script(busy(), busy(), WHM_OK)
    core = ClientCore("https://h:2087/", WhmToken("root", "T"))
    assert script.run(core, whm_call("version", {})).data == {"v": 1}
    assert script.waits == [2.0, 2.0] and len(script.requests) == 3
    assert script.requests[0].url == "https://h:2087/json-api/version?api.version=1"


@pytest.mark.parametrize(
    ("policy", "answers", "sent"),
    [
        (RetryPolicy(attempts=1), (busy(), busy()), 2),
        (RetryPolicy(attempts=5, max_wait=3), (busy(), busy()), 2),
        (RetryPolicy(), (answer(503, uapi_failure("busy")),), 1),
    ],
)
def test_503_retries_are_bounded(
    policy: RetryPolicy, answers: tuple[Response, ...], sent: int
) -> None:
    script = Script(*answers)
    core = ClientCore("https://h:2087", WhmToken("root", "T"), retry=policy)
    with pytest.raises(ServerBusy):
        script.run(core, whm_call("version", {}))
    assert len(script.requests) == sent


def test_session_logs_in_then_sends_cookie_and_token_and_renews_once() -> None:
    script = Script(login_ok(), WHM_OK, answer(403, ACCESS_DENIED), login_ok(), WHM_OK)
    core = ClientCore("https://h:2087", SessionLogin("root", "pw"))
    script.run(core, whm_call("version", {}))
    login, call = script.requests[:2]
    assert login.url == "https://h:2087/login/?login_only=1" and b"pass=pw" in login.content
    assert call.url.startswith(f"https://h:2087{TOKEN}/json-api/version")
    assert call.headers["Cookie"] == COOKIE and "Authorization" not in call.headers
    script.run(core, whm_call("version", {}))
    assert [r.url.split("?")[0] for r in script.requests[2:]] == [
        f"https://h:2087{TOKEN}/json-api/version",
        "https://h:2087/login/",
        f"https://h:2087{TOKEN}/json-api/version",
    ]


def test_a_fresh_session_refused_is_not_renewed_again() -> None:
    script = Script(login_ok(), answer(401, b"Token Denied"))
    with pytest.raises(TokenDenied):
        script.run(ClientCore("https://h", SessionLogin("u", "p")), whm_call("version", {}))
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer(401, {"status": 0, "message": "see_login_log"}), LoginFailed),
        (answer(200, {"status": 1, "security_token": TOKEN}), UnexpectedAnswer),
        (
            Response(200, [("Set-Cookie", COOKIE)], b'{"status":1,"security_token":"/x"}'),
            UnexpectedAnswer,
        ),
        (busy(), ServerBusy),
    ],
)
def test_login_failures(response: Response, error: type[Exception]) -> None:
    core = ClientCore("https://h", SessionLogin("u", "p"), retry=RetryPolicy(attempts=0))
    with pytest.raises(error):
        Script(response).run(core, whm_call("version", {}))


def test_header_auth_cannot_log_in() -> None:
    core = ClientCore("https://h", WhmToken("root", "T"))
    with pytest.raises(TypeError):
        next(core.login())


def test_wait_steps_are_yielded_to_the_driver() -> None:
    flow = ClientCore("https://h", WhmToken("r", "T")).call(whm_call("version", {}))
    assert isinstance(next(flow), Request)
    assert flow.send(busy("4")) == Wait(4.0)


def test_tls_options() -> None:
    assert tls_verify(None, True) is False
    with pytest.raises(ValueError, match="contradict"):
        tls_verify("/some/ca.pem", True)
    assert tls_verify(None, False) is not False


def test_loggedin_request_and_result() -> None:
    assert [service_port(s) for s in ("cpanel", "WHM", "webmail", "other")] == [
        2083, 2087, 2096, 2083,
    ]  # fmt: skip
    request = loggedin_request("bob", "pw", "host.example", "whm", "/x", "tok")
    assert request.url == "https://host.example:2087/login/?login_only=1"
    assert request.headers["Connection"] == "close"
    assert b"active_token_for_reuse=tok" in request.content
    ok = read_loggedin(login_ok(), request, "/a b")
    assert ok.login_ok == 1 and ok.security_token == TOKEN
    assert ok.login_url == (
        f"https://host.example:2087{TOKEN}/login/?session={COOKIE.partition('=')[2]}"
        "&goto_uri=%2Fa%20b"
    )
    failed = read_loggedin(answer(401, {"status": 0, "message": "see_login_log"}), request)
    assert failed == (0, "see_login_log", None, None)
    page = read_loggedin(answer(200, b"<html>"), request)
    assert page == (0, "status: parse-error: <html>", None, None)
