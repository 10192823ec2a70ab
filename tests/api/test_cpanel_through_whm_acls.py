"""cPanel functions through WHM: what a restricted WHM API token needs (w§16.7, docs/api.md).

The expected requirement of each function is computed here from the rules, independently of
the registry: `cpanel-api` for every function, `passwd` for the `Tokens` module and for the
password-setting functions listed below (cross-checked against each function's declaration),
`create-acct` for the `TwoFactorAuth` module, `create-user-session` for the `Session` module
(it mints Webmail sessions, as WHM's `create_user_session`). The matrices enumerate the built
registry, so a function added later is covered without editing this file.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer, TestClient

from panelauth.api.catalog import build_registry
from panelauth.api.registry import Api, Function
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.acls import ACL_NAMES
from panelauth.core.authentication import AuthAttempt
from panelauth.core.models import Identity
from panelauth.core.settings import Settings
from panelauth.core.tokens import ApiToken, TokenKind, digest, generate_token
from panelauth.protocol.authorization import HeaderSecretCredentials, Scheme
from panelauth.protocol.params import Params
from panelauth.protocol.services import Listener, Service
from panelauth.secret import Secret
from panelauth.server.gateway import Gateway
from panelauth.server.state import ServerState
from tests.api.helpers import uapi
from tests.conftest import ROOT_PASSWORD
from tests.server.conftest import basic, state_with_bob

ADDRESS = "192.0.2.7"
RES_PASSWORD = "res-Passw0rd!"
# the reseller: neither `cpanel-api` nor `passwd`; it owns `carol`, root owns `bob`
RES_ACLS = frozenset({"list-accts", "create-acct", "acct-summary"})

# -- the table, test side -------------------------------------------------------------------------

# (module, function) of every cPanel function that sets or creates a password, UAPI and API 2
# names alike (API 2 `addpop`/`passwdpop` are listed for when they are served)
PASSWORD_SETTERS = frozenset(
    {
        ("Email", "add_pop"),  # creates a mailbox with a password
        ("Email", "passwd_pop"),
        ("Email", "addpop"),
        ("Email", "passwdpop"),
    }
)

# functions that read a password only to check it (w§10.2): they set none
PASSWORD_CHECKERS = frozenset({("Session", "create_webmail_session_for_mail_user_check_password")})


def needed(function: Function) -> set[str]:
    acls = {"cpanel-api"}
    if function.module == "Tokens" or (function.module, function.name) in PASSWORD_SETTERS:
        acls.add("passwd")
    if function.module == "TwoFactorAuth":
        acls.add("create-acct")
    if function.module == "Session":
        acls.add("create-user-session")
    return acls


def first_missing(function: Function, granted: frozenset[str]) -> str:
    """The ACL a refusal names: `cpanel-api` first, then by name."""
    missing = needed(function) - granted
    return "cpanel-api" if "cpanel-api" in missing else min(missing)


REGISTRY = build_registry()
UAPI_FUNCTIONS = REGISTRY.all(Api.UAPI)
API2_FUNCTIONS = REGISTRY.all(Api.API2)
CPANEL_FUNCTIONS = UAPI_FUNCTIONS + API2_FUNCTIONS
# every single ACL, and every ACL alongside `cpanel-api` (so that `passwd` and `create-acct`
# are seen both granting and missing)
ACL_SETS = sorted(
    {frozenset({acl}) for acl in ACL_NAMES} | {frozenset({"cpanel-api", acl}) for acl in ACL_NAMES},
    key=sorted,
)


def allowed(function: Function, granted: frozenset[str]) -> bool:
    return "all" in granted or needed(function) <= granted


# -- the registry's declarations ---------------------------------------------------------------


def test_the_registry_serves_the_cpanel_functions_the_matrices_cover() -> None:
    names = {(f.api, f.module, f.name) for f in CPANEL_FUNCTIONS}
    assert {
        (Api.UAPI, "Tokens", "create_full_access"),
        (Api.UAPI, "Email", "passwd_pop"),
        (Api.UAPI, "Email", "add_pop"),
        (Api.UAPI, "TwoFactorAuth", "remove_user_configuration"),
        (Api.UAPI, "Variables", "get_user_information"),
        (Api.API2, "Email", "listpops"),
    } <= names


@pytest.mark.parametrize(
    "function", CPANEL_FUNCTIONS, ids=lambda f: f"{f.api.value}-{f.module}-{f.name}"
)
def test_each_function_declares_whether_it_sets_a_password_as_the_table_says(
    function: Function,
) -> None:
    assert function.sets_password is ((function.module, function.name) in PASSWORD_SETTERS)
    # a handler that reads a `password` argument, or a name about passwords, must be listed
    reads_password = re.search(r"""["']password["']""", inspect.getsource(function.handler))
    if reads_password or re.search(r"pass|pw", function.name):
        key = (function.module, function.name)
        assert key in PASSWORD_SETTERS or key in PASSWORD_CHECKERS
    assert function.whm_token_acls[0] == "cpanel-api"
    assert set(function.whm_token_acls) == needed(function)


def test_a_cpanel_function_must_declare_whether_it_sets_a_password() -> None:
    async def handler(ctx: Any, args: Params) -> None:
        return None

    with pytest.raises(ValueError, match="sets_password"):
        Function(Api.UAPI, "Email", "addpop", handler)
    assert Function(Api.WHM1, "", "version", handler).whm_token_acls == ()


# -- a server with root's `bob`, reseller `res` and its `carol` ------------------------------------


@pytest.fixture
async def state(
    tmp_path: Path, clock: FrozenClock, settings: Settings
) -> AsyncIterator[ServerState]:
    server_state = await state_with_bob(tmp_path, clock, settings)
    accounts = Accounts(server_state.runtime.store, server_state.runtime.passwords, clock)
    await accounts.create(user="res", domain="res.example", password=RES_PASSWORD, owner="root")
    await accounts.make_reseller("res")
    await accounts.set_acls("res", RES_ACLS)
    await accounts.create(
        user="carol", domain="carol.example", password="carol-Passw0rd!", owner="res"
    )
    yield server_state
    await server_state.aclose()


@pytest.fixture
async def whm(state: ServerState) -> AsyncIterator[TestClient[web.Request, None]]:
    listener = Listener(Service.WHM, True, Service.WHM.tls_port)
    client: TestClient[web.Request, None] = TestClient(RawTestServer(Gateway(listener, state)))
    await client.start_server()
    yield client
    await client.close()


async def new_token(state: ServerState, owner: str, acls: frozenset[str] | None) -> str:
    plain = generate_token()
    name = f"t{len(await state.runtime.store.list_tokens(owner, TokenKind.WHM))}"
    now = int(state.runtime.clock.now())
    await state.runtime.store.insert_token(
        ApiToken(owner, TokenKind.WHM, name, digest(plain), now, acls=acls)
    )
    return plain


async def token_identity(state: ServerState, owner: str, plain: str) -> Identity:
    credentials = HeaderSecretCredentials(Scheme.WHM, owner, Secret(plain))
    identity = await state.authenticator.authenticate(
        AuthAttempt(credentials, Service.WHM, ADDRESS)
    )
    assert identity is not None
    return identity


def whm_token(owner: str, plain: str) -> dict[str, str]:
    return {"Authorization": f"whm {owner}:{plain}"}


async def uapi_cpanel(
    client: TestClient[web.Request, None],
    headers: dict[str, str],
    user: str,
    module: str,
    function: str,
    **args: str,
) -> tuple[int, dict[str, Any]]:
    query = {
        "api.version": "1",
        "cpanel.user": user,
        "cpanel.module": module,
        "cpanel.function": function,
        **args,
    }
    response = await client.post("/json-api/uapi_cpanel", data=urlencode(query), headers=headers)
    return response.status, json.loads(await response.read())


async def cpanel_jsonapi(
    client: TestClient[web.Request, None],
    headers: dict[str, str],
    user: str,
    module: str,
    function: str,
    *,
    version: str = "2",
    **args: str,
) -> tuple[int, dict[str, Any]]:
    query = {
        "cpanel_jsonapi_user": user,
        "cpanel_jsonapi_apiversion": version,
        "cpanel_jsonapi_module": module,
        "cpanel_jsonapi_func": function,
        **args,
    }
    response = await client.post("/json-api/cpanel", data=urlencode(query), headers=headers)
    return response.status, json.loads(await response.read())


def refusal_text(document: dict[str, Any]) -> str:
    if "cpanelresult" in document:
        return str(document["cpanelresult"].get("error", ""))
    if "status" in document:  # the flat UAPI result
        return " ".join(document.get("errors") or [])
    if "result" in document:  # UAPI's result wrapped, from /json-api/cpanel (version 3)
        return " ".join(document["result"].get("errors") or [])
    return str(document["metadata"].get("reason", ""))


def assert_refused_for(status: int, document: dict[str, Any], acl: str) -> None:
    assert status == 403, document
    text = refusal_text(document)
    assert text.startswith("Permission denied"), text
    assert f"This function requires the “{acl}” privilege." in text, text


# -- the matrices --------------------------------------------------------------------------------


async def test_every_cpanel_function_with_every_acl_through_the_dispatcher(
    state: ServerState,
) -> None:
    """Every function, with every single ACL (and with `cpanel-api`), root's tokens on `bob`."""
    dispatcher = state.dispatcher
    checked = 0
    for granted in ACL_SETS:
        identity = await token_identity(state, "root", await new_token(state, "root", granted))
        assert identity.restricted_token is ("all" not in granted)
        for function in CPANEL_FUNCTIONS:
            answer = await uapi(
                dispatcher,
                identity,
                function.module,
                function.name,
                service=Service.WHM,
                acting_user="bob",
                api=function.api,
            )
            if allowed(function, granted):
                # it ran: empty arguments give at most a functional failure (200, result 0)
                assert answer.status == 200, (function.key, granted, answer.document)
            else:
                missing = first_missing(function, granted)
                assert_refused_for(answer.status, answer.document, missing)
            checked += 1
    assert checked == len(ACL_SETS) * len(CPANEL_FUNCTIONS)


async def test_every_cpanel_function_with_every_acl_through_both_proxies_over_http(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    """UAPI through `/json-api/uapi_cpanel`, API 2 through `/json-api/cpanel`, as tokens."""
    for granted in ACL_SETS:
        headers = whm_token("root", await new_token(state, "root", granted))
        for function in UAPI_FUNCTIONS:
            status, document = await uapi_cpanel(
                whm, headers, "bob", function.module, function.name
            )
            if allowed(function, granted):
                assert status == 200, (function.key, granted, document)
                assert document["metadata"]["command"] == "uapi_cpanel"
            else:
                assert_refused_for(status, document, first_missing(function, granted))
                assert document["metadata"] == {
                    "command": "uapi_cpanel",
                    "reason": document["metadata"]["reason"],
                    "result": 0,
                    "version": 1,
                }
        for function in API2_FUNCTIONS:
            status, document = await cpanel_jsonapi(
                whm, headers, "bob", function.module, function.name
            )
            if allowed(function, granted):
                assert status == 200, (function.key, granted, document)
            else:
                assert_refused_for(status, document, first_missing(function, granted))
                assert document["cpanelresult"]["func"] == function.name


@pytest.mark.parametrize("function", UAPI_FUNCTIONS, ids=lambda f: f"{f.module}-{f.name}")
async def test_uapi_through_json_api_cpanel_needs_the_same_acls(
    state: ServerState, whm: TestClient[web.Request, None], function: Function
) -> None:
    """`/json-api/cpanel` with `apiversion=3` is one more route to UAPI: the same table."""
    every_extra = frozenset({"cpanel-api", "passwd", "create-acct", "create-user-session"})
    callers = [(basic("root", ROOT_PASSWORD), frozenset({"all"}))]
    for granted in (frozenset({"acct-summary"}), frozenset({"cpanel-api"}), every_extra):
        callers.append((whm_token("root", await new_token(state, "root", granted)), granted))
    for headers, granted in callers:
        status, document = await cpanel_jsonapi(
            whm, headers, "bob", function.module, function.name, version="3"
        )
        assert (document["apiversion"], document["func"]) == (3, function.name)
        if allowed(function, granted):
            assert status == 200, (function.key, granted, document)
        else:
            assert_refused_for(status, document, first_missing(function, granted))


# -- the cases over HTTP -----------------------------------------------------------------


async def test_a_restricted_token_with_cpanel_api_calls_harmless_functions(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    headers = whm_token("root", await new_token(state, "root", frozenset({"cpanel-api"})))
    status, document = await uapi_cpanel(whm, headers, "bob", "Variables", "get_user_information")
    assert status == 200 and document["data"]["uapi"]["data"]["user"] == "bob"
    status, document = await uapi_cpanel(whm, headers, "bob", "Email", "list_pops")
    assert [p["email"] for p in document["data"]["uapi"]["data"]] == ["info@bob.example"]
    status, document = await cpanel_jsonapi(whm, headers, "bob", "Email", "listpops")
    assert document["cpanelresult"]["data"] == [
        {"email": "info@bob.example", "login": "info@bob.example"}
    ]


async def test_acct_summary_token_cannot_mint_a_token_change_mail_or_remove_two_factor(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    """The issue: an `acct-summary` token reached every cPanel function of owned accounts."""
    headers = whm_token("root", await new_token(state, "root", frozenset({"acct-summary"})))
    calls = [
        ("Tokens", "create_full_access", {"name": "stolen"}),
        ("Email", "add_pop", {"email": "new", "password": "Pw-new-12345"}),
        ("Email", "passwd_pop", {"email": "info", "password": "Pw-other-12345"}),
        ("TwoFactorAuth", "remove_user_configuration", {}),
    ]
    for module, function, args in calls:
        status, document = await uapi_cpanel(whm, headers, "bob", module, function, **args)
        assert_refused_for(status, document, "cpanel-api")
    assert await state.runtime.store.list_tokens("bob", TokenKind.CPANEL) == []
    assert [m.address for m in await state.runtime.store.list_mailboxes("bob")] == [
        "info@bob.example"
    ]


async def test_without_passwd_no_token_minting_and_no_mailbox_password(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    granted = frozenset({"cpanel-api", "create-acct", "acct-summary"})
    headers = whm_token("root", await new_token(state, "root", granted))
    mailbox = await state.runtime.store.get_mailbox("info@bob.example")
    for module, function, args in [
        ("Tokens", "create_full_access", {"name": "stolen"}),
        ("Tokens", "list", {}),
        ("Email", "passwd_pop", {"email": "info", "password": "Pw-other-12345"}),
        ("Email", "add_pop", {"email": "new", "password": "Pw-new-12345"}),
    ]:
        status, document = await uapi_cpanel(whm, headers, "bob", module, function, **args)
        assert_refused_for(status, document, "passwd")
    assert await state.runtime.store.list_tokens("bob", TokenKind.CPANEL) == []
    assert await state.runtime.store.get_mailbox("info@bob.example") == mailbox
    # with `passwd` as well, the same calls run
    headers = whm_token("root", await new_token(state, "root", granted | {"passwd"}))
    status, document = await uapi_cpanel(
        whm, headers, "bob", "Tokens", "create_full_access", name="allowed"
    )
    assert status == 200 and len(document["data"]["uapi"]["data"]["token"]) == 32


async def test_without_create_acct_no_two_factor_function(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    granted = frozenset({"cpanel-api", "passwd", "acct-summary"})
    headers = whm_token("root", await new_token(state, "root", granted))
    for function in [f for f in UAPI_FUNCTIONS if f.module == "TwoFactorAuth"]:
        status, document = await uapi_cpanel(whm, headers, "bob", "TwoFactorAuth", function.name)
        assert_refused_for(status, document, "create-acct")
    headers = whm_token("root", await new_token(state, "root", granted | {"create-acct"}))
    status, document = await uapi_cpanel(
        whm, headers, "bob", "TwoFactorAuth", "remove_user_configuration"
    )
    assert status == 200 and document["data"]["uapi"]["data"] == {"tfa_removed": 0}


# -- unchanged: full-access tokens, resellers by password, ownership ------------------------------


async def test_full_access_root_tokens_keep_every_function(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    for number, acls in enumerate((None, frozenset({"all"}))):
        plain = await new_token(state, "root", acls)
        assert not (await token_identity(state, "root", plain)).restricted_token
        headers = whm_token("root", plain)
        status, document = await uapi_cpanel(
            whm, headers, "bob", "Tokens", "create_full_access", name=f"n{number}"
        )
        assert status == 200 and document["data"]["uapi"]["status"] == 1, document


async def test_a_reseller_by_password_and_its_full_tokens_keep_todays_rights(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    """Neither `cpanel-api` nor `passwd` is needed without a restricted token."""
    full = [
        basic("res", RES_PASSWORD),
        whm_token("res", await new_token(state, "res", None)),
        whm_token("res", await new_token(state, "res", RES_ACLS)),  # the owner's full set
        whm_token("res", await new_token(state, "res", RES_ACLS | {"cpanel-api"})),  # wider
    ]
    for number, headers in enumerate(full):
        status, document = await uapi_cpanel(
            whm, headers, "carol", "Tokens", "create_full_access", name=f"n{number}"
        )
        assert status == 200 and document["data"]["uapi"]["status"] == 1, document
        status, document = await cpanel_jsonapi(whm, headers, "carol", "Email", "listpops")
        assert status == 200 and document["cpanelresult"]["event"]["result"] == 1
        # ownership is checked as before: root's `bob` is out of reach
        status, document = await uapi_cpanel(whm, headers, "bob", "Email", "list_pops")
        assert status == 403 and "privilege" not in refusal_text(document)


async def test_a_reseller_token_has_only_what_both_it_and_its_owner_hold(
    state: ServerState, whm: TestClient[web.Request, None]
) -> None:
    """`res` holds neither `cpanel-api` nor `passwd`: a token listing them cannot add them."""
    headers = whm_token("res", await new_token(state, "res", frozenset({"cpanel-api", "passwd"})))
    status, document = await uapi_cpanel(whm, headers, "carol", "Email", "list_pops")
    assert_refused_for(status, document, "cpanel-api")
    await state.runtime.store.set_reseller("res", True, RES_ACLS | {"cpanel-api"})
    status, document = await uapi_cpanel(whm, headers, "carol", "Email", "list_pops")
    assert status == 200 and document["data"]["uapi"]["status"] == 1
    status, document = await uapi_cpanel(
        whm, headers, "carol", "Tokens", "create_full_access", name="x"
    )
    assert_refused_for(status, document, "passwd")
    # a restricted token with every ACL still reaches only owned accounts
    status, document = await uapi_cpanel(whm, headers, "bob", "Email", "list_pops")
    assert status == 403 and "privilege" not in refusal_text(document)
