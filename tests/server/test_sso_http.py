"""Single sign-on over HTTP: `create_user_session` and the Webmail session functions (w§10, D8)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.models import CredentialKind, root_identity
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD
from tests.server.conftest import BOB_AUTH, ROOT_AUTH, MakeClient, basic
from tests.server.sessions_helpers import Browser, Client, session_events, set_cookie

CUS = "/json-api/create_user_session?api.version=1"
INFO = "/execute/Variables/get_user_information"
RES_PASSWORD = "res-Passw0rd!"
RES_AUTH = basic("res", RES_PASSWORD)
INFO_PASSWORD = "info-Pw-1234"


async def cus(whm: Client, headers: dict[str, str], **params: str) -> tuple[int, Any]:
    query = "".join(f"&{key}={value}" for key, value in params.items())
    response = await whm.get(CUS + query, headers=headers)
    return response.status, await response.json()


async def use(client: Client, url: str, **headers: str) -> tuple[int, dict[str, str]]:
    parts = urlsplit(url)
    response = await client.get(
        f"{parts.path}?{parts.query}", allow_redirects=False, headers=headers
    )
    return response.status, dict(response.headers)


def browser_from(headers: dict[str, str]) -> Browser:
    token = "/" + headers["Location"].split("/")[1]
    return Browser(headers["Set-Cookie"].split(";", 1)[0], token)


async def session_count(state: ServerState) -> int:
    total = 0
    for user in ("root", "bob", "res", "carol"):
        total += len(await state.runtime.store.sessions_of(user))
    return total


@pytest.fixture
async def reseller(server_state: ServerState, clock: FrozenClock) -> None:
    runtime = server_state.runtime
    accounts = Accounts(runtime.store, runtime.passwords, clock)
    await accounts.create(user="res", domain="res.example", password=RES_PASSWORD, owner="root")
    await accounts.make_reseller("res")
    await accounts.set_acls("res", frozenset({"create-user-session", "list-accts"}))
    await accounts.create(
        user="carol", domain="carol.example", password="carol-Pw-123", owner="res"
    )


async def root_token(state: ServerState, **acls: str) -> str:
    answer = await state.dispatcher.whm1(
        root_identity(CredentialKind.LOCAL),
        "api_token_create",
        Params([("token_name", "t"), *acls.items()]),
        client_address="127.0.0.1",
    )
    assert answer.ok, answer.error
    token: str = answer.data["token"]
    return token


async def test_root_creates_a_cpanel_session_and_a_browser_uses_it_once(
    make_client: MakeClient, logs: Path, clock: FrozenClock
) -> None:
    whm = await make_client(Service.WHM)
    status, body = await cus(whm, ROOT_AUTH, user="bob", service="cpaneld")
    assert status == 200 and body["metadata"]["result"] == 1
    assert body["metadata"]["reason"] == "Created session"
    data = body["data"]
    assert data["service"] == "cpaneld"
    assert data["expires"] == int(clock.now()) + 300
    assert re.fullmatch(r"/cpsess\d{10}", data["cp_security_token"])
    assert re.fullmatch(r"bob:[A-Za-z0-9_]{16}:create_user_session,[0-9a-f]{32}", data["session"])
    assert data["url"] == (
        f"https://127.0.0.1:2083{data['cp_security_token']}/login/?session="
        + data["session"].replace(":", "%3a").replace(",", "%2c")
    )
    events = session_events(logs)
    assert events[-1].event == "NEW"
    assert events[-1].fields["creator"] == "root"
    assert events[-1].fields["method"] == "create_user_session"
    assert events[-1].fields["path"] == "api"
    assert events[-1].fields["possessed"] == "1"
    # not usable as a cookie before the URL is opened
    cpanel = await make_client(Service.CPANEL)
    cookie = "cpsession=" + data["url"].split("session=")[1]
    early = await cpanel.get(data["cp_security_token"] + INFO, headers={"Cookie": cookie})
    assert early.status == 403
    status, headers = await use(cpanel, data["url"])
    assert status == 302
    assert headers["Location"] == f"{data['cp_security_token']}/frontend/jupiter/index.html"
    bob = browser_from(headers)
    # API calls with the temporary session's cookie and security token
    info = await cpanel.get(bob.token + INFO, headers=bob.headers)
    assert (await info.json())["data"]["user"] == "bob"
    assert "bob (possessor: root) - SUCCESS LOGIN cpaneld" in (logs / "login_log").read_text()
    # single use: another client is refused; the holder is sent on
    status, _ = await use(cpanel, data["url"])
    assert status == 401
    status, headers = await use(cpanel, data["url"], Cookie=bob.cookie)
    assert status == 302
    # logout ends it with `logout`
    await cpanel.get("/logout", headers=bob.headers, allow_redirects=False)
    purge = session_events(logs)[-1]
    assert purge.event == "PURGE" and purge.fields == {"reason": "logout"}


async def test_the_url_expires_after_five_minutes(
    make_client: MakeClient, logs: Path, clock: FrozenClock
) -> None:
    whm = await make_client(Service.WHM)
    _, body = await cus(whm, ROOT_AUTH, user="bob", service="cpaneld")
    clock.advance(300)
    cpanel = await make_client(Service.CPANEL)
    status, _ = await use(cpanel, body["data"]["url"])
    assert status == 401
    purge = session_events(logs)[-1]
    assert purge.event == "PURGE" and purge.fields == {"reason": "expired"}


async def test_the_used_session_lives_fifteen_minutes_idle(
    make_client: MakeClient, logs: Path, clock: FrozenClock
) -> None:
    whm = await make_client(Service.WHM)
    _, body = await cus(whm, ROOT_AUTH, user="bob", service="cpaneld")
    clock.advance(299)  # used just in time
    cpanel = await make_client(Service.CPANEL)
    status, headers = await use(cpanel, body["data"]["url"])
    assert status == 302
    bob = browser_from(headers)
    clock.advance(14 * 60)
    assert (await cpanel.get(bob.token + INFO, headers=bob.headers)).status == 200
    clock.advance(14 * 60)  # idle time restarted with the last request
    assert (await cpanel.get(bob.token + INFO, headers=bob.headers)).status == 200
    clock.advance(15 * 60)
    assert (await cpanel.get(bob.token + INFO, headers=bob.headers)).status == 403
    purge = session_events(logs)[-1]
    assert purge.event == "PURGE" and purge.fields == {"reason": "expired"}


async def test_altered_values_and_another_port_are_refused(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    _, body = await cus(whm, ROOT_AUTH, user="bob", service="cpaneld")
    url = body["data"]["url"]
    token = body["data"]["cp_security_token"]
    cpanel = await make_client(Service.CPANEL)
    webmail = await make_client(Service.WEBMAIL)
    secret = url[-32:]
    other_secret = ("0" if secret[0] != "0" else "1") + secret[1:]
    wrong_token = token[:-1] + ("0" if token[-1] != "0" else "1")
    for client, altered in (
        (cpanel, url[:-32] + other_secret),
        (cpanel, url.replace(token, wrong_token)),
        (cpanel, url.replace("bob%3a", "bob%3aX", 1)),
        (whm, url),  # another service's port
        (webmail, url),
    ):
        status, _ = await use(client, altered)
        assert status == 401, altered
    # none of these spent it
    status, _ = await use(cpanel, url)
    assert status == 302


async def test_app_locale_and_preferred_domain(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    status, body = await cus(
        whm,
        ROOT_AUTH,
        user="bob",
        service="cpaneld",
        app="Email_Accounts",
        locale="fr",
        preferred_domain="bob.example",
    )
    assert status == 200, body
    data = body["data"]
    assert data["locale"] == "fr"
    assert data["url"].startswith("https://bob.example:2083/cpsess")
    assert data["url"].endswith("&goto_uri=/frontend/jupiter/email_accounts/index.html&locale=fr")
    cpanel = await make_client(Service.CPANEL)
    status, headers = await use(cpanel, data["url"])
    assert status == 302
    assert headers["Location"] == (
        f"{data['cp_security_token']}/frontend/jupiter/email_accounts/index.html"
    )
    # an unknown (well-formed) key still creates the session, without a landing
    _, unknown = await cus(whm, ROOT_AUTH, user="bob", service="cpaneld", app="No_Such_App")
    assert unknown["metadata"]["result"] == 1 and "goto_uri" not in unknown["data"]["url"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"user": "bob", "service": "ftpd"}, "service"),
        ({"user": "root", "service": "cpaneld"}, "root has no"),
        ({"user": "root", "service": "webmaild"}, "root has no"),
        ({"user": "bob", "service": "whostmgrd"}, "only for root and resellers"),
        ({"user": "bob", "service": "cpaneld", "locale": "x" * 17}, "locale"),
        ({"user": "bob", "service": "cpaneld", "locale": "EN"}, "locale"),
        ({"user": "bob", "service": "cpaneld", "app": "a/b"}, "app"),
        ({"user": "bob", "service": "cpaneld", "preferred_domain": "evil.example"}, "preferred"),
    ],
)
async def test_refusals_with_result_zero_leave_nothing(
    make_client: MakeClient,
    server_state: ServerState,
    logs: Path,
    params: dict[str, str],
    reason: str,
) -> None:
    whm = await make_client(Service.WHM)
    status, body = await cus(whm, ROOT_AUTH, **params)
    assert status == 200 and body["metadata"]["result"] == 0
    assert reason in body["metadata"]["reason"]
    assert await session_count(server_state) == 0
    assert session_events(logs) == []


async def test_suspended_targets_are_refused(
    make_client: MakeClient, server_state: ServerState
) -> None:
    changes = server_state.runtime.account_changes()
    await changes.suspend("bob", "test", actor="root", address=None)
    whm = await make_client(Service.WHM)
    status, body = await cus(whm, ROOT_AUTH, user="bob", service="cpaneld")
    assert status == 200 and body["metadata"]["result"] == 0
    assert "suspended" in body["metadata"]["reason"]
    status, body = await cus(whm, ROOT_AUTH, user="info@bob.example", service="webmaild")
    assert status == 200 and body["metadata"]["result"] == 0
    assert await session_count(server_state) == 0


@pytest.mark.usefixtures("reseller")
async def test_resellers_act_for_themselves_and_their_accounts_only(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    whm = await make_client(Service.WHM)
    for user, service in (("carol", "cpaneld"), ("res", "whostmgrd"), ("res", "cpaneld")):
        status, body = await cus(whm, RES_AUTH, user=user, service=service)
        assert status == 200 and body["metadata"]["result"] == 1, (user, body)
    assert session_events(logs)[-2].fields["possessed"] == "0"
    before = await session_count(server_state)
    # root's account, another owner's account and an absent one: the same 403
    answers = set()
    for user in ("bob", "root", "nosuchuser", "info@bob.example"):
        service = "webmaild" if "@" in user else "cpaneld"
        response = await whm.get(f"{CUS}&user={user}&service={service}", headers=RES_AUTH)
        assert response.status == 403
        answers.add(await response.text())
    assert len(answers) == 1
    assert await session_count(server_state) == before
    # without the ACL
    accounts = Accounts(server_state.runtime.store, server_state.runtime.passwords, FrozenClock())
    await accounts.set_acls("res", frozenset({"list-accts"}))
    response = await whm.get(f"{CUS}&user=carol&service=cpaneld", headers=RES_AUTH)
    assert response.status == 403
    assert "create-user-session" in (await response.json())["metadata"]["reason"]


async def test_root_absent_user_is_the_same_403(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    response = await whm.get(f"{CUS}&user=nosuchuser&service=cpaneld", headers=ROOT_AUTH)
    assert response.status == 403


async def test_tokens_need_the_acl_and_work_under_the_cpsess_prefix(
    make_client: MakeClient, server_state: ServerState
) -> None:
    whm = await make_client(Service.WHM)
    full = await root_token(server_state)
    headers = {"Authorization": f"whm root:{full}"}
    status, body = await cus(whm, headers, user="root", service="whostmgrd")
    assert status == 200 and body["data"]["cp_security_token"].startswith("/cpsess")
    token = body["data"]["cp_security_token"]
    listed = await whm.get(f"{token}/json-api/listaccts?api.version=1", headers=headers)
    assert listed.status == 200 and (await listed.json())["metadata"]["result"] == 1
    narrow = await root_token(server_state, **{"acl-1": "list-accts", "token_name": "n"})
    response = await whm.get(
        f"{CUS}&user=bob&service=cpaneld", headers={"Authorization": f"whm root:{narrow}"}
    )
    assert response.status == 403


async def test_root_whm_session_and_webmail_session_for_a_mailbox(
    make_client: MakeClient, logs: Path
) -> None:
    whm = await make_client(Service.WHM)
    _, body = await cus(whm, ROOT_AUTH, user="root", service="whostmgrd")
    status, headers = await use(whm, body["data"]["url"])
    assert status == 302 and headers["Location"] == body["data"]["cp_security_token"] + "/"
    root = browser_from(headers)
    version = await whm.get(root.token + "/json-api/version?api.version=1", headers=root.headers)
    assert version.status == 200
    assert session_events(logs)[0].fields["possessed"] == "0"
    _, body = await cus(whm, ROOT_AUTH, user="info@bob.example", service="webmaild")
    assert body["data"]["url"].startswith("https://127.0.0.1:2096/cpsess")
    webmail = await make_client(Service.WEBMAIL)
    status, headers = await use(webmail, body["data"]["url"])
    assert status == 302
    info = browser_from(headers)
    answer = await webmail.get(info.token + INFO, headers=info.headers)
    assert (await answer.json())["data"]["user"] == "info@bob.example"


# -- UAPI Session (w§10.2) --------------------------------------------------------------------


async def webmail_login(webmail: Client, token: str, session: str) -> tuple[int, dict[str, str]]:
    response = await webmail.post(
        f"{token}/login", data={"session": session}, allow_redirects=False
    )
    return response.status, dict(response.headers)


async def test_webmail_session_for_self_and_for_a_mailbox(
    make_client: MakeClient, logs: Path
) -> None:
    cpanel = await make_client(Service.CPANEL)
    webmail = await make_client(Service.WEBMAIL)
    response = await cpanel.get(
        "/execute/Session/create_webmail_session_for_self", headers=BOB_AUTH
    )
    body = await response.json()
    assert body["status"] == 1, body
    data = body["data"]
    assert data["hostname"] is None
    assert re.fullmatch(r"/cpsess\d{10}", data["token"])
    assert re.fullmatch(
        r"bob:[A-Za-z0-9_]{16}:CREATE_WEBMAIL_SESSION_FOR_SELF,[0-9a-f]{32}", data["session"]
    )
    new = session_events(logs)[-1]
    assert new.fields["method"] == "create_webmail_session"
    assert new.fields["possessed"] == "0" and new.fields["app"] == "webmaild"
    status, headers = await webmail_login(webmail, data["token"], data["session"])
    assert status == 302
    assert headers["Location"] == f"{data['token']}/webmail/jupiter/index.html"
    status, _ = await webmail_login(webmail, data["token"], data["session"])
    assert status == 401  # once
    response = await cpanel.get(
        "/execute/Session/create_webmail_session_for_mail_user?login=info&domain=bob.example",
        headers=BOB_AUTH,
    )
    data = (await response.json())["data"]
    assert data["session"].startswith("info@bob.example:")
    assert ":CREATE_WEBMAIL_SESSION_FOR_MAIL_USER," in data["session"]
    new = session_events(logs)[-1]
    assert new.fields["creator"] == "bob" and new.fields["possessed"] == "1"
    status, headers = await webmail_login(webmail, data["token"], data["session"])
    assert status == 302
    info = browser_from(headers)
    answer = await webmail.get(info.token + INFO, headers=info.headers)
    assert (await answer.json())["data"]["user"] == "info@bob.example"


async def test_webmail_session_refusals(
    make_client: MakeClient, server_state: ServerState, clock: FrozenClock
) -> None:
    runtime = server_state.runtime
    accounts = Accounts(runtime.store, runtime.passwords, clock)
    await accounts.create(user="dave", domain="dave.example", password="dave-Pw-1234", owner="root")
    dave = await runtime.store.get_account("dave")
    assert dave is not None
    await accounts.add_mailbox(
        dave, local_part="x", domain="dave.example", password="x-Pw-123456", quota_mb=0
    )
    cpanel = await make_client(Service.CPANEL)
    base = "/execute/Session/create_webmail_session_for_mail_user"
    texts = set()
    for query in ("login=x&domain=dave.example", "login=nobody&domain=bob.example"):
        response = await cpanel.get(f"{base}?{query}", headers=BOB_AUTH)
        assert response.status == 403
        texts.add(await response.text())
    assert len(texts) == 1
    bad = await cpanel.get(
        f"{base}?login=info&domain=bob.example&remote_address=nope", headers=BOB_AUTH
    )
    assert (await bad.json())["status"] == 0
    # a Webmail identity never mints sessions
    webmail = await make_client(Service.WEBMAIL)
    mailbox_auth = basic("info@bob.example", INFO_PASSWORD)
    refused = await webmail.get(
        "/execute/Session/create_webmail_session_for_self", headers=mailbox_auth
    )
    assert refused.status == 403
    assert await session_count(server_state) == 0


async def test_remote_address_binds_the_url(make_client: MakeClient) -> None:
    cpanel = await make_client(Service.CPANEL)
    webmail = await make_client(Service.WEBMAIL)
    response = await cpanel.get(
        "/execute/Session/create_webmail_session_for_self?remote_address=192.0.2.99",
        headers=BOB_AUTH,
    )
    data = (await response.json())["data"]
    status, _ = await webmail_login(webmail, data["token"], data["session"])
    assert status == 401  # the test client is 127.0.0.1


async def test_check_password_variant(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    cpanel = await make_client(Service.CPANEL)
    base = (
        "/execute/Session/create_webmail_session_for_mail_user_check_password"
        "?login=info&domain=bob.example&password="
    )
    wrong = await cpanel.get(base + "wrong-Pw-1", headers=BOB_AUTH)
    body = await wrong.json()
    assert wrong.status == 200 and body["status"] == 0
    failed = [line for line in (logs / "login_log").read_text().splitlines() if "FAILED" in line]
    assert len(failed) == 1
    assert " info@bob.example " in failed[0]
    assert failed[0].endswith("FAILED LOGIN webmaild: user password incorrect")
    assert await session_count(server_state) == 0
    right = await cpanel.get(base + INFO_PASSWORD, headers=BOB_AUTH)
    data = (await right.json())["data"]
    webmail = await make_client(Service.WEBMAIL)
    status, _ = await webmail_login(webmail, data["token"], data["session"])
    assert status == 302


async def test_root_through_whm_creates_a_webmail_session_it_possesses(
    make_client: MakeClient, logs: Path
) -> None:
    whm = await make_client(Service.WHM)
    response = await whm.get(
        "/json-api/uapi_cpanel?cpanel.module=Session&cpanel.function=create_webmail_session_for_self"
        "&cpanel.user=bob",
        headers=ROOT_AUTH,
    )
    body = await response.json()
    assert body["data"]["uapi"]["status"] == 1
    new = session_events(logs)[-1]
    assert new.fields["creator"] == "root" and new.fields["possessed"] == "1"


async def test_bob_password_session_unchanged(make_client: MakeClient) -> None:
    """Control: the ordinary login still works beside the SSO machinery."""
    cpanel = await make_client(Service.CPANEL)
    response = await cpanel.post("/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD})
    assert response.status == 200
    assert set_cookie(response).startswith("cpsession=bob%3a")
