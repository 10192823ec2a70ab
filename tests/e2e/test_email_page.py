"""cPanel's Email Accounts page and the Webmail side in a real browser (headless Chromium via
Playwright) against a running server on offset ports: add a mailbox, change its password, open
Webmail as it, delete it; a mailbox changes its own password on Webmail's Password page; and
screenshots at laptop and phone widths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.conftest import RunningServer, log_in, start_server_with_account

pytestmark = pytest.mark.e2e
DANA_PASSWORD = "dana-Mail-Pw1"
DOMAIN = "dana.example"
INFO_PASSWORD = "info-Mailbox-Pw1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CPANEL, WEBMAIL = 2083, 2096
TOKEN = r"/cpsess\d{10}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_with_account(
        tmp_path_factory.mktemp("email") / "data", "dana", DANA_PASSWORD
    )
    yield running
    running.stop()


def open_email_accounts(page: Page, server: RunningServer) -> None:
    log_in(page, server, CPANEL, "dana", DANA_PASSWORD)
    page.click("#to-email")
    page.wait_for_url(re.compile(rf".*:{CPANEL + server.offset}{TOKEN}/email/$"))
    expect(page.locator("h1")).to_have_text("Email Accounts")


def add_mailbox(page: Page, local: str, password: str, quota: str = "") -> None:
    page.fill("#add-email", local)
    page.select_option("#add-domain", DOMAIN)
    page.fill("#add-password", password)
    page.fill("#add-confirm", password)
    page.fill("#add-quota", quota)
    page.click("#add-submit")
    expect(page.locator("#email-status")).to_have_text(
        f"The email account {local}@{DOMAIN} was created."
    )


def uapi(server: RunningServer, function: str, **params: str) -> dict[str, object]:
    """A UAPI call as dana with her password (Basic), on cPanel's TLS port."""
    with server.client() as client:
        answer = client.get(
            server.url(CPANEL, f"/execute/Email/{function}"),
            params=params,
            auth=("dana", DANA_PASSWORD),
        )
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert isinstance(document, dict)
    return document


def webmail_login_works(server: RunningServer, address: str, password: str) -> bool:
    with server.client() as client:
        answer = client.post(
            server.url(WEBMAIL, "/login/?login_only=1"), data={"user": address, "pass": password}
        )
    return answer.status_code == 200


def test_add_change_password_open_webmail_and_delete(server: RunningServer, page: Page) -> None:
    address = f"sales@{DOMAIN}"
    open_email_accounts(page, server)
    email_accounts = page.url
    expect(page.locator("#no-mailboxes")).to_have_text("There are no email accounts yet.")

    add_mailbox(page, "sales", "sales-First-Pw1", quota="500")
    row = page.locator("#mailboxes tbody tr", has_text=address)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("500 MB")

    # a refused form says why and keeps the name, never the password
    page.fill("#add-email", "sales")
    page.fill("#add-password", "other-Sales-Pw1")
    page.fill("#add-confirm", "different-Pw-2")
    page.click("#add-submit")
    expect(page.locator("#email-status")).to_have_text("The passwords do not match.")
    expect(page.locator("#add-email")).to_have_value("sales")
    expect(page.locator("#add-password")).to_have_value("")

    page.select_option("#password-email", address)
    page.fill("#new-password", "sales-Second-Pw2")
    page.fill("#new-confirm", "sales-Second-Pw2")
    page.fill("#email_current_password", DANA_PASSWORD)
    page.click("#password-submit")
    expect(page.locator("#email-status")).to_have_text(
        f"The password of {address} was changed. Its sessions have ended."
    )
    assert webmail_login_works(server, address, "sales-Second-Pw2")

    row.get_by_role("button", name=f"Open Webmail as {address}").click()
    webmail_home = (
        rf"https://127\.0\.0\.1:{WEBMAIL + server.offset}{TOKEN}/webmail/jupiter/index\.html"
    )
    page.wait_for_url(re.compile(webmail_home))
    expect(page.locator("strong#user")).to_have_text(address)
    expect(page.locator("#possessor")).to_have_text("dana")

    # back on cPanel (its own cookie): deleting asks first, then the mailbox is gone
    page.goto(email_accounts)
    prompts: list[str] = []

    def accept(dialog: Dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row = page.locator("#mailboxes tbody tr", has_text=address)
    row.get_by_role("button", name=f"Delete {address}").click()
    expect(row).to_have_count(1)  # "Sure" is required: the browser did not send the form
    row.get_by_label("Sure").check()
    row.get_by_role("button", name=f"Delete {address}").click()
    expect(page.locator("#email-status")).to_have_text(f"The email account {address} was deleted.")
    assert prompts == [f"Delete {address} and end its sessions?"]
    expect(page.locator("#no-mailboxes")).to_be_visible()
    assert not webmail_login_works(server, address, "sales-Second-Pw2")


def test_a_mailbox_changes_its_own_password_in_webmail(server: RunningServer, page: Page) -> None:
    address, first, second = f"post@{DOMAIN}", "post-First-Pw1", "post-Second-Pw2"
    uapi(server, "add_pop", email="post", password=first)
    try:
        log_in(page, server, WEBMAIL, address, first)
        page.click("#to-security")
        page.wait_for_url(re.compile(rf".*{TOKEN}/security/$"))
        expect(page.locator("h1")).to_have_text("Password")
        page.fill("#new_password", second)
        page.fill("#confirm_password", second)
        page.fill("#password_current_password", first)
        page.click("#password_submit")
        expect(page.locator("#security-status")).to_contain_text("The password was changed.")
        page.click("#logout")
        log_in(page, server, WEBMAIL, address, second)
        expect(page.locator("h1")).to_have_text("Webmail Home")
    finally:
        uapi(server, "delete_pop", email=address)


@pytest.mark.parametrize(("name", "width", "height"), [("laptop", 1280, 800), ("phone", 390, 844)])
def test_screenshots(server: RunningServer, page: Page, name: str, width: int, height: int) -> None:
    for local in ("info", "support"):
        listed = uapi(server, "list_pops")["data"]
        assert isinstance(listed, list)
        if f"{local}@{DOMAIN}" not in {entry["email"] for entry in listed}:
            uapi(server, "add_pop", email=local, password=INFO_PASSWORD, quota="1024")
    page.set_viewport_size({"width": width, "height": height})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    open_email_accounts(page, server)
    expect(page.locator("#mailboxes tbody tr")).to_have_count(2)
    shoot(page, width, f"cpanel-email-accounts-{name}.png")

    page.get_by_role("button", name=f"Open Webmail as info@{DOMAIN}").click()
    page.wait_for_url(re.compile(rf".*:{WEBMAIL + server.offset}{TOKEN}/webmail/jupiter/"))
    expect(page.locator("strong#user")).to_have_text(f"info@{DOMAIN}")
    shoot(page, width, f"webmail-home-{name}.png")

    # the mailbox's own login: its Password page asks for the mailbox's current password
    log_in(page, server, WEBMAIL, f"info@{DOMAIN}", INFO_PASSWORD)
    page.click("#to-security")
    expect(page.locator("h1")).to_have_text("Password")
    expect(page.locator(".reauth legend strong")).to_have_text(f"info@{DOMAIN}")
    shoot(page, width, f"webmail-password-{name}.png")


def shoot(page: Page, width: int, file_name: str) -> None:
    # nothing is wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    path = SCREENSHOTS / file_name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
