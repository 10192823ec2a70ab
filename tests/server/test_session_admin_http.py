"""Listing and ending sessions over HTTP: UAPI PanelauthSessions, WHM API 1 (SE-9, w§14.1)."""

from __future__ import annotations

from pathlib import Path

from panelauth.protocol.services import Service
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import ROOT_AUTH, MakeClient
from tests.server.sessions_helpers import Browser, Client, login, session_events

INFO = "/execute/Variables/get_user_information"
LIST = "/execute/PanelauthSessions/list"
KILL = "/execute/PanelauthSessions/kill"


def sid(browser: Browser) -> str:
    """The session id as the session log writes it (the cookie's part before the comma)."""
    return browser.cookie.split("=", 1)[1].split("%2c")[0].replace("%3a", ":").replace("%40", "@")


async def call(client: Client, browser: Browser, path: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = await client.get(browser.token + path, headers=browser.headers)
    return response.status, await response.json()


async def status_of(client: Client, browser: Browser, path: str) -> int:
    response = await client.get(browser.token + path, headers=browser.headers)
    return response.status


def kill_purges(logs: Path) -> list[str]:
    return [
        e.session_id
        for e in session_events(logs)
        if e.event == "PURGE" and e.fields == {"reason": "kill"}
    ]


async def test_a_user_lists_its_sessions_with_the_current_one_marked(
    make_client: MakeClient,
) -> None:
    cpanel = await make_client(Service.CPANEL)
    first = await login(cpanel, "bob", BOB_PASSWORD)
    second = await login(cpanel, "bob", BOB_PASSWORD)
    response = await cpanel.get(
        first.token + LIST, headers={**first.headers, "User-Agent": "agent/1.0"}
    )
    text = await response.text()
    rows = (await response.json())["data"]
    assert {(r["id"], r["current"]) for r in rows} == {(sid(first), 1), (sid(second), 0)}
    assert {r["service"] for r in rows} == {"cpaneld"}
    assert {r["method"] for r in rows} == {"handle_form_login"}
    assert all(r["address"] == "127.0.0.1" for r in rows)
    # never the secret nor the security token
    for browser in (first, second):
        assert browser.cookie.split("%2c")[1] not in text
        assert browser.token not in text


async def test_ending_the_others_and_then_the_current_session(
    make_client: MakeClient, logs: Path
) -> None:
    cpanel = await make_client(Service.CPANEL)
    me = await login(cpanel, "bob", BOB_PASSWORD)
    other = await login(cpanel, "bob", BOB_PASSWORD)
    status, body = await call(cpanel, me, KILL + "?others=1")
    assert status == 200 and body["data"] == {"killed": 1}
    assert await status_of(cpanel, other, INFO) != 200
    assert kill_purges(logs) == [sid(other)]
    status, body = await call(cpanel, me, f"{KILL}?session={sid(me)}")
    assert body["data"] == {"killed": 1}
    assert await status_of(cpanel, me, INFO) != 200
    assert kill_purges(logs) == [sid(other), sid(me)]


async def test_a_user_cannot_see_or_end_another_users_session(
    make_client: MakeClient, logs: Path
) -> None:
    cpanel, whm = await make_client(Service.CPANEL), await make_client(Service.WHM)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    root = await login(whm, "root", ROOT_PASSWORD)
    _, body = await call(cpanel, bob, LIST)
    assert [r["id"] for r in body["data"]] == [sid(bob)]
    status, body = await call(cpanel, bob, f"{KILL}?session={sid(root)}")
    assert status == 403 and body["status"] == 0
    assert await status_of(whm, root, "/json-api/version?api.version=1") == 200
    assert kill_purges(logs) == []


async def test_a_webmail_mailbox_sees_its_own_sessions_only(make_client: MakeClient) -> None:
    cpanel, webmail = await make_client(Service.CPANEL), await make_client(Service.WEBMAIL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    info = await login(webmail, "info@bob.example", "info-Pw-1234")
    _, body = await call(webmail, info, LIST)
    assert [(r["id"], r["current"]) for r in body["data"]] == [(sid(info), 1)]
    status, _ = await call(webmail, info, f"{KILL}?session={sid(bob)}")
    assert status == 403
    assert await status_of(cpanel, bob, INFO) == 200


async def test_root_lists_and_ends_a_users_sessions_over_whm(
    make_client: MakeClient, logs: Path
) -> None:
    cpanel, whm = await make_client(Service.CPANEL), await make_client(Service.WHM)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    listed = await whm.get(
        "/json-api/panelauth_list_sessions?api.version=1&user=bob", headers=ROOT_AUTH
    )
    assert [s["id"] for s in (await listed.json())["data"]["sessions"]] == [sid(bob)]
    absent = await whm.get(
        "/json-api/panelauth_list_sessions?api.version=1&user=zed", headers=ROOT_AUTH
    )
    assert absent.status == 403
    killed = await whm.get(
        "/json-api/panelauth_kill_sessions?api.version=1&user=bob", headers=ROOT_AUTH
    )
    assert (await killed.json())["data"] == {"killed": 1}
    assert await status_of(cpanel, bob, INFO) != 200
    assert kill_purges(logs) == [sid(bob)]
