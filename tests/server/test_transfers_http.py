"""Session transfers between WHM, cPanel and Webmail (w§17, SS-4..SS-6, SS-9)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from panelauth.core.accounts import Accounts
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login, session_events, set_cookie

INFO = "/execute/Variables/get_user_information"


async def follow_handoff(location: str, target: Client) -> Browser:
    """Consume a hand-off URL on the target service; the session's cookie and token."""
    parts = urlsplit(location)
    assert parts.scheme == "https"
    response = await target.get(f"{parts.path}?{parts.query}", allow_redirects=False)
    assert response.status == 302, await response.text()
    token = response.headers["Location"].split("/")[1]
    return Browser(set_cookie(response), "/" + token)


async def test_root_enters_a_cpanel_account(make_client: MakeClient, logs: Path) -> None:
    whm = await make_client(Service.WHM)
    root = await login(whm, "root", ROOT_PASSWORD)
    response = await whm.post(
        "/xfercpanel",
        data={"token": root.token, "user": "bob"},
        headers=root.headers,
        allow_redirects=False,
    )
    assert response.status == 302
    location = response.headers["Location"]
    assert re.fullmatch(
        r"https://127\.0\.0\.1:2083/cpsess\d{10}/login/\?session=bob%3a[A-Za-z0-9_]{16}"
        r"%2c[0-9a-f]{32}",
        location,
    )
    cpanel = await make_client(Service.CPANEL)
    bob = await follow_handoff(location, cpanel)
    info = await cpanel.get(bob.token + INFO, headers=bob.headers)
    assert (await info.json())["data"]["user"] == "bob"
    page = await cpanel.get(bob.token + "/frontend/jupiter/index.html", headers=bob.headers)
    assert 'id="possessor">root<' in await page.text()
    events = session_events(logs)
    assert [e.event for e in events] == ["NEW", "NEW", "PURGE", "NEW"]
    assert events[2].fields == {"reason": "xfercpanel"}
    assert events[3].fields["method"] == "handle_auth_transfer"
    assert events[3].fields["creator"] == "root" and events[3].fields["possessed"] == "1"
    assert "bob (possessor: root) - SUCCESS LOGIN cpaneld" in (logs / "login_log").read_text()
    # single use: a second client cannot use the URL
    again = await cpanel.get(
        urlsplit(location).path + "?" + urlsplit(location).query, allow_redirects=False
    )
    assert again.status == 401


async def test_get_form_of_xfercpanel_and_the_token_rule(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    root = await login(whm, "root", ROOT_PASSWORD)
    ok = await whm.get(f"{root.token}/xfercpanel/bob", headers=root.headers, allow_redirects=False)
    assert ok.status == 302
    no_token = await whm.get("/xfercpanel/bob", headers=root.headers, allow_redirects=False)
    assert no_token.status == 401
    foreign_host = await whm.get(
        f"{root.token}/xfercpanel/bob",
        allow_redirects=False,
        headers={**root.headers, "Host": "evil.example"},
    )
    # generated URLs name a configured host, never an unchecked Host header (SS-8)
    assert foreign_host.headers["Location"].startswith("https://panel.example.test:2083/")
    no_session = await whm.get(f"{root.token}/xfercpanel/bob", allow_redirects=False)
    assert no_session.status == 302 and no_session.headers["Location"].startswith("/login/")


async def test_reseller_enters_only_its_own_accounts(
    make_client: MakeClient, server_state: ServerState
) -> None:
    runtime = server_state.runtime
    accounts = Accounts(runtime.store, runtime.passwords, runtime.clock)
    await accounts.create(user="res", domain="res.example", password="res-Pw-1234", owner="root")
    await accounts.make_reseller("res")
    await accounts.create(user="carol", domain="carol.example", password="carol-Pw-12", owner="res")
    whm = await make_client(Service.WHM)
    res = await login(whm, "res", "res-Pw-1234")
    own = await whm.get(f"{res.token}/xfercpanel/carol", headers=res.headers, allow_redirects=False)
    assert own.status == 302
    foreign = await whm.get(
        f"{res.token}/xfercpanel/bob", headers=res.headers, allow_redirects=False
    )
    absent = await whm.get(
        f"{res.token}/xfercpanel/ghost", headers=res.headers, allow_redirects=False
    )
    assert foreign.status == absent.status == 403
    # cPanel -> WHM for the reseller's own cPanel account
    cpanel = await make_client(Service.CPANEL)
    res_cpanel = await login(cpanel, "res", "res-Pw-1234")
    to_whm = await cpanel.get(
        f"{res_cpanel.token}/xferwhm/", headers=res_cpanel.headers, allow_redirects=False
    )
    assert to_whm.status == 302
    back = await follow_handoff(to_whm.headers["Location"], whm)
    version = await whm.get(f"{back.token}/json-api/version?api.version=1", headers=back.headers)
    assert version.status == 200
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    refused = await cpanel.get(f"{bob.token}/xferwhm/", headers=bob.headers, allow_redirects=False)
    assert refused.status == 403


async def test_cpanel_to_webmail_and_back(make_client: MakeClient, logs: Path) -> None:
    cpanel = await make_client(Service.CPANEL)
    webmail = await make_client(Service.WEBMAIL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    to_mailbox = await cpanel.get(
        f"{bob.token}/xferwebmail/?user=info@bob.example",
        headers=bob.headers,
        allow_redirects=False,
    )
    info = await follow_handoff(to_mailbox.headers["Location"], webmail)
    answer = await webmail.get(info.token + INFO, headers=info.headers)
    assert (await answer.json())["data"]["user"] == "info@bob.example"
    # a Webmail session never reaches account-level functions (SS-5)
    denied = await webmail.get(info.token + "/execute/Email/list_pops", headers=info.headers)
    assert denied.status == 403
    assert session_events(logs)[-2].fields == {"reason": "xferwebmail"}
    # back to cPanel: allowed, because the mailbox session is possessed by bob
    back = await webmail.get(
        f"{info.token}/xfercpanel/", headers=info.headers, allow_redirects=False
    )
    assert back.status == 302
    again = await follow_handoff(back.headers["Location"], cpanel)
    assert (await cpanel.get(again.token + INFO, headers=again.headers)).status == 200
    foreign = await cpanel.get(
        f"{bob.token}/xferwebmail/?user=info@carol.example",
        headers=bob.headers,
        allow_redirects=False,
    )
    assert foreign.status == 403


async def test_plain_mailbox_login_cannot_transfer_to_cpanel(make_client: MakeClient) -> None:
    webmail = await make_client(Service.WEBMAIL)
    mailbox = await login(webmail, "info@bob.example", "info-Pw-1234")
    response = await webmail.get(
        f"{mailbox.token}/xfercpanel/", headers=mailbox.headers, allow_redirects=False
    )
    assert response.status == 403


async def test_expired_handoff_is_refused_and_purged(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    from panelauth.clock import FrozenClock

    clock = server_state.runtime.clock
    assert isinstance(clock, FrozenClock)
    cpanel = await make_client(Service.CPANEL)
    bob = await login(cpanel, "bob", BOB_PASSWORD)
    response = await cpanel.get(
        f"{bob.token}/xferwebmail/", headers=bob.headers, allow_redirects=False
    )
    clock.advance(301)
    webmail = await make_client(Service.WEBMAIL)
    parts = urlsplit(response.headers["Location"])
    late = await webmail.get(f"{parts.path}?{parts.query}", allow_redirects=False)
    assert late.status == 401
    assert session_events(logs)[-1].fields == {"reason": "expired"}
    wrong_port = await cpanel.get(f"{parts.path}?{parts.query}", allow_redirects=False)
    assert wrong_port.status == 401
