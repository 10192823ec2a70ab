"""Remote-login URLs (w§10.3, w§18): a billing system's server logs in with
`POST /login/?login_only=1` and hands the user `https://host:port/cpsessN/login/?session=<cookie>`;
the user's browser, elsewhere, opens it.

The server trusts X-Forwarded-For from the test client's own peer, so each request can come
"from" the address it names (w§1.5). Cookie address validation is `strict` (the default).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

import pyotp
import pytest
from aiohttp import ClientResponse

from panelauth.clock import FrozenClock
from panelauth.core.session_manager import ADOPTION_REBIND_SECONDS
from panelauth.core.settings import Settings
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD, CHEAP_ARGON2
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Client, set_cookie

BILLING = "203.0.113.50"  # the billing system's server, which logs in
BROWSER = "198.51.100.60"  # the user's browser, which opens the URL
OTHER = "192.0.2.70"
LANDING = "/frontend/jupiter/index.html"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def settings() -> Settings:
    peer = ipaddress.ip_network("127.0.0.1/32")
    return Settings(hostname="panel.example.test", argon2=CHEAP_ARGON2, trusted_proxies=(peer,))


def via(address: str, cookie: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": address}
    if cookie:
        headers["Cookie"] = cookie
    return headers


async def remote_login(client: Client) -> tuple[str, str]:
    """(the URL's path and query, the cookie value) as get_loggedin_url builds them."""
    response = await client.post(
        "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD}, headers=via(BILLING)
    )
    assert response.status == 200, await response.text()
    token = (await response.json())["security_token"]
    value = set_cookie(response).split("=", 1)[1]
    return f"{token}/login/?session={quote(value)}&goto_uri={quote(LANDING)}", value


async def opened(client: Client, url: str, address: str) -> ClientResponse:
    return await client.get(url, headers=via(address), allow_redirects=False)


async def landing(client: Client, response: ClientResponse, address: str) -> int:
    """Follow the URL's redirect with the cookie it set, from `address`: the page's status."""
    cookie = set_cookie(response)
    page = await client.get(response.headers["Location"], headers=via(address, cookie))
    return page.status


async def test_the_url_opens_in_another_browser_and_stays_usable(make_client: MakeClient) -> None:
    cpanel = await make_client(Service.CPANEL)
    url, value = await remote_login(cpanel)
    first = await opened(cpanel, url, BROWSER)
    assert first.status == 302
    token = url.split("/login/", 1)[0]
    assert first.headers["Location"] == f"{token}{LANDING}"
    assert set_cookie(first) == f"cpsession={value}"
    assert await landing(cpanel, first, BROWSER) == 200
    # usable again from the browser it moved to (w§18: until logout or expiry)
    again = await opened(cpanel, url, BROWSER)
    assert again.status == 302 and await landing(cpanel, again, BROWSER) == 200
    # moved once: the billing server's address and any other are refused now
    assert (await opened(cpanel, url, OTHER)).status == 401
    assert (await opened(cpanel, url, BILLING)).status == 401


async def test_a_used_or_older_session_does_not_move(
    make_client: MakeClient, clock: FrozenClock
) -> None:
    cpanel = await make_client(Service.CPANEL)
    url, _ = await remote_login(cpanel)
    clock.advance(ADOPTION_REBIND_SECONDS)
    assert (await opened(cpanel, url, BROWSER)).status == 401
    # from the address it is bound to it still opens
    assert (await opened(cpanel, url, BILLING)).status == 302
    # a used session (its last-seen time moved) stays where it is, however young
    used_url, used_value = await remote_login(cpanel)
    clock.advance(10)
    token = used_url.split("/login/", 1)[0]
    page = await cpanel.get(f"{token}{LANDING}", headers=via(BILLING, f"cpsession={used_value}"))
    assert page.status == 200
    assert (await opened(cpanel, used_url, BROWSER)).status == 401


async def test_a_wrong_token_an_ended_session_and_a_hand_off_are_not_adopted(
    make_client: MakeClient, server_state: ServerState, clock: FrozenClock
) -> None:
    cpanel = await make_client(Service.CPANEL)
    url, value = await remote_login(cpanel)
    wrong = "/cpsess0000000001/login/?session=" + url.split("?session=", 1)[1]
    assert (await opened(cpanel, wrong, BROWSER)).status == 401
    logout = await cpanel.get(
        url.split("/login/", 1)[0] + "/logout/", headers=via(BILLING, f"cpsession={value}")
    )
    assert logout.status in (200, 302)
    assert (await opened(cpanel, url, BILLING)).status == 401
    # an expired one is refused (and purged)
    url, value = await remote_login(cpanel)
    clock.advance(server_state.settings.session_absolute_seconds + 1)
    assert (await opened(cpanel, url, BILLING)).status == 401
    assert await server_state.runtime.store.get_session(value.split(",", 1)[0]) is None


async def test_a_two_factor_account_opens_the_code_form(
    make_client: MakeClient, server_state: ServerState, clock: FrozenClock
) -> None:
    code = pyotp.TOTP(SECRET).at(clock.now())
    await server_state.runtime.two_factor.enrol("bob", SECRET, code, address="127.0.0.1")
    clock.advance(30)
    cpanel = await make_client(Service.CPANEL)
    url, _ = await remote_login(cpanel)
    first = await opened(cpanel, url, BROWSER)
    assert first.status == 302
    page = await cpanel.get(first.headers["Location"], headers=via(BROWSER, set_cookie(first)))
    assert page.status == 200
    assert 'name="tfatoken"' in await page.text()  # the code form, not the account's pages
