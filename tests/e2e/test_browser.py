"""A real browser (Debian's headless Chromium driven by Playwright) against a running server."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, start_server

pytestmark = pytest.mark.e2e
BOB_PASSWORD = "bob-Browser-Pw1"
CHROMIUM = os.environ.get("PANELAUTH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("browser") / "data")
    try:
        with running.client() as client:
            created = client.get(
                running.url(2087, "/json-api/createacct"),
                params={
                    "api.version": "1",
                    "username": "bob",
                    "domain": "bob.example",
                    "password": BOB_PASSWORD,
                },
                auth=("root", ROOT_PASSWORD),
            )
            assert created.json()["metadata"]["result"] == 1
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True)
    yield context.new_page()
    context.close()


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
