"""UAPI through `/json-api/cpanel?cpanel_jsonapi_apiversion=3` (w§15.3, w§2.4, w§16.7).

The answer is UAPI's result wrapped as cPanel's UAPI reference pages show it:
`{"apiversion": 3, "func": ..., "module": ..., "result": {status, errors, messages, warnings,
data, metadata}}`, on WHM (for `cpanel_jsonapi_user`), cPanel and Webmail ports, with the
rights of every other way to call the same function.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse

from panelauth.api.registry import Api
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.models import CredentialKind, Identity, IdentityKind
from panelauth.core.settings import Settings
from panelauth.core.tokens import ApiToken, TokenKind, digest, generate_token
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.responses import TOKEN_SCOPE_TEXT
from panelauth.server.state import ServerState
from tests.server.conftest import BOB_AUTH, ROOT_AUTH, MakeClient, basic, state_with_bob
from tests.server.sessions_helpers import Client, login, set_cookie

RES_AUTH = basic("res", "res-Passw0rd!")
INFO = "info@bob.example"
INFO_AUTH = basic(INFO, "info-Pw-1234")
WRAPPER_KEYS = {"apiversion", "func", "module", "result"}
RESULT_KEYS = {"status", "errors", "messages", "warnings", "data", "metadata"}
BOB_DOMAINS = {
    "main_domain": "bob.example",
    "addon_domains": [],
    "parked_domains": [],
    "sub_domains": [],
}


@pytest.fixture
async def server_state(
    tmp_path: Path, clock: FrozenClock, settings: Settings
) -> AsyncIterator[ServerState]:
    """Root's `bob` (with info@bob.example), and the reseller `res` (no ACL beyond listing)
    owning `carol`."""
    state = await state_with_bob(tmp_path, clock, settings)
    accounts = Accounts(state.runtime.store, state.runtime.passwords, clock)
    await accounts.create(user="res", domain="res.example", password="res-Passw0rd!", owner="root")
    await accounts.make_reseller("res")
    await accounts.set_acls("res", frozenset({"list-accts"}))
    await accounts.create(
        user="carol", domain="carol.example", password="carol-Passw0rd!", owner="res"
    )
    yield state
    await state.aclose()


async def call(
    client: Client,
    headers: dict[str, str],
    module: str,
    function: str,
    *,
    user: str | None = None,
    version: str = "3",
    prefix: str = "",
    **args: str,
) -> tuple[ClientResponse, dict[str, Any]]:
    """A GET, the way cpanel-rest-api's `whm.uapi` sends it (with its `api.version=1`)."""
    query = {
        "cpanel_jsonapi_module": module,
        "cpanel_jsonapi_func": function,
        "cpanel_jsonapi_apiversion": version,
        "api.version": "1",
        **args,
    }
    if user is not None:
        query["cpanel_jsonapi_user"] = user
    response = await client.get(f"{prefix}/json-api/cpanel?{urlencode(query)}", headers=headers)
    return response, json.loads(await response.read())


def assert_wrapped(document: dict[str, Any], module: str, function: str, status: int) -> None:
    assert set(document) == WRAPPER_KEYS
    assert (document["apiversion"], document["module"], document["func"]) == (3, module, function)
    assert set(document["result"]) == RESULT_KEYS
    assert document["result"]["status"] == status


def refusal(document: dict[str, Any]) -> list[str]:
    result = document["result"]
    assert result["status"] == 0 and result["data"] is None
    errors: list[str] = result["errors"]
    return errors


async def whm_token(state: ServerState, owner: str, acls: frozenset[str] | None) -> dict[str, str]:
    """A WHM API token of `owner` with the ACL list `acls` (None: its owner's full rights)."""
    plain = generate_token()
    store = state.runtime.store
    name = f"t{len(await store.list_tokens(owner, TokenKind.WHM))}"
    now = int(state.runtime.clock.now())
    await store.insert_token(ApiToken(owner, TokenKind.WHM, name, digest(plain), now, acls=acls))
    return {"Authorization": f"whm {owner}:{plain}"}


async def bob_cpanel_token(state: ServerState) -> dict[str, str]:
    bob = Identity("bob", IdentityKind.CPANEL, CredentialKind.LOCAL, "bob")
    created = await state.dispatcher.cpanel(
        Api.UAPI,
        bob,
        Service.CPANEL,
        "Tokens",
        "create_full_access",
        Params([("name", "ci")]),
        client_address="127.0.0.1",
    )
    assert created.ok, created.error
    return {"Authorization": f"cpanel bob:{created.data['token']}"}


# -- the envelope --------------------------------------------------------------------------------


async def test_root_through_whm_gets_the_wrapped_uapi_result(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    response, document = await call(whm, ROOT_AUTH, "DomainInfo", "list_domains", user="bob")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert document == {
        "apiversion": 3,
        "func": "list_domains",
        "module": "DomainInfo",
        "result": {
            "status": 1,
            "errors": None,
            "messages": None,
            "warnings": None,
            "data": BOB_DOMAINS,
            "metadata": {},
        },
    }


async def test_the_result_is_what_execute_answers_on_the_cpanel_port(
    make_client: MakeClient,
) -> None:
    whm, cpanel = await make_client(Service.WHM), await make_client(Service.CPANEL)
    _, through = await call(whm, ROOT_AUTH, "Variables", "get_user_information", user="bob")
    direct = await cpanel.get("/execute/Variables/get_user_information", headers=BOB_AUTH)
    assert through["result"] == await direct.json()
    assert through["result"]["data"]["user"] == "bob"


async def test_post_with_the_names_in_the_body_works_as_well(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    form = "cpanel_jsonapi_user=bob&cpanel_jsonapi_apiversion=3&cpanel_jsonapi_module=DomainInfo"
    response = await whm.post(
        "/json-api/cpanel", data=f"{form}&cpanel_jsonapi_func=list_domains", headers=ROOT_AUTH
    )
    document = await response.json()
    assert_wrapped(document, "DomainInfo", "list_domains", 1)
    assert document["result"]["data"] == BOB_DOMAINS


async def test_without_a_version_or_with_2_it_is_still_api2(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    for version in ("2", None):
        query = "cpanel_jsonapi_user=bob&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops"
        if version is not None:
            query += f"&cpanel_jsonapi_apiversion={version}"
        response = await whm.get(f"/json-api/cpanel?{query}", headers=ROOT_AUTH)
        document = await response.json()
        assert document["cpanelresult"]["apiversion"] == 2
        assert document["cpanelresult"]["data"] == [{"email": INFO, "login": INFO}]


# -- who may call it, for whom --------------------------------------------------------------------


async def test_a_reseller_reaches_its_own_accounts_and_no_other(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    for user, domain in (("carol", "carol.example"), ("res", "res.example")):
        response, document = await call(whm, RES_AUTH, "DomainInfo", "list_domains", user=user)
        assert response.status == 200, document
        assert document["result"]["data"]["main_domain"] == domain
    # root's account and an account that does not exist get the same refusal (no enumeration)
    for user in ("bob", "nobody", "root"):
        response, document = await call(whm, RES_AUTH, "DomainInfo", "list_domains", user=user)
        assert response.status == 403
        assert_wrapped(document, "DomainInfo", "list_domains", 0)
        assert refusal(document) == ["Permission denied"]


async def test_through_whm_the_user_is_required(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    response, document = await call(whm, ROOT_AUTH, "DomainInfo", "list_domains")
    assert response.status == 200
    assert_wrapped(document, "DomainInfo", "list_domains", 0)
    assert refusal(document) == ["You must specify the cPanel user."]


async def test_a_cpanel_user_calls_it_for_itself_only(make_client: MakeClient) -> None:
    cpanel = await make_client(Service.CPANEL)
    for user in (None, "bob"):
        response, document = await call(cpanel, BOB_AUTH, "DomainInfo", "list_domains", user=user)
        assert response.status == 200
        assert document["result"]["data"] == BOB_DOMAINS
    response, document = await call(cpanel, BOB_AUTH, "DomainInfo", "list_domains", user="carol")
    assert response.status == 403
    assert refusal(document) == ["Permission denied"]


async def test_a_cpanel_token_may_call_uapi_through_json_api_cpanel(
    make_client: MakeClient, server_state: ServerState
) -> None:
    """w§2.4: it is UAPI, so a `cpanel` token reaches it; API 1 and unknown versions stay
    outside the token's scope."""
    headers = await bob_cpanel_token(server_state)
    cpanel = await make_client(Service.CPANEL)
    response, document = await call(cpanel, headers, "Tokens", "list")
    assert response.status == 200
    assert_wrapped(document, "Tokens", "list", 1)
    assert [token["name"] for token in document["result"]["data"]] == ["ci"]
    assert document["result"]["data"][0]["has_full_access"] == 1
    response, document = await call(cpanel, headers, "DomainInfo", "list_domains", user="bob")
    assert document["result"]["data"] == BOB_DOMAINS
    response, document = await call(cpanel, headers, "DomainInfo", "list_domains", user="carol")
    assert response.status == 403 and refusal(document) == ["Permission denied"]
    for version in ("1", "4"):
        response, document = await call(cpanel, headers, "Email", "listpops", version=version)
        assert response.status == 403
        assert document["cpanelresult"]["error"] == TOKEN_SCOPE_TEXT
    # the token still never works on WHM, where the cPanel API is reached for another user
    whm = await make_client(Service.WHM)
    response, document = await call(whm, headers, "Tokens", "list", user="bob")
    assert response.status == 403 and document["cpanelresult"]["error"] == "Access denied"


async def test_a_restricted_whm_token_needs_the_acls_of_the_table(
    make_client: MakeClient, server_state: ServerState
) -> None:
    """docs/api.md's table: `cpanel-api` for any function, with `passwd` for `Tokens`."""
    whm = await make_client(Service.WHM)
    full = await whm_token(server_state, "root", None)
    listing_only = await whm_token(server_state, "root", frozenset({"acct-summary"}))
    cpanel_api = await whm_token(server_state, "root", frozenset({"cpanel-api"}))
    with_passwd = await whm_token(server_state, "root", frozenset({"cpanel-api", "passwd"}))

    response, document = await call(whm, full, "Tokens", "list", user="bob")
    assert response.status == 200 and document["result"]["data"] == []
    response, document = await call(whm, listing_only, "DomainInfo", "list_domains", user="bob")
    assert response.status == 403
    assert refusal(document) == [
        "Permission denied",
        "This function requires the “cpanel-api” privilege.",
    ]
    response, document = await call(whm, cpanel_api, "DomainInfo", "list_domains", user="bob")
    assert response.status == 200 and document["result"]["data"] == BOB_DOMAINS
    response, document = await call(whm, cpanel_api, "Tokens", "list", user="bob")
    assert response.status == 403
    assert refusal(document)[1] == "This function requires the “passwd” privilege."
    response, document = await call(whm, with_passwd, "Tokens", "list", user="bob")
    assert response.status == 200 and document["result"]["status"] == 1


async def test_webmail_runs_webmail_safe_functions_only(make_client: MakeClient) -> None:
    webmail = await make_client(Service.WEBMAIL)
    for headers, mailbox in ((INFO_AUTH, INFO), (BOB_AUTH, "bob")):
        response, document = await call(webmail, headers, "Variables", "get_user_information")
        assert response.status == 200
        assert document["result"]["data"]["user"] == mailbox
        response, document = await call(webmail, headers, "DomainInfo", "list_domains")
        assert response.status == 403
        assert refusal(document) == [
            "Permission denied",
            "This function is not available in Webmail.",
        ]


async def test_a_rotated_session_hands_its_token_over_in_the_result_metadata(
    make_client: MakeClient,
) -> None:
    """A mailbox changing its own password in a Webmail session gets the successor session:
    its cookie in Set-Cookie, its security token in `result.metadata` (PW-9)."""
    webmail = await make_client(Service.WEBMAIL)
    browser = await login(webmail, INFO, "info-Pw-1234")
    response, document = await call(
        webmail,
        browser.headers,
        "Email",
        "passwd_pop",
        prefix=browser.token,
        email=INFO,
        password="Changed-Passw0rd-1",
    )
    assert response.status == 200, document
    assert_wrapped(document, "Email", "passwd_pop", 1)
    token = document["result"]["metadata"]["security_token"]
    assert token.startswith("/cpsess") and token != browser.token
    cookie = set_cookie(response)
    response, document = await call(
        webmail, {"Cookie": cookie}, "Variables", "get_user_information", prefix=token
    )
    assert response.status == 200 and document["result"]["data"]["user"] == INFO


# -- errors: each in the envelope, never a 500 -----------------------------------------------


async def test_unknown_function_or_module_is_a_404_in_the_envelope(
    make_client: MakeClient,
) -> None:
    whm, cpanel = await make_client(Service.WHM), await make_client(Service.CPANEL)
    for client, headers, user in ((whm, ROOT_AUTH, "bob"), (cpanel, BOB_AUTH, None)):
        for module, function in (("DomainInfo", "nosuch"), ("NoSuch", "list_domains")):
            response, document = await call(client, headers, module, function, user=user)
            assert response.status == 404
            assert_wrapped(document, module, function, 0)
            assert refusal(document) == ["Function not found"]


async def test_missing_names_and_arguments_are_functional_failures(
    make_client: MakeClient,
) -> None:
    cpanel = await make_client(Service.CPANEL)
    response, document = await call(cpanel, BOB_AUTH, "", "list_domains")
    assert response.status == 200
    assert_wrapped(document, "", "list_domains", 0)
    assert refusal(document) == ["cpanel_jsonapi_module and cpanel_jsonapi_func are required."]
    response, document = await call(cpanel, BOB_AUTH, "Email", "passwd_pop", email=INFO)
    assert response.status == 200
    assert refusal(document) == ["The “password” parameter is required."]


async def test_api1_and_unknown_versions_are_clear_errors_in_the_api2_envelope(
    make_client: MakeClient,
) -> None:
    whm = await make_client(Service.WHM)
    response, document = await call(whm, ROOT_AUTH, "Email", "listpops", user="bob", version="1")
    assert response.status == 404
    assert document["cpanelresult"]["event"]["result"] == 0
    assert "API 1" in document["cpanelresult"]["error"]
    for version in ("4", "three", "", "3.0"):
        response, document = await call(
            whm, ROOT_AUTH, "DomainInfo", "list_domains", user="bob", version=version
        )
        assert response.status == 400, version
        error = document["cpanelresult"]["error"]
        assert error.startswith("Unsupported cpanel_jsonapi_apiversion"), error
        assert "3 (UAPI)" in error


async def test_request_errors_come_in_the_wrapped_envelope_too(make_client: MakeClient) -> None:
    plain = await make_client(Service.CPANEL, tls=False)
    response, document = await call(plain, BOB_AUTH, "DomainInfo", "list_domains")
    assert response.status == 403
    assert_wrapped(document, "DomainInfo", "list_domains", 0)
    assert refusal(document)[0].startswith("SSL is required")
    rejected = await make_client(Service.WHM)
    response, document = await call(
        rejected, basic("root", "wrong"), "DomainInfo", "list_domains", user="bob"
    )
    assert response.status == 403 and document["cpanelresult"]["error"] == "Access denied"
