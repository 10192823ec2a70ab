"""cPanel's Email Accounts page: list, add, change a password, delete, and open Webmail as a
mailbox, through the UAPI functions and with their rules (features, ownership)."""

from __future__ import annotations

import html as html_module
import re
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import RawTestServer, TestClient

from panelauth.core.accounts import Accounts
from panelauth.protocol.services import Listener, Service
from panelauth.secret import Secret
from panelauth.server.gateway import Gateway
from panelauth.server.security_pages import REAUTH_MISSING, REAUTH_WRONG
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import Browser, Client, login
from tests.server.test_transfers_http import follow_handoff

PAGE = "/email/"
BOB_HOME = "/frontend/jupiter/index.html"
WEBMAIL_HOME = "/webmail/jupiter/index.html"
INFO = "info@bob.example"
INFO_PASSWORD = "info-Pw-1234"
NEW_PASSWORD = "mail-Changed-Pw1"
MAILBOX_PASSWORD = "new-Mailbox-Pw1"
CAROL_MAILBOX = "hello@carol.example"
CAROL_MAILBOX_PASSWORD = "hello-Pw-1234"
SCRIPT = "<script>alert(1)</script>"


async def post(client: Client, browser: Browser, **fields: str) -> tuple[int, str]:
    response = await client.post(
        browser.token + PAGE, data=fields, headers=browser.headers, allow_redirects=False
    )
    return response.status, await response.text()


async def open_page(client: Client, browser: Browser) -> tuple[int, str]:
    response = await client.get(browser.token + PAGE, headers=browser.headers)
    return response.status, await response.text()


def status_message(html: str) -> str:
    found = re.search(r'id="email-status" role="status">([^<]*)<', html)
    assert found is not None, "no status message"
    return html_module.unescape(found.group(1))


def is_success(html: str) -> bool:
    return 'class="message ok" id="email-status"' in html


def listed(html: str) -> list[str]:
    """The addresses in the table, in its order."""
    return re.findall(r'<td data-label="Address">([^<]+?)(?: <em>|</td>)', html)


def kept_value(html: str, field_id: str) -> str:
    """The value a refused form's input shows again."""
    found = re.search(rf'<input id="{field_id}"[^>]* value="([^"]*)"', html)
    assert found is not None, f"no input {field_id}"
    return html_module.unescape(found.group(1))


def add_fields(local: str, password: str = MAILBOX_PASSWORD, **extra: str) -> dict[str, str]:
    return {
        "action": "add",
        "email": local,
        "domain": "bob.example",
        "password": password,
        "confirm_password": password,
        **extra,
    }


def password_fields(address: str, password: str = NEW_PASSWORD, **extra: str) -> dict[str, str]:
    return {
        "action": "password",
        "email": address,
        "new_password": password,
        "confirm_password": password,
        **extra,
    }


async def mailbox_password_is(state: ServerState, address: str, password: str) -> bool:
    mailbox = await state.runtime.store.get_mailbox(address)
    assert mailbox is not None
    return (await state.runtime.passwords.verify(mailbox.password_hash, Secret(password))).ok


async def add_carol(state: ServerState) -> None:
    """Another account, carol, with the mailbox hello@carol.example."""
    runtime = state.runtime
    accounts = Accounts(runtime.store, runtime.passwords, runtime.clock)
    await accounts.create(
        user="carol", domain="carol.example", password="carol-Passw0rd!", owner="root"
    )
    carol = await runtime.store.get_account("carol")
    assert carol is not None
    await accounts.add_mailbox(
        carol,
        local_part="hello",
        domain="carol.example",
        password=CAROL_MAILBOX_PASSWORD,
        quota_mb=0,
    )


@pytest.fixture
async def bob(make_client: MakeClient) -> tuple[Client, Browser]:
    client = await make_client(Service.CPANEL)
    return client, await login(client, "bob", BOB_PASSWORD)


# -- list ------------------------------------------------------------------------------------------


async def test_the_page_lists_the_accounts_mailboxes(bob: tuple[Client, Browser]) -> None:
    client, browser = bob
    home = await client.get(browser.token + BOB_HOME, headers=browser.headers)
    assert f'href="{browser.token}/email/" id="to-email">Email Accounts</a>' in await home.text()
    status, html = await open_page(client, browser)
    assert status == 200 and "<h1>Email Accounts</h1>" in html
    assert listed(html) == [INFO]
    assert '<td data-label="Quota">Unlimited</td>' in html
    assert '<table id="mailboxes" class="sortable">' in html
    assert "<option selected>bob.example</option>" in html  # the primary domain
    assert 'aria-label="Open Webmail as info@bob.example"' in html
    assert 'data-confirm="Delete info@bob.example' in html
    assert 'name="current_password"' in html  # the password form re-authenticates bob
    assert 'id="email-status"' not in html


async def test_an_account_without_mailboxes_sees_the_empty_state(
    bob: tuple[Client, Browser], server_state: ServerState
) -> None:
    await server_state.runtime.store.delete_mailbox(INFO)
    client, browser = bob
    status, html = await open_page(client, browser)
    assert status == 200 and 'class="empty" id="no-mailboxes"' in html
    assert "<table" not in html and 'id="password-form"' not in html


async def test_hidden_without_the_email_accounts_feature(
    bob: tuple[Client, Browser], server_state: ServerState
) -> None:
    await server_state.runtime.store.save_feature_list("default", {"popaccts": False})
    client, browser = bob
    home = await client.get(browser.token + BOB_HOME, headers=browser.headers)
    assert 'id="to-email"' not in await home.text()
    assert (await open_page(client, browser))[0] == 404
    status, _ = await post(client, browser, **add_fields("sneaky"))
    assert status == 404
    assert await server_state.runtime.store.get_mailbox("sneaky@bob.example") is None


async def test_a_mailbox_in_webmail_has_no_email_accounts_page(make_client: MakeClient) -> None:
    webmail = await make_client(Service.WEBMAIL)
    mailbox = await login(webmail, INFO, INFO_PASSWORD)
    response = await webmail.get(mailbox.token + PAGE, headers=mailbox.headers)
    assert response.status == 404


# -- add -------------------------------------------------------------------------------------------


async def test_add_a_mailbox_that_can_log_in_to_webmail(
    bob: tuple[Client, Browser], server_state: ServerState, make_client: MakeClient
) -> None:
    client, browser = bob
    status, html = await post(client, browser, **add_fields("Sales", quota="250"))
    assert status == 200 and is_success(html)
    assert status_message(html) == "The email account sales@bob.example was created."
    assert listed(html) == [INFO, "sales@bob.example"]
    assert '<td data-label="Quota">250 MB</td>' in html
    assert MAILBOX_PASSWORD not in html
    mailbox = await server_state.runtime.store.get_mailbox("sales@bob.example")
    assert mailbox is not None and mailbox.account == "bob" and mailbox.quota_mb == 250
    webmail = await make_client(Service.WEBMAIL)
    await login(webmail, "sales@bob.example", MAILBOX_PASSWORD)
    # a second submission of the same form is refused and changes nothing
    status, html = await post(client, browser, **add_fields("Sales", quota="250"))
    assert status == 400 and "already exists" in status_message(html)
    assert listed(html) == [INFO, "sales@bob.example"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (add_fields("sales", confirm_password="other-Mailbox-Pw1"), "The passwords do not match."),
        (add_fields("sales", password="short"), "at least 8 characters"),
        (add_fields("", quota="5"), "Enter the name before the @."),
        (add_fields("a" * 65, quota="5"), "at most 64 characters"),
        (add_fields("sales", quota="1234567890"), "“quota”"),
        (add_fields("sales", quota="lots"), "“quota”"),
        (add_fields("sales", domain="carol.example"), "does not own the domain"),
        (add_fields("sales", domain="x" * 300), "valid domain name"),
        (add_fields("sa les", quota="5"), "invalid characters"),
    ],
)
async def test_add_refused_keeps_what_was_typed_but_no_password(
    bob: tuple[Client, Browser],
    server_state: ServerState,
    fields: dict[str, str],
    reason: str,
) -> None:
    client, browser = bob
    status, html = await post(client, browser, **fields)
    assert status == 400 and not is_success(html)
    assert reason in status_message(html)
    assert listed(html) == [INFO]
    assert await server_state.runtime.store.list_mailboxes("bob") == [
        await server_state.runtime.store.get_mailbox(INFO)
    ]
    assert kept_value(html, "add-email") == fields["email"]
    assert kept_value(html, "add-quota") == fields.get("quota", "")
    assert fields["password"] not in html


async def test_markup_in_every_text_field_is_escaped(bob: tuple[Client, Browser]) -> None:
    client, browser = bob
    attempts = [
        add_fields(SCRIPT),
        add_fields("sales", domain=SCRIPT),
        add_fields("sales", quota=SCRIPT),
        password_fields(SCRIPT, current_password=BOB_PASSWORD),
        password_fields(f"{SCRIPT}@bob.example", current_password=BOB_PASSWORD),
        {"action": "delete", "email": f"{SCRIPT}@bob.example", "confirm": "1"},
        {"action": "delete", "email": SCRIPT},
        {"action": "webmail", "email": f"{SCRIPT}@bob.example"},
        {"action": SCRIPT},
    ]
    for fields in attempts:
        status, html = await post(client, browser, **fields)
        assert 400 <= status < 500, fields
        assert "<script>" not in html, fields
    status, html = await open_page(client, browser)
    assert listed(html) == [INFO]


async def test_odd_input_is_refused_plainly(bob: tuple[Client, Browser]) -> None:
    client, browser = bob
    long_name = "b" * 10_000
    status, html = await post(client, browser, **add_fields(long_name))
    assert status == 400 and "at most 64 characters" in status_message(html)
    status, html = await post(client, browser, action="delete", email="c" * 10_000, confirm="1")
    assert status == 400 and "at most 254 characters" in status_message(html)
    status, html = await post(client, browser, **add_fields("nul\x00name"))
    assert status == 400 and "invalid characters" in status_message(html)
    status, html = await post(client, browser, **add_fields("sales", password="pass\x00word-1"))
    assert status == 400 and "control characters" in status_message(html)
    status, html = await post(client, browser, action="rename", email=INFO)
    assert status == 400 and status_message(html) == "This page does not know that action."
    # a body that is not UTF-8: the request is refused, never a server error
    response = await client.post(
        browser.token + PAGE,
        data=b"action=add&email=%ff%fe&domain=bob.example",
        headers={**browser.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 400
    status, html = await open_page(client, browser)
    assert listed(html) == [INFO]


async def test_a_stale_security_token_is_token_denied(
    bob: tuple[Client, Browser], server_state: ServerState
) -> None:
    client, browser = bob
    for path in ("/cpsess0000000000" + PAGE, PAGE):
        response = await client.post(
            path, data=add_fields("sneaky"), headers=browser.headers, allow_redirects=False
        )
        assert response.status == 401 and response.reason == "Token Denied"
    assert await server_state.runtime.store.get_mailbox("sneaky@bob.example") is None


# -- change a password -----------------------------------------------------------------------------


async def test_changing_a_password_needs_the_accounts_password(
    bob: tuple[Client, Browser], server_state: ServerState, make_client: MakeClient
) -> None:
    client, browser = bob
    webmail = await make_client(Service.WEBMAIL)
    mailbox = await login(webmail, INFO, INFO_PASSWORD)

    status, html = await post(client, browser, **password_fields(INFO))
    assert status == 403 and status_message(html) == REAUTH_MISSING
    status, html = await post(
        client, browser, **password_fields(INFO, current_password="wrong-Passw0rd")
    )
    assert status == 403 and status_message(html) == REAUTH_WRONG
    assert "wrong-Passw0rd" not in html and NEW_PASSWORD not in html
    assert f"<option selected>{INFO}</option>" in html  # the mailbox chosen is kept
    # the mailbox's own password does not stand in for the account's
    status, html = await post(
        client, browser, **password_fields(INFO, current_password=INFO_PASSWORD)
    )
    assert status == 403
    assert await mailbox_password_is(server_state, INFO, INFO_PASSWORD)

    fields = password_fields(INFO, current_password=BOB_PASSWORD)
    status, html = await post(client, browser, **fields)
    assert status == 200 and is_success(html)
    assert status_message(html) == f"The password of {INFO} was changed. Its sessions have ended."
    assert await mailbox_password_is(server_state, INFO, NEW_PASSWORD)
    # the mailbox's Webmail session ended; bob's cPanel session goes on
    ended = await webmail.get(
        mailbox.token + WEBMAIL_HOME, headers=mailbox.headers, allow_redirects=False
    )
    assert ended.status == 302 and "invalid_session" in ended.headers["Location"]
    assert (await open_page(client, browser))[0] == 200
    await login(webmail, INFO, NEW_PASSWORD)
    # the same form again: harmless, the password is the same
    status, _ = await post(client, browser, **fields)
    assert status == 200
    assert await mailbox_password_is(server_state, INFO, NEW_PASSWORD)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (password_fields(INFO, confirm_password="other-Passw0rd1"), "The passwords do not match."),
        (password_fields(INFO, password="short"), "at least 8 characters"),
        (password_fields(""), "Choose one of your email accounts."),
        (password_fields("ghost@bob.example"), "does not exist"),
    ],
)
async def test_password_change_refused(
    bob: tuple[Client, Browser],
    server_state: ServerState,
    fields: dict[str, str],
    reason: str,
) -> None:
    client, browser = bob
    status, html = await post(client, browser, **fields, current_password=BOB_PASSWORD)
    assert status == 400 and reason in status_message(html)
    assert await mailbox_password_is(server_state, INFO, INFO_PASSWORD)


# -- delete ----------------------------------------------------------------------------------------


async def test_delete_needs_the_sure_box(
    bob: tuple[Client, Browser], server_state: ServerState, make_client: MakeClient
) -> None:
    client, browser = bob
    webmail = await make_client(Service.WEBMAIL)
    mailbox = await login(webmail, INFO, INFO_PASSWORD)
    status, html = await post(client, browser, action="delete", email=INFO)
    assert status == 400 and status_message(html) == f"Tick “Sure” to delete {INFO}."
    assert listed(html) == [INFO]
    status, html = await post(client, browser, action="delete", email=INFO, confirm="1")
    assert status == 200 and status_message(html) == f"The email account {INFO} was deleted."
    assert listed(html) == [] and 'id="no-mailboxes"' in html
    assert await server_state.runtime.store.get_mailbox(INFO) is None
    gone = await webmail.get(
        mailbox.token + WEBMAIL_HOME, headers=mailbox.headers, allow_redirects=False
    )
    assert gone.status == 302 and "invalid_session" in gone.headers["Location"]
    # a double submission: refused in plain words, nothing else happens
    status, html = await post(client, browser, action="delete", email=INFO, confirm="1")
    assert status == 400 and "does not exist" in status_message(html)


# -- another account's mailbox ---------------------------------------------------------------------


async def test_another_accounts_mailbox_cannot_be_reached_by_editing_the_form(
    bob: tuple[Client, Browser], server_state: ServerState
) -> None:
    await add_carol(server_state)
    client, browser = bob
    status, html = await open_page(client, browser)
    assert CAROL_MAILBOX not in html
    status, html = await post(client, browser, action="delete", email=CAROL_MAILBOX, confirm="1")
    assert status == 400 and "does not exist" in status_message(html)
    status, html = await post(
        client, browser, **password_fields(CAROL_MAILBOX, current_password=BOB_PASSWORD)
    )
    assert status == 400 and "does not exist" in status_message(html)
    status, html = await post(client, browser, action="webmail", email=CAROL_MAILBOX)
    assert status == 403 and status_message(html) == "Permission denied"
    status, html = await post(client, browser, **add_fields("hello", domain="carol.example"))
    assert status == 400 and "does not own the domain" in status_message(html)
    assert await mailbox_password_is(server_state, CAROL_MAILBOX, CAROL_MAILBOX_PASSWORD)
    mailboxes = await server_state.runtime.store.list_mailboxes("carol")
    assert [mailbox.address for mailbox in mailboxes] == [CAROL_MAILBOX]


# -- Webmail ---------------------------------------------------------------------------------------

HANDOFF = re.compile(r"https://([^/]+)/(cpsess\d{10})/login/\?session=([^&]+)")


async def open_webmail(client: Client, browser: Browser, address: str = INFO) -> str:
    status, location = await webmail_answer(client, browser, address)
    assert status == 303, location
    return location


async def webmail_answer(
    client: Client, browser: Browser, address: str, host: str | None = None
) -> tuple[int, str]:
    headers = {**browser.headers, **({"Host": host} if host else {})}
    response = await client.post(
        browser.token + PAGE,
        data={"action": "webmail", "email": address},
        headers=headers,
        allow_redirects=False,
    )
    return response.status, response.headers.get("Location") or await response.text()


async def test_webmail_hands_the_browser_to_a_session_of_the_mailbox(
    bob: tuple[Client, Browser], make_client: MakeClient
) -> None:
    client, browser = bob
    location = await open_webmail(client, browser)
    found = HANDOFF.fullmatch(location)
    assert found is not None, location
    assert found.group(1) == "127.0.0.1:2096"  # the host the browser used, Webmail's TLS port
    assert found.group(3).startswith("info%40bob.example%3A")

    webmail = await make_client(Service.WEBMAIL)
    mailbox = await follow_handoff(location, webmail)
    assert mailbox.token == "/" + found.group(2)
    home = await webmail.get(mailbox.token + WEBMAIL_HOME, headers=mailbox.headers)
    html = await home.text()
    assert home.status == 200 and f'<strong id="user">{INFO}</strong>' in html
    assert '(entered by <span id="possessor">bob</span>)' in html
    # the URL works once: another browser cannot use it again
    parts = urlsplit(location)
    again = await (await make_client(Service.WEBMAIL)).get(
        f"{parts.path}?{parts.query}", allow_redirects=False
    )
    assert again.status == 401
    # each press is a new hand-off
    assert await open_webmail(client, browser) != location


async def test_the_page_lets_its_forms_lead_to_webmail_only(
    bob: tuple[Client, Browser], server_state: ServerState
) -> None:
    client, browser = bob
    page = await client.get(browser.token + PAGE, headers=browser.headers)
    policy = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://127.0.0.1:2096;" in policy
    assert "script-src 'self';" in policy  # nothing else is widened
    await server_state.runtime.store.save_feature_list("default", {"webmail": False})
    page = await client.get(browser.token + PAGE, headers=browser.headers)
    assert "form-action 'self';" in page.headers["Content-Security-Policy"]


async def test_webmail_uses_the_host_the_browser_used_if_it_is_the_servers(
    bob: tuple[Client, Browser],
) -> None:
    client, browser = bob
    _, named = await webmail_answer(client, browser, INFO, host="panel.example.test:2083")
    assert named.startswith("https://panel.example.test:2096/cpsess")
    _, forged = await webmail_answer(client, browser, INFO, host="evil.example:2083")
    assert forged.startswith("https://panel.example.test:2096/cpsess")  # never echoed


async def test_webmail_keeps_the_servers_port_offset(server_state: ServerState) -> None:
    listener = Listener(Service.CPANEL, True, Service.CPANEL.tls_port + 1000)
    client: Client = TestClient(RawTestServer(Gateway(listener, server_state)))
    await client.start_server()
    try:
        browser = await login(client, "bob", BOB_PASSWORD)
        location = await open_webmail(client, browser)
    finally:
        await client.close()
    assert location.startswith(f"https://127.0.0.1:{Service.WEBMAIL.tls_port + 1000}/cpsess")


async def test_webmail_is_hidden_and_refused_without_its_feature(
    bob: tuple[Client, Browser], server_state: ServerState
) -> None:
    await server_state.runtime.store.save_feature_list("default", {"webmail": False})
    client, browser = bob
    status, html = await open_page(client, browser)
    assert status == 200 and listed(html) == [INFO]
    assert "Open Webmail as" not in html and 'value="webmail"' not in html
    status, text = await webmail_answer(client, browser, INFO)
    assert status == 403 and status_message(text) == "This function requires the “webmail” feature."


async def test_webmail_refuses_an_unknown_mailbox_or_no_address(
    bob: tuple[Client, Browser], server_state: ServerState
) -> None:
    client, browser = bob
    status, text = await webmail_answer(client, browser, "ghost@bob.example")
    assert status == 403 and status_message(text) == "Permission denied"
    status, text = await webmail_answer(client, browser, "no-at-sign")
    assert status == 400 and status_message(text) == "Choose one of your email accounts."
