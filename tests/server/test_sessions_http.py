"""Browser sessions on the wire: login, cookies, security token, logout, expiry (w§3-§8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from panelauth.clock import FrozenClock
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient, basic
from tests.server.sessions_helpers import login, session_events

INFO = "/execute/Variables/get_user_information"


async def test_json_login_sets_a_session_cookie(make_client: MakeClient, logs: Path) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.post("/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert body["status"] == 1
    assert re.fullmatch(r"/cpsess\d{10}", body["security_token"])
    assert body["redirect"] == body["security_token"] + "/frontend/jupiter/index.html"
    cookie = response.headers["Set-Cookie"]
    name_value, *attributes = [part.strip() for part in cookie.split(";")]
    assert re.fullmatch(r"cpsession=bob%3a[A-Za-z0-9_]{16}%2c[0-9a-f]{32}", name_value)
    assert set(attributes) == {"HttpOnly", "Path=/", "Secure", "SameSite=Lax"}
    [event] = session_events(logs)
    assert event.event == "NEW" and "," not in event.session_id
    assert event.session_id == name_value.split("=")[1].split("%2c")[0].replace("%3a", ":")
    assert event.fields == {
        "address": "127.0.0.1",
        "app": "cpaneld",
        "creator": "bob",
        "method": "handle_form_login",
        "path": "form",
        "possessed": "0",
    }
    secret = name_value.split("%2c")[1]
    assert secret not in "".join(p.read_text() for p in logs.iterdir())


async def test_form_login_redirects_relative_with_302(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    response = await client.post(
        "/login", data={"user": "root", "pass": ROOT_PASSWORD}, allow_redirects=False
    )
    assert response.status == 302
    assert re.fullmatch(r"/cpsess\d{10}/", response.headers["Location"])
    assert response.headers["Set-Cookie"].startswith("whostmgrsession=root%3a")


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("bob", "wrong-password"),
        ("ghost", "whatever-pw"),
        ("root", ROOT_PASSWORD),  # root is not a cPanel identity
        ("bob\r\nroot", BOB_PASSWORD),
        ("bob=1,x", BOB_PASSWORD),
        ("", BOB_PASSWORD),
        ("bob", "x" * 5000),
    ],
)
async def test_failed_login_writes_nothing(
    make_client: MakeClient, server_state: ServerState, logs: Path, user: str, password: str
) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.post("/login/?login_only=1", data={"user": user, "pass": password})
    assert response.status == 401 and response.reason == "Access Denied"
    assert await response.json() == {"status": 0, "message": "see_login_log"}
    assert "Set-Cookie" not in response.headers
    assert await server_state.runtime.store.sessions_of("bob") == []
    assert session_events(logs) == []
    lines = (logs / "login_log").read_text().splitlines()
    assert len(lines) == 1 and "FAILED LOGIN cpaneld" in lines[0]
    form = await client.post("/login", data={"user": user, "pass": password})
    assert form.status == 401
    assert "The login is invalid." in await form.text()


async def test_cookie_and_token_authenticate_api_calls(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    response = await client.get(browser.token + INFO, headers=browser.headers)
    assert response.status == 200
    assert (await response.json())["data"]["user"] == "bob"


async def test_missing_or_wrong_token_is_token_denied(make_client: MakeClient, logs: Path) -> None:
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    for _ in range(5):  # missing tokens are not counted
        missing = await client.get(INFO, headers=browser.headers)
        assert missing.status == 401 and missing.reason == "Token Denied"
        assert 'action="/login"' in await missing.text()
    assert (await client.get(browser.token + INFO, headers=browser.headers)).status == 200
    for wrong in ("/cpsess0000000000", "/cpsess123", "/cpsessABCDEFGHIJ"):
        response = await client.get(wrong + INFO, headers=browser.headers)
        assert response.status == 401
    # the third wrong token purged the session
    assert (await client.get(browser.token + INFO, headers=browser.headers)).status == 403
    assert session_events(logs)[-1].fields == {"reason": "token_denied"}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c.split("%2c")[0],  # no secret
        lambda c: c.split("%2c")[0] + "%2c" + "0" * 32,  # another secret
        lambda c: c.replace("%2c", ","),  # unencoded but same: still fine? no: checked below
    ],
)
async def test_cookie_needs_its_own_secret(make_client: MakeClient, mangle: object) -> None:
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    assert callable(mangle)
    cookie = mangle(browser.cookie)
    response = await client.get(browser.token + INFO, headers={"Cookie": cookie})
    if "," in cookie and "%2c" not in cookie:
        assert response.status == 200  # the same value, only not URL-encoded
    else:
        assert response.status == 403


async def test_a_session_works_only_on_its_own_service(make_client: MakeClient) -> None:
    cpanel = await make_client(Service.CPANEL)
    browser = await login(cpanel, "bob", BOB_PASSWORD)
    value = browser.cookie.split("=", 1)[1]
    webmail = await make_client(Service.WEBMAIL)
    for name in ("cpsession", "webmailsession"):
        response = await webmail.get(browser.token + INFO, headers={"Cookie": f"{name}={value}"})
        assert response.status in (401, 403), name
        assert (await response.read()).find(b'"user"') == -1


async def test_duplicate_cookies_resolve_to_the_one_whose_token_matches(
    make_client: MakeClient,
) -> None:
    client = await make_client(Service.CPANEL)
    first = await login(client, "bob", BOB_PASSWORD)
    second = await login(client, "bob", BOB_PASSWORD)
    both = {"Cookie": f"{first.cookie}; cpsession=garbage; {second.cookie}"}
    assert (await client.get(second.token + INFO, headers=both)).status == 200
    assert (await client.get(first.token + INFO, headers=both)).status == 200
    neither = await client.get("/cpsess0000000001" + INFO, headers=both)
    assert neither.status == 401
    spaced = {"Cookie": " cpsession =" + first.cookie.split("=", 1)[1]}
    assert (await client.get(first.token + INFO, headers=spaced)).status != 200


async def test_relogin_replaces_the_browsers_session(make_client: MakeClient, logs: Path) -> None:
    client = await make_client(Service.CPANEL)
    first = await login(client, "bob", BOB_PASSWORD)
    again = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD}, headers=first.headers
    )
    assert again.status == 200
    assert [e.fields.get("reason") for e in session_events(logs) if e.event == "PURGE"] == [
        "loginsuccess"
    ]
    assert (await client.get(first.token + INFO, headers=first.headers)).status == 403


async def test_logout_purges_and_clears_the_cookie(make_client: MakeClient, logs: Path) -> None:
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    response = await client.get(
        browser.token + "/logout/", headers=browser.headers, allow_redirects=False
    )
    assert response.status == 302 and response.headers["Location"] == "/"
    assert response.headers["Set-Cookie"] == (
        "cpsession=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    )
    assert session_events(logs)[-1].fields == {"reason": "logout"}
    assert (await client.get(browser.token + INFO, headers=browser.headers)).status == 403
    page = await client.get(
        browser.token + "/frontend/jupiter/index.html",
        headers=browser.headers,
        allow_redirects=False,
    )
    assert page.status == 302 and page.headers["Location"] == "/login/?msg_code=invalid_session"
    without = await client.post("/logout", allow_redirects=False)
    assert without.status == 302


@pytest.mark.parametrize(
    ("goto", "expected"),
    [
        ("/frontend/jupiter/email/index.html", "/frontend/jupiter/email/index.html"),
        ("//evil.example/x", "/frontend/jupiter/index.html"),
        ("https://evil.example/", "/frontend/jupiter/index.html"),
        ("javascript:alert(1)", "/frontend/jupiter/index.html"),
        ("/x%0d%0aSet-Cookie:%20a=b", "/frontend/jupiter/index.html"),
        ("/\\evil.example", "/frontend/jupiter/index.html"),
        ("/%2f/evil.example", "/frontend/jupiter/index.html"),
    ],
)
async def test_goto_uri_only_same_origin_paths(
    make_client: MakeClient, goto: str, expected: str
) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.post(
        "/login",
        data={"user": "bob", "pass": BOB_PASSWORD, "goto_uri": goto},
        allow_redirects=False,
    )
    location = response.headers["Location"]
    assert re.fullmatch(r"/cpsess\d{10}" + re.escape(expected), location), location


async def test_idle_and_absolute_expiry(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    clock = server_state.runtime.clock
    assert isinstance(clock, FrozenClock)
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    clock.advance(1799)
    assert (await client.get(browser.token + INFO, headers=browser.headers)).status == 200
    clock.advance(1799)  # still alive: the last request restarted the idle clock
    assert (await client.get(browser.token + INFO, headers=browser.headers)).status == 200
    clock.advance(1801)
    page = await client.get(
        browser.token + "/frontend/jupiter/index.html",
        headers=browser.headers,
        allow_redirects=False,
    )
    assert page.headers["Location"] == "/login/?msg_code=expired_session"
    assert session_events(logs)[-1].fields == {"reason": "expired"}
    login_page = await client.get("/login/?msg_code=expired_session")
    assert "Your session has expired" in await login_page.text()

    browser = await login(client, "bob", BOB_PASSWORD)
    for _ in range(30):  # activity never outlives the absolute limit (SE-7)
        clock.advance(1700)
        response = await client.get(browser.token + INFO, headers=browser.headers)
    assert response.status == 403


async def test_keeping_alive_does_not_write_on_every_request(
    make_client: MakeClient, server_state: ServerState
) -> None:
    clock = server_state.runtime.clock
    assert isinstance(clock, FrozenClock)
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    [session] = await server_state.runtime.store.sessions_of("bob")
    clock.advance(2)
    await client.get(browser.token + INFO, headers=browser.headers)
    [unchanged] = await server_state.runtime.store.sessions_of("bob")
    assert unchanged.last_seen == session.last_seen
    clock.advance(10)
    await client.get(browser.token + INFO, headers=browser.headers)
    [touched] = await server_state.runtime.store.sessions_of("bob")
    assert touched.last_seen == session.last_seen + 12


@pytest.mark.parametrize(
    ("function", "args", "reason"),
    [
        ("passwd", "user=bob&password=next-Passw0rd", "password_change"),
        ("suspendacct", "user=bob", "suspend"),
        ("removeacct", "user=bob", "killacct"),
    ],
)
async def test_account_changes_end_its_sessions(
    make_client: MakeClient, logs: Path, function: str, args: str, reason: str
) -> None:
    cpanel = await make_client(Service.CPANEL)
    browser = await login(cpanel, "bob", BOB_PASSWORD)
    whm = await make_client(Service.WHM)
    answer = await whm.get(
        f"/json-api/{function}?api.version=1&{args}", headers=basic("root", ROOT_PASSWORD)
    )
    assert (await answer.json())["metadata"]["result"] == 1
    assert (await cpanel.get(browser.token + INFO, headers=browser.headers)).status == 403
    assert session_events(logs)[-1].fields == {"reason": reason}


async def test_login_page_and_security_headers(make_client: MakeClient) -> None:
    client = await make_client(Service.WEBMAIL)
    response = await client.get("/login/?msg_code=<script>alert(1)</script>")
    text = await response.text()
    assert response.status == 200
    assert "<script>" not in text and "alert" not in text
    assert 'type="email"' in text  # Webmail asks for an email address
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    unauthenticated = await client.get(
        "/cpsess0000000000/webmail/jupiter/index.html", allow_redirects=False
    )
    assert unauthenticated.status == 302


async def test_cross_site_requests_cannot_use_the_session(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    browser = await login(client, "bob", BOB_PASSWORD)
    for headers in (
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"},
        {"Origin": "https://evil.example"},
    ):
        response = await client.post(browser.token + INFO, headers={**browser.headers, **headers})
        assert response.status == 403
        assert (await response.json())["errors"][0] == "Permission denied"
    same = await client.post(
        browser.token + INFO, headers={**browser.headers, "Origin": str(client.make_url("/"))[:-1]}
    )
    assert same.status == 200


async def test_plain_port_login(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL, tls=False)
    json_login = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD}
    )
    assert json_login.status == 403
    assert await json_login.json() == {"status": 0, "message": "SSL is required"}
    form = await client.post(
        "/login", data={"user": "bob", "pass": BOB_PASSWORD}, allow_redirects=False
    )
    assert form.status == 301 and "Set-Cookie" not in form.headers
    assert form.headers["Location"].endswith(":2083/login")
