"""A real browser (Debian's headless Chromium driven by Playwright) against a running server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, log_with, start_server_with_account, submit_login

pytestmark = pytest.mark.e2e
BOB_PASSWORD = "bob-Browser-Pw1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_with_account(
        tmp_path_factory.mktemp("browser") / "data", "bob", BOB_PASSWORD
    )
    yield running
    running.stop()


def test_log_in_call_uapi_and_log_out(server: RunningServer, page: Page) -> None:
    page.goto(server.url(2083, "/"))
    expect(page.locator("h1")).to_have_text("cPanel Login")
    page.fill("#user", "bob")
    page.fill("#pass", BOB_PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/cpsess\d{10}/frontend/jupiter/index\.html$"))
    landing = page.url
    expect(page.locator("#user")).to_have_text("bob")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["cpsession"]["httpOnly"] and cookies["cpsession"]["secure"]
    assert cookies["cpsession"]["sameSite"] == "Lax"

    page.click("#call-api")
    expect(page.locator("#api-result")).to_contain_text('"user":"bob"')
    expect(page.locator("#api-result")).to_contain_text("200")

    old_cookies = page.context.cookies()
    page.click("#logout")
    expect(page.locator("h1")).to_have_text("cPanel Login")
    assert page.context.cookies() == []
    page.goto(landing)
    expect(page.locator("h1")).to_have_text("cPanel Login")
    # even with the old cookie replayed, the purged session is gone on the server (SE-8)
    page.context.add_cookies(old_cookies)  # type: ignore[arg-type]
    page.goto(landing)
    expect(page.locator("#login-status")).to_contain_text("not valid")
    assert "/login/" in page.url


def test_wrong_password_shows_the_login_page_again(server: RunningServer, page: Page) -> None:
    page.goto(server.url(2083, "/login/"))
    page.fill("#user", "bob")
    page.fill("#pass", "not-the-password")
    page.click("#login_submit")
    expect(page.locator("#login-status")).to_have_text("The login is invalid.")
    assert page.context.cookies() == []


def test_webmail_login_asks_for_an_email_address(server: RunningServer, page: Page) -> None:
    page.goto(server.url(2096, "/"))
    expect(page.locator("label[for=user]")).to_have_text("Email Address")
    expect(page.locator("#user")).to_have_attribute("type", "email")


def wait_for_next_step() -> None:
    """Codes are single use per 30-second step; the next login needs the next step."""
    step = int(time.time()) // 30
    while int(time.time()) // 30 == step:
        time.sleep(0.25)


def test_enrol_two_factor_then_log_in_with_a_code(server: RunningServer, page: Page) -> None:
    with server.client() as client:
        created = client.get(
            server.url(2087, "/json-api/createacct"),
            params={
                "api.version": "1",
                "username": "dave",
                "domain": "dave.example",
                "password": "dave-Browser-Pw1",
            },
            auth=("root", ROOT_PASSWORD),
        )
        assert created.json()["metadata"]["result"] == 1
    submit_login(page, server, 2083, "dave", "dave-Browser-Pw1")
    page.click("#to-twofactor")
    expect(page.locator("#tfa-qr svg")).to_be_visible()
    totp = pyotp.TOTP(page.locator("#tfa-secret").inner_text())
    page.fill("#tfa_token", totp.now())
    page.click("#tfa_enable")
    expect(page.locator("#tfa-enabled")).to_be_visible()
    page.click("#logout")

    # the password alone leads to the code form; a fresh code opens a new session
    submit_login(page, server, 2083, "dave", "dave-Browser-Pw1")
    expect(page.locator("#tfa_login_form")).to_be_visible()
    wait_for_next_step()
    code = totp.now()
    page.fill("#tfatoken", code)
    page.click("#tfa_submit")
    expect(page.locator("#user")).to_have_text("dave")
    page.click("#logout")

    # the same code again is a replay
    submit_login(page, server, 2083, "dave", "dave-Browser-Pw1")
    page.fill("#tfatoken", code)
    page.click("#tfa_submit")
    expect(page.locator("#tfa-status")).to_contain_text("not valid")


def test_creating_an_api_token_needs_the_current_password(
    server: RunningServer, page: Page
) -> None:
    submit_login(page, server, 2083, "bob", BOB_PASSWORD)
    page.click("#to-tokens")
    page.fill("#token_name", "from-chromium")
    page.fill("#create_current_password", "not-the-Password1")
    page.click("#create-submit")
    expect(page.locator("#tokens-status")).to_contain_text("not correct")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#no-tokens")).to_be_visible()
    expect(page.locator("#token_name")).to_have_value("from-chromium")  # kept; not the password
    expect(page.locator("#create_current_password")).to_have_value("")
    failure = "reauthentication: user password incorrect"
    assert failure in log_with(server.data_dir / "logs" / "login_log", failure)
    page.fill("#create_current_password", BOB_PASSWORD)
    page.click("#create-submit")
    expect(page.locator("#new-token")).to_have_text(re.compile(r"[A-Z0-9]{32}"))
    expect(page.locator("#token-from-chromium")).to_be_visible()
    page.click("#logout")
