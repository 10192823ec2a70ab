"""The Two-Factor Authentication page in a real browser (headless Chromium via Playwright) against
a running server: root enrols on WHM and logs in with a code, then removes the second factor of
a cPanel account from the users table, with the keyboard alone; screenshots of WHM's page and of
cPanel's enrolment page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, start_server_with_account, submit_login

pytestmark = pytest.mark.e2e
CAROL_PASSWORD = "carol-Tfa-Pw1"
DINA_PASSWORD = "dina-Tfa-Pw1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SIZES = [("laptop", 1280, 800), ("phone", 390, 844)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """carol, who enrols through the UAPI, and dina, who is never enrolled."""
    running = start_server_with_account(
        tmp_path_factory.mktemp("twofactor") / "data", "carol", CAROL_PASSWORD
    )
    try:
        with running.client() as client:
            created = client.get(
                running.url(2087, "/json-api/createacct"),
                params={
                    "api.version": "1",
                    "username": "dina",
                    "domain": "dina.example",
                    "password": DINA_PASSWORD,
                },
                auth=("root", ROOT_PASSWORD),
            )
            assert created.json()["metadata"]["result"] == 1
        yield running
    finally:
        running.stop()


def wait_for_next_step() -> None:
    """Codes are single use per 30-second step; the next login needs the next step."""
    step = int(time.time()) // 30
    while int(time.time()) // 30 == step:
        time.sleep(0.25)


def open_two_factor_page(page: Page) -> None:
    page.click("#to-twofactor")
    page.wait_for_url(re.compile(r".*/cpsess\d{10}/twofactor/$"))
    expect(page.locator("h1")).to_have_text("Two-Factor Authentication")


def user_row(page: Page, user: str) -> Locator:
    cell = page.locator('td[data-label="User"]', has_text=re.compile(rf"^{user}\b"))
    return page.locator("#tfa-users tbody tr").filter(has=cell)


def shown_status(row: Locator) -> Locator:
    return row.locator('td[data-label="Two-factor"]')


def carol_lists_her_domains(client: httpx.Client, server: RunningServer) -> httpx.Response:
    return client.get(
        server.url(2083, "/execute/DomainInfo/list_domains"), auth=("carol", CAROL_PASSWORD)
    )


def enrol_carol_through_the_uapi(server: RunningServer) -> None:
    execute = "/execute/TwoFactorAuth/"
    with server.client() as client:
        auth = ("carol", CAROL_PASSWORD)
        generated = client.get(server.url(2083, execute + "generate_user_configuration"), auth=auth)
        secret = generated.json()["data"]["secret"]
        enrolled = client.post(
            server.url(2083, execute + "set_user_configuration"),
            data={"secret": secret, "tfa_token": pyotp.TOTP(secret).now()},
            auth=auth,
        )
        assert enrolled.json()["status"] == 1, enrolled.text
        # from now on her password alone does not open her account
        assert carol_lists_her_domains(client, server).status_code == 403


def save_screenshot(page: Page, name: str, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    # nothing is wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_root_enrols_logs_in_with_a_code_and_removes_an_accounts_second_factor(
    server: RunningServer, page: Page
) -> None:
    submit_login(page, server, 2087, "root", ROOT_PASSWORD)
    expect(page.locator("#user")).to_have_text("root")
    open_two_factor_page(page)
    expect(page.locator("#tfa-policy")).to_contain_text("is on on this server")
    expect(shown_status(user_row(page, "root"))).to_have_text("Not enabled")
    expect(page.locator("#tfa-qr svg")).to_be_visible()
    totp = pyotp.TOTP(page.locator("#tfa-secret").inner_text())
    page.fill("#tfa_token", totp.now())
    page.click("#tfa_enable")
    expect(page.locator("#tfa-status")).to_have_text("Saved.")
    expect(page.locator("#tfa-enabled")).to_be_visible()
    expect(shown_status(user_row(page, "root"))).to_have_text("Enabled")
    page.click("#logout")

    # the password alone leads to the code form; a code of a fresh step opens the session
    submit_login(page, server, 2087, "root", ROOT_PASSWORD)
    expect(page.locator("#tfa_login_form")).to_be_visible()
    wait_for_next_step()
    page.fill("#tfatoken", totp.now())
    page.click("#tfa_submit")
    expect(page.locator("#user")).to_have_text("root")

    enrol_carol_through_the_uapi(server)
    open_two_factor_page(page)
    carol = user_row(page, "carol")
    expect(shown_status(carol)).to_have_text("Enabled")
    expect(shown_status(user_row(page, "dina"))).to_have_text("Not enabled")
    expect(user_row(page, "dina").get_by_role("button")).to_have_count(0)

    # keyboard alone: open carol's form, type root's password, tick Sure, press Remove
    summary = carol.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    password = carol.get_by_label("Current password")
    expect(password).to_be_visible()
    for name, width, height in SIZES:
        save_screenshot(page, f"whm-two-factor-{name}", width, height)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type(ROOT_PASSWORD)
    remove = carol.get_by_role("button", name="Remove the two-factor authentication of carol")
    page.keyboard.press("Tab")  # the code field
    page.keyboard.press("Tab")
    sure = carol.get_by_label("Sure")
    expect(sure).to_be_focused()
    page.keyboard.press("Tab")
    expect(remove).to_be_focused()
    page.keyboard.press("Enter")  # Sure unticked: the browser does not send the form
    assert sure.evaluate("box => box.matches(':invalid')")
    expect(shown_status(carol)).to_have_text("Enabled")
    sure.focus()
    page.keyboard.press("Space")
    expect(sure).to_be_checked()
    remove.focus()
    page.keyboard.press("Enter")

    expect(page.locator("#tfa-status")).to_have_text(
        "Two-factor authentication is off for carol. Their other sessions have ended."
    )
    expect(shown_status(user_row(page, "carol"))).to_have_text("Not enabled")
    expect(user_row(page, "carol").locator("summary")).to_have_count(0)
    with server.client() as client:
        answer = carol_lists_her_domains(client, server)
    assert answer.status_code == 200
    assert answer.json()["data"]["main_domain"] == "carol.example"


@pytest.mark.parametrize(("name", "width", "height"), SIZES)
def test_cpanel_enrolment_page_screenshots(
    server: RunningServer, page: Page, name: str, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    submit_login(page, server, 2083, "dina", DINA_PASSWORD)
    expect(page.locator("#user")).to_have_text("dina")
    open_two_factor_page(page)
    expect(page.locator("#tfa-qr svg")).to_be_visible()
    expect(page.locator("#tfa-secret")).to_have_text(re.compile(r"^[A-Z2-7]{32}$"))
    expect(page.locator("#tfa-users")).to_have_count(0)  # cPanel: the own enrolment only
    save_screenshot(page, f"cpanel-two-factor-{name}", width, height)
