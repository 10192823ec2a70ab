"""WHM's Brute Force Protection page in a real browser (headless Chromium via Playwright) against
a running server: unblocking an address, the allow list, the switch, and screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, log_in, start_server_with_account

pytestmark = pytest.mark.e2e
CAROL_PASSWORD = "carol-Hulk-Pw1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LIMIT = 5  # max_failures_byip: 5 failures from one address within 15 minutes block it (w§19.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_with_account(
        tmp_path_factory.mktemp("hulk") / "data", "carol", CAROL_PASSWORD
    )
    yield running
    running.stop()


def log_in_as_root(page: Page, server: RunningServer) -> None:
    log_in(page, server, 2087, "root", ROOT_PASSWORD)
    expect(page.locator("#to-hulk")).to_have_text("Brute Force Protection")


def open_hulk_page(page: Page, server: RunningServer) -> None:
    log_in_as_root(page, server)
    page.click("#to-hulk")
    page.wait_for_url(re.compile(r".*/cpsess\d{10}/cphulk/$"))
    expect(page.locator("h1")).to_have_text("Brute Force Protection")


def carol_lists_her_domains(client: httpx.Client, server: RunningServer) -> httpx.Response:
    return client.get(
        server.url(2083, "/execute/DomainInfo/list_domains"), auth=("carol", CAROL_PASSWORD)
    )


def test_failed_logins_block_loopback_and_the_page_unblocks_it(
    server: RunningServer, page: Page
) -> None:
    # root logs in from loopback first, so loopback is root's address and root stays exempt
    open_hulk_page(page, server)
    expect(page.locator("#no-blocks")).to_be_visible()

    with server.client() as client:
        assert carol_lists_her_domains(client, server).status_code == 200
        wrong = [
            client.get(
                server.url(2083, "/execute/DomainInfo/list_domains"),
                auth=("ghost", f"wrong-Password-{attempt}"),
            )
            for attempt in range(LIMIT)
        ]
        assert all(answer.status_code == wrong[0].status_code != 200 for answer in wrong)
        # loopback is blocked now: even carol's right password gets the wrong-password answer
        blocked = carol_lists_her_domains(client, server)
        assert blocked.status_code == wrong[0].status_code

    page.reload()
    expect(page.locator("#hulk-status")).to_have_count(0)
    row = page.locator("#blocks tbody tr", has_text="127.0.0.1")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("address")
    history = page.locator("#history tbody tr", has_text="ghost")
    expect(history).to_have_count(LIMIT)
    expect(history.first).to_contain_text("127.0.0.1")

    row.get_by_role("button", name="Unblock 127.0.0.1").click()
    expect(page.locator("#hulk-status")).to_contain_text("127.0.0.1 was unblocked")
    expect(page.locator("#no-blocks")).to_have_text("Nothing is blocked.")
    expect(page.locator("#blocks")).to_have_count(0)

    with server.client() as client:
        unblocked = carol_lists_her_domains(client, server)
    assert unblocked.status_code == 200
    assert unblocked.json()["data"]["main_domain"] == "carol.example"


def test_allow_list_add_remove_and_an_invalid_address(server: RunningServer, page: Page) -> None:
    open_hulk_page(page, server)
    status = page.locator("#hulk-status")
    allow_list = page.locator("#white-list")

    page.fill("#white-ip", "203.0.113.7")
    page.fill("#white-comment", "Office VPN")
    page.click("#add-white-submit")
    expect(status).to_have_text("203.0.113.7 was added to the allow list.")
    row = allow_list.locator("tbody tr", has_text="203.0.113.7")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Office VPN")

    # removing needs the confirmation box: unticked, the browser does not send the form
    row.get_by_role("button", name="Remove 203.0.113.7").click()
    expect(row).to_have_count(1)
    row.get_by_label("Sure").check()
    row.get_by_role("button", name="Remove 203.0.113.7").click()
    expect(status).to_have_text("203.0.113.7 was removed from the allow list.")
    expect(allow_list).to_have_count(0)
    expect(page.get_by_text("The allow list is empty.")).to_be_visible()

    page.fill("#white-ip", "127.000.000.001")
    page.fill("#white-comment", "typo")
    page.click("#add-white-submit")
    expect(status).to_contain_text("Invalid IP address or range")
    expect(status).to_contain_text("127.000.000.001")
    expect(page.locator("#white-ip")).to_have_value("127.000.000.001")
    expect(page.locator("#white-comment")).to_have_value("typo")
    expect(allow_list).to_have_count(0)


def test_the_switch_turns_protection_off_and_on(server: RunningServer, page: Page) -> None:
    open_hulk_page(page, server)
    state = page.locator("#hulk-enabled")
    switch = page.locator("#hulk-switch")
    expect(state).to_have_text("Brute-force protection is on.")
    expect(switch).to_have_text("Turn off")

    switch.click()
    expect(page.locator("#hulk-status")).to_have_text("Brute-force protection is off.")
    expect(state).to_have_text("Brute-force protection is off.")
    expect(switch).to_have_text("Turn on")

    switch.click()
    expect(page.locator("#hulk-status")).to_have_text("Brute-force protection is on.")
    expect(state).to_have_text("Brute-force protection is on.")
    expect(switch).to_have_text("Turn off")


@pytest.mark.parametrize(("name", "width", "height"), [("laptop", 1280, 800), ("phone", 390, 844)])
def test_screenshots(server: RunningServer, page: Page, name: str, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_hulk_page(page, server)
    if not page.locator("#black-list").count():
        page.fill("#black-ip", "198.51.100.0/24")
        page.fill("#black-comment", "Scanner")
        page.click("#add-black-submit")
        expect(page.locator("#black-list")).to_contain_text("198.51.100.0/24")
    # nothing is wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"whm-brute-force-protection-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
