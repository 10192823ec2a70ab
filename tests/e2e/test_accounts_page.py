"""WHM's List Accounts page in a real browser (headless Chromium via Playwright) against a running
server: log in as a cPanel account from List Accounts, see that session in Active Sessions, end
it, and see the account's page refused; search, sort and suspend; screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, start_server_with_account

pytestmark = pytest.mark.e2e
CAROL_PASSWORD = "carol-Accts-Pw1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# more accounts, made by root through the API before the browser starts
OTHERS = ("dave", "erin", "frank")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_with_account(
        tmp_path_factory.mktemp("accounts") / "data", "carol", CAROL_PASSWORD
    )
    try:
        with running.client() as client:
            for user in OTHERS:
                created = client.get(
                    running.url(2087, "/json-api/createacct"),
                    params={
                        "api.version": "1",
                        "username": user,
                        "domain": f"{user}.example",
                        "password": f"{user}-Accts-Pw1",
                        "contactemail": f"{user}@mail.example",
                    },
                    auth=("root", ROOT_PASSWORD),
                )
                assert created.json()["metadata"]["result"] == 1
        yield running
    finally:
        running.stop()


def open_list_accounts(page: Page, server: RunningServer) -> None:
    page.goto(server.url(2087, "/"))
    expect(page.locator("h1")).to_have_text("WHM Login")
    page.fill("#user", "root")
    page.fill("#pass", ROOT_PASSWORD)
    page.click("#login_submit")
    expect(page.locator("#to-accounts")).to_have_text("List Accounts")
    page.click("#to-accounts")
    page.wait_for_url(re.compile(r".*/cpsess\d{10}/accounts/$"))
    expect(page.locator("h1")).to_have_text("List Accounts")


def log_in_to_cpanel_of(page: Page, server: RunningServer, user: str) -> Page:
    """Press the row's "Log in"; it opens the account's cPanel in a new tab, as WHM does."""
    with page.expect_popup() as popup:
        page.get_by_role("button", name=f"Log in to the cPanel of {user}").click()
    cpanel = popup.value
    home = re.escape(f"https://127.0.0.1:{2083 + server.offset}/") + r"cpsess\d{10}"
    cpanel.wait_for_url(re.compile(home + re.escape("/frontend/jupiter/index.html")))
    return cpanel


def test_log_in_as_an_account_then_end_its_session_from_active_sessions(
    server: RunningServer, page: Page
) -> None:
    open_list_accounts(page, server)
    cpanel = log_in_to_cpanel_of(page, server, "carol")
    expect(cpanel.locator("#user")).to_have_text("carol")
    expect(cpanel.locator("#possessor")).to_have_text("root")  # who entered it is recorded

    page.click("#to-sessions")
    expect(page.locator("h1")).to_have_text("Active Sessions")
    end = page.get_by_role("button", name=re.compile(r"^End the cPanel session of carol "))
    expect(end).to_have_count(1)
    end.click()
    expect(page.locator("#sessions-status")).to_have_text("Ended 1 session(s).")
    expect(page.locator("#sessions tbody tr", has_text="carol")).to_have_count(0)

    cpanel.reload()
    expect(cpanel.locator("h1")).to_have_text("cPanel Login")
    expect(cpanel.locator("#possessor")).to_have_count(0)
    cpanel.close()


def test_search_sort_suspend_and_unsuspend(server: RunningServer, page: Page) -> None:
    open_list_accounts(page, server)
    table = page.locator("#accounts")
    users = table.locator("tbody tr td:first-child")
    expect(users).to_have_text(["carol", "dave", "erin", "frank"])

    # sorting is the heading's button (its name gains the order's arrow); pressed twice, the
    # order turns round
    heading = table.locator("th", has_text="User")
    heading.get_by_role("button").click()
    expect(heading).to_have_attribute("aria-sort", "ascending")
    heading.get_by_role("button").click()
    expect(heading).to_have_attribute("aria-sort", "descending")
    expect(users).to_have_text(["frank", "erin", "dave", "carol"])

    page.fill("#search-text", "ERIN.example")
    page.click("#search-submit")
    expect(users).to_have_text(["erin"])
    expect(page.locator("#search-text")).to_have_value("ERIN.example")

    # a change made while searching stays on the search
    row = page.locator("#account-erin")
    row.locator("summary").click()  # the reason field is behind "Suspend…"
    row.get_by_label("Reason").fill("Unpaid <invoice>")
    row.get_by_role("button", name="Suspend erin").click()
    expect(page.locator("#accounts-status")).to_have_text("The account “erin” was suspended.")
    expect(row).to_contain_text("Suspended: Unpaid <invoice>")
    expect(users).to_have_text(["erin"])
    expect(row.get_by_role("button", name="Log in to the cPanel of erin")).to_have_count(0)

    row.get_by_role("button", name="Unsuspend erin").click()
    expect(page.locator("#accounts-status")).to_have_text("The account “erin” was unsuspended.")
    expect(row).to_contain_text("Active")

    page.click("#search-clear")
    expect(users).to_have_count(4)


def test_remove_asks_twice_and_create_keeps_what_was_typed(
    server: RunningServer, page: Page
) -> None:
    open_list_accounts(page, server)
    page.fill("#create-username", "gina")
    page.fill("#create-domain", "carol.example")  # taken
    page.fill("#create-password", "gina-Accts-Pw1")
    page.fill("#create-email", "gina@mail.example")
    page.click("#create-submit")
    status = page.locator("#accounts-status")
    expect(status).to_have_text("The domain “carol.example” already belongs to an account.")
    expect(page.locator("#create-username")).to_have_value("gina")
    expect(page.locator("#create-email")).to_have_value("gina@mail.example")
    expect(page.locator("#create-password")).to_have_value("")
    page.fill("#create-domain", "gina.example")
    page.fill("#create-password", "gina-Accts-Pw1")
    page.click("#create-submit")
    expect(status).to_have_text("The account “gina” was created.")
    row = page.locator("#account-gina")
    expect(row).to_contain_text("gina.example")

    # without "Sure" the browser does not send the form; with it, it asks first
    remove = row.get_by_role("button", name="Remove gina")
    remove.click()
    expect(row).to_have_count(1)
    row.get_by_label("Sure").check()
    page.once("dialog", lambda dialog: dialog.dismiss())
    remove.click()
    expect(row).to_have_count(1)
    expect(status).to_have_text("The account “gina” was created.")
    page.once("dialog", lambda dialog: dialog.accept())
    remove.click()
    expect(status).to_have_text("The account “gina” was removed.")
    expect(page.locator("#account-gina")).to_have_count(0)


@pytest.mark.parametrize(("name", "width", "height"), [("laptop", 1280, 800), ("phone", 390, 844)])
def test_screenshots(server: RunningServer, page: Page, name: str, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_list_accounts(page, server)
    frank = page.locator("#account-frank")
    if not frank.get_by_role("button", name="Unsuspend frank").count():
        frank.locator("summary").click()
        frank.get_by_label("Reason").fill("Unpaid invoice")
        frank.get_by_role("button", name="Suspend frank").click()
        expect(frank).to_contain_text("Suspended: Unpaid invoice")
    # nothing is wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    accounts = SCREENSHOTS / f"whm-list-accounts-{name}.png"
    page.screenshot(path=str(accounts), full_page=True)

    cpanel = log_in_to_cpanel_of(page, server, "dave")  # a session for Active Sessions to list
    cpanel.close()
    page.click("#to-sessions")
    expect(
        page.get_by_role("button", name=re.compile(r"^End the cPanel session of dave "))
    ).not_to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    sessions = SCREENSHOTS / f"whm-active-sessions-{name}.png"
    page.screenshot(path=str(sessions), full_page=True)
    assert accounts.stat().st_size > 0 and sessions.stat().st_size > 0
