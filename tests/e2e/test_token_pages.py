"""The API token pages and the Remote Access Key page in a real browser (headless Chromium via
Playwright) against a running server: a token or key made on the page, then used by a script
(httpx over TLS); renaming, revoking, the keyboard alone; and screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, log_in, start_server_with_account

pytestmark = pytest.mark.e2e
CAROL_PASSWORD = "carol-Tokens-Pw1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LISTACCTS = "/json-api/listaccts?api.version=1"
VERSION = "/json-api/version?api.version=1"
LIST_DOMAINS = "/execute/DomainInfo/list_domains"
VIEWPORTS = [("laptop", 1280, 800), ("phone", 390, 844)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server_with_account(
        tmp_path_factory.mktemp("tokens") / "data", "carol", CAROL_PASSWORD
    )
    yield running
    running.stop()


def open_tokens(page: Page, server: RunningServer, port: int, user: str, password: str) -> None:
    log_in(page, server, port, user, password)
    page.click("#to-tokens")
    page.wait_for_url(re.compile(r".*/cpsess\d{10}/tokens/$"))


def create_whm_token(page: Page, name: str, *acls: str, addresses: str = "") -> str:
    form = page.locator("#create")
    form.locator("#token_name").fill(name)
    if acls:
        form.get_by_label("Only the privileges ticked below").check()
        form.locator("#create-acls > summary").click()
        for acl in acls:
            form.get_by_label(acl, exact=True).check()
    form.locator("#create-whitelist").fill(addresses)
    form.locator("#create_current_password").fill(ROOT_PASSWORD)
    form.locator("#create-submit").click()
    expect(page.locator("#tokens-status")).to_have_text(f"The API token “{name}” was created.")
    expect(page.locator("#new-token-warning")).to_contain_text("it is not shown again")
    return page.locator("#new-token").inner_text()


def save_screenshot(page: Page, name: str, width: int) -> None:
    # nothing is wider than the screen: no sideways scrolling on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_whm_token_made_on_the_page_works_from_a_script(server: RunningServer, page: Page) -> None:
    open_tokens(page, server, 2087, "root", ROOT_PASSWORD)
    expect(page.locator("h1")).to_have_text("Manage API Tokens")
    token = create_whm_token(page, "lister", "list-accts", addresses="127.0.0.1\n203.0.113.0/24")
    assert re.fullmatch(r"[A-Z0-9]{32}", token)
    row = page.locator("#token-lister")
    expect(row.locator('td[data-label="Privileges"]')).to_have_text("list-accts")
    expect(row.locator('td[data-label="IP addresses"]')).to_have_text("127.0.0.1, 203.0.113.0/24")
    expect(row.locator('td[data-label="Expires"]')).to_have_text("Never")

    auth = {"Authorization": f"whm root:{token}"}
    with server.client() as client:
        listed = client.get(server.url(2087, LISTACCTS), headers=auth)
        assert listed.status_code == 200
        users = [account["user"] for account in listed.json()["data"]["acct"]]
        assert users == ["carol"]
        # the token was given list-accts only: creating an account needs create-acct
        refused = client.get(server.url(2087, "/json-api/createacct?api.version=1"), headers=auth)
        assert refused.status_code == 403

    # reloading sends the form again: refused by name, and no second token is shown
    page.reload()
    expect(page.locator("#tokens-status")).to_contain_text("“lister” already exists")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#tokens tbody tr")).to_have_count(1)
    # the token is shown once: opening the page again lists it without the secret
    page.click("#to-tokens")
    expect(page.locator("#tokens-status")).to_have_count(0)
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()

    # edit: every privilege, and back to any address
    page.locator("#edit-lister > summary").click()
    edit = page.locator("#edit-lister-form")
    edit.get_by_label("Full access: every privilege you hold").check()
    edit.locator("#edit-lister-whitelist").fill("")
    edit.locator("#edit-lister-submit").click()
    expect(page.locator("#tokens-status")).to_have_text("The API token “lister” was saved.")
    expect(row.locator('td[data-label="Privileges"]')).to_have_text("all")
    expect(row.locator('td[data-label="IP addresses"]')).to_have_text("any")


def test_cpanel_token_made_on_the_page_works_then_is_revoked_with_the_keyboard(
    server: RunningServer, page: Page
) -> None:
    open_tokens(page, server, 2083, "carol", CAROL_PASSWORD)
    expect(page.locator("h1")).to_have_text("API Tokens")
    expect(page.locator("#no-tokens")).to_be_visible()
    page.fill("#token_name", "backups")
    page.fill("#create-expires", "2099-12-31")
    page.fill("#create_current_password", CAROL_PASSWORD)
    page.click("#create-submit")
    expect(page.locator("#tokens-status")).to_have_text("The API token “backups” was created.")
    token = page.locator("#new-token").inner_text()
    expect(page.locator("#token-backups")).to_contain_text("2099-12-31 23:59 UTC")

    auth = {"Authorization": f"cpanel carol:{token}"}
    with server.client() as client:
        answer = client.get(server.url(2083, LIST_DOMAINS), headers=auth)
        assert answer.status_code == 200
        assert answer.json()["data"]["main_domain"] == "carol.example"

    page.locator("#edit-backups > summary").click()
    page.fill("#edit-backups-name", "nightly")
    page.click("#edit-backups-submit")
    expect(page.locator("#tokens-status")).to_have_text(
        "The API token “backups” is now named “nightly”."
    )
    with server.client() as client:
        assert client.get(server.url(2083, LIST_DOMAINS), headers=auth).status_code == 200

    # revoke with the keyboard alone: Sure with the space bar, then Enter on the button
    row = page.locator("#token-nightly")
    row.get_by_label("Sure").focus()
    page.keyboard.press("Space")
    expect(row.get_by_label("Sure")).to_be_checked()
    page.keyboard.press("Tab")
    expect(row.get_by_role("button", name="Revoke nightly")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#tokens-status")).to_contain_text("“nightly” was revoked")
    expect(page.locator("#no-tokens")).to_be_visible()
    with server.client() as client:
        assert client.get(server.url(2083, LIST_DOMAINS), headers=auth).status_code != 200


def test_an_access_key_made_on_the_page_works_then_converts_to_a_token(
    server: RunningServer, page: Page
) -> None:
    log_in(page, server, 2087, "root", ROOT_PASSWORD)
    page.click("#to-access-key")
    expect(page.locator("h1")).to_have_text("Remote Access Key")
    page.fill("#generate_current_password", ROOT_PASSWORD)
    page.click("#generate-submit")
    expect(page.locator("#access-key-status")).to_contain_text("was generated")
    key = page.locator("#access-key").input_value()
    assert re.fullmatch(r"[0-9a-f]{960}", key)

    with server.client() as client:
        answer = client.get(server.url(2087, VERSION), headers={"Authorization": f"WHM root:{key}"})
        assert answer.status_code == 200
        assert answer.json()["metadata"]["result"] == 1

    page.fill("#convert_current_password", ROOT_PASSWORD)
    page.click("#convert-submit")
    status = page.locator("#access-key-status")
    expect(status).to_contain_text("is now also the API token “accesshash-")
    name = re.search(r"“(accesshash-\d+)”", status.inner_text())
    assert name is not None
    page.click("#to-tokens")
    row = page.locator(f"#token-{name.group(1)}")
    expect(row).to_be_visible()
    expect(row.locator('td[data-label="Privileges"]')).to_have_text("all")


@pytest.mark.parametrize(("viewport", "width", "height"), VIEWPORTS)
def test_screenshots_of_manage_api_tokens(
    server: RunningServer, page: Page, viewport: str, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_tokens(page, server, 2087, "root", ROOT_PASSWORD)
    if not page.locator("#token-deploy").count():
        create_whm_token(page, "deploy", "list-accts", "create-acct", addresses="10.0.0.0/8")
    page.click("#to-tokens")  # opened again: the list, without a new token on show
    expect(page.locator("#token-deploy")).to_be_visible()
    save_screenshot(page, f"whm-manage-api-tokens-{viewport}", width)


@pytest.mark.parametrize(("viewport", "width", "height"), VIEWPORTS)
def test_screenshots_of_cpanel_api_tokens(
    server: RunningServer, page: Page, viewport: str, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_tokens(page, server, 2083, "carol", CAROL_PASSWORD)
    if not page.locator("#token-site-deploy").count():
        page.fill("#token_name", "site-deploy")
        page.fill("#create_current_password", CAROL_PASSWORD)
        page.click("#create-submit")
        expect(page.locator("#new-token")).to_be_visible()
    page.click("#to-tokens")
    expect(page.locator("#token-site-deploy")).to_be_visible()
    save_screenshot(page, f"cpanel-api-tokens-{viewport}", width)


@pytest.mark.parametrize(("viewport", "width", "height"), VIEWPORTS)
def test_screenshots_of_remote_access_key(
    server: RunningServer, page: Page, viewport: str, width: int, height: int
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, server, 2087, "root", ROOT_PASSWORD)
    page.click("#to-access-key")
    if page.locator("#no-key").count():
        page.fill("#generate_current_password", ROOT_PASSWORD)
        page.click("#generate-submit")
    expect(page.locator("#access-key")).to_be_visible()
    save_screenshot(page, f"whm-remote-access-key-{viewport}", width)
