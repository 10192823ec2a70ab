"""Token and access-hash authentication on the wire (w§2.2-2.4, TK-1..TK-10)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aiohttp import ClientResponse

from panelauth.api.context import Runtime
from panelauth.api.registry import Api
from panelauth.clock import FrozenClock
from panelauth.core.authentication import AuthenticatorChain
from panelauth.core.models import CredentialKind, Identity, IdentityKind, root_identity
from panelauth.core.token_auth import TokenAuthenticator
from panelauth.core.tokens import TokenKind
from panelauth.protocol.envelopes import ACCESS_DENIED_BODY
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.responses import TOKEN_SCOPE_TEXT
from panelauth.server.state import ServerState
from tests.server.conftest import MakeClient

VERSION = "/json-api/version?api.version=1"
BOB = Identity("bob", IdentityKind.CPANEL, CredentialKind.LOCAL, "bob")


async def whm_token(state: ServerState, **args: str) -> str:
    answer = await state.dispatcher.whm1(
        root_identity(CredentialKind.LOCAL),
        "api_token_create",
        Params([("token_name", "t"), *args.items()]),
        client_address="127.0.0.1",
    )
    assert answer.ok, answer.error
    token: str = answer.data["token"]
    return token


async def cpanel_token(state: ServerState) -> str:
    answer = await state.dispatcher.cpanel(
        Api.UAPI,
        BOB,
        Service.CPANEL,
        "Tokens",
        "create_full_access",
        Params([("name", "ci")]),
        client_address="127.0.0.1",
    )
    token: str = answer.data["token"]
    return token


async def access_hash(state: ServerState) -> str:
    answer = await state.dispatcher.whm1(
        root_identity(CredentialKind.LOCAL),
        "accesshash",
        Params([("generate", "1")]),
        client_address="127.0.0.1",
    )
    text: str = answer.data["accesshash"]
    return text


async def denied(response: ClientResponse) -> bool:
    return response.status == 403 and json.loads(await response.read()) == ACCESS_DENIED_BODY


@pytest.mark.parametrize("scheme", ["whm", "WHM"])
async def test_whm_token_authenticates_on_whm(
    make_client: MakeClient, server_state: ServerState, scheme: str, logs: Path
) -> None:
    token = await whm_token(server_state)
    client = await make_client(Service.WHM)
    response = await client.get(VERSION, headers={"Authorization": f"{scheme} root:{token}"})
    assert response.status == 200
    assert token not in "".join(p.read_text() for p in logs.iterdir())


async def test_whm_token_refused_elsewhere_and_for_another_user(
    make_client: MakeClient, server_state: ServerState
) -> None:
    token = await whm_token(server_state)
    cpanel = await make_client(Service.CPANEL)
    whm = await make_client(Service.WHM)
    assert await denied(
        await cpanel.get(
            "/execute/DomainInfo/list_domains", headers={"Authorization": f"whm root:{token}"}
        )
    )
    assert await denied(await whm.get(VERSION, headers={"Authorization": f"whm bob:{token}"}))
    plain = await make_client(Service.WHM, tls=False)
    assert (await plain.get(VERSION, headers={"Authorization": f"whm root:{token}"})).status == 403


@pytest.mark.parametrize(
    "secret", ["A" * 32, "a" * 32, "SHORT", "Z" * 64, "ÄÖÜ" * 10, "  ", "!!!!"]
)
async def test_malformed_or_unknown_tokens_are_denied(
    make_client: MakeClient, server_state: ServerState, secret: str
) -> None:
    await whm_token(server_state)
    client = await make_client(Service.WHM)
    response = await client.get(VERSION, headers={"Authorization": f"whm root:{secret}"})
    assert await denied(response)


async def test_expired_token_is_listed_but_denied(
    make_client: MakeClient, server_state: ServerState
) -> None:
    clock = server_state.runtime.clock
    token = await whm_token(server_state, expires_at=str(int(clock.now()) + 60))
    client = await make_client(Service.WHM)
    headers = {"Authorization": f"whm root:{token}"}
    assert (await client.get(VERSION, headers=headers)).status == 200
    assert isinstance(clock, FrozenClock)
    clock.advance(61)
    assert await denied(await client.get(VERSION, headers=headers))
    assert (await server_state.runtime.store.get_token("root", TokenKind.WHM, "t")) is not None


async def test_ip_whitelist_uses_the_real_peer_not_forwarded_for(
    make_client: MakeClient, server_state: ServerState
) -> None:
    token = await whm_token(server_state, whitelist_ip="192.0.2.0/24")
    client = await make_client(Service.WHM)
    forged = {"Authorization": f"whm root:{token}", "X-Forwarded-For": "192.0.2.9"}
    assert await denied(await client.get(VERSION, headers=forged))
    updated = await server_state.dispatcher.whm1(
        root_identity(CredentialKind.LOCAL),
        "api_token_update",
        Params([("token_name", "t"), ("whitelist_ip", "127.0.0.0/8")]),
        client_address="127.0.0.1",
    )
    assert updated.ok
    assert (await client.get(VERSION, headers=forged)).status == 200


async def test_token_rights_follow_the_owners_current_acls(
    make_client: MakeClient, server_state: ServerState
) -> None:
    store = server_state.runtime.store
    await store.set_reseller("bob", True, frozenset({"list-accts", "manage-api-tokens"}))
    answer = await server_state.dispatcher.whm1(
        Identity(
            "bob",
            IdentityKind.RESELLER,
            CredentialKind.LOCAL,
            "bob",
            frozenset({"list-accts", "manage-api-tokens"}),
        ),
        "api_token_create",
        Params([("token_name", "t")]),
        client_address="127.0.0.1",
    )
    token = answer.data["token"]
    client = await make_client(Service.WHM)
    headers = {"Authorization": f"whm bob:{token}"}
    assert (await client.get("/json-api/listaccts?api.version=1", headers=headers)).status == 200
    await store.set_reseller("bob", True, frozenset({"manage-api-tokens"}))
    assert (await client.get("/json-api/listaccts?api.version=1", headers=headers)).status == 403
    await store.set_suspended("bob", True, "test")
    assert await denied(await client.get(VERSION, headers=headers))


async def test_cpanel_token_reaches_uapi_and_api2_only(
    make_client: MakeClient, server_state: ServerState
) -> None:
    token = await cpanel_token(server_state)
    headers = {"Authorization": f"cpanel bob:{token}"}
    client = await make_client(Service.CPANEL)
    uapi = await client.post("/execute/DomainInfo/list_domains", headers=headers)
    assert (await uapi.json())["data"]["main_domain"] == "bob.example"
    api2 = await client.get(
        "/json-api/cpanel?cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=Email"
        "&cpanel_jsonapi_func=listpops",
        headers=headers,
    )
    assert (await api2.json())["cpanelresult"]["event"]["result"] == 1
    api1 = await client.get(
        "/json-api/cpanel?cpanel_jsonapi_apiversion=1&cpanel_jsonapi_module=Email"
        "&cpanel_jsonapi_func=listpops",
        headers=headers,
    )
    assert api1.status == 403
    assert (await api1.json())["cpanelresult"]["error"] == TOKEN_SCOPE_TEXT
    whm_api = await client.get("/json-api/listaccts?api.version=1", headers=headers)
    assert whm_api.status == 403 and await whm_api.text() == TOKEN_SCOPE_TEXT
    other_user = await client.get(
        "/json-api/cpanel?cpanel_jsonapi_user=carol&cpanel_jsonapi_apiversion=2"
        "&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops",
        headers=headers,
    )
    assert other_user.status == 403
    whm = await make_client(Service.WHM)
    assert await denied(await whm.get(VERSION, headers={"Authorization": f"whm bob:{token}"}))
    webmail = await make_client(Service.WEBMAIL)
    assert await denied(
        await webmail.get(
            "/execute/Variables/get_user_information",
            headers={"Authorization": f"cpanel bob:{token}"},
        )
    )


async def test_access_hash_authenticates_root_joined_or_not(
    make_client: MakeClient, server_state: ServerState, tmp_path: Path
) -> None:
    text = await access_hash(server_state)
    with_newlines = (tmp_path / "data" / "home" / "root" / ".accesshash").read_text()
    client = await make_client(Service.WHM)
    lines = with_newlines.split()
    assert len(lines) == 30
    # CR/LF cannot cross an HTTP header; clients that keep line breaks send spaces or tabs
    for value in (text, " ".join(lines), "\t".join(lines) + " "):
        for scheme in ("WHM", "whm"):
            response = await client.get(
                "/json-api/applist", headers={"Authorization": f"{scheme} root:{value}"}
            )
            assert response.status == 200
            assert "app" in await response.json()


async def test_access_hash_denials(make_client: MakeClient, server_state: ServerState) -> None:
    text = await access_hash(server_state)
    changed = ("0" if text[100] != "0" else "1").join((text[:100], text[101:]))
    client = await make_client(Service.WHM)
    assert await denied(await client.get(VERSION, headers={"Authorization": f"WHM root:{changed}"}))
    assert await denied(await client.get(VERSION, headers={"Authorization": f"WHM bob:{text}"}))
    cpanel = await make_client(Service.CPANEL)
    assert await denied(
        await cpanel.get(
            "/execute/DomainInfo/list_domains", headers={"Authorization": f"WHM root:{text}"}
        )
    )
    newer = await access_hash(server_state)
    assert newer != text
    assert await denied(await client.get(VERSION, headers={"Authorization": f"WHM root:{text}"}))


async def test_access_hash_can_be_switched_off(
    make_client: MakeClient, server_state: ServerState
) -> None:
    text = await access_hash(server_state)
    runtime: Runtime = server_state.runtime
    off = TokenAuthenticator(runtime.store, runtime.clock, access_hash_enabled=False)
    server_state.authenticator = AuthenticatorChain([off])
    client = await make_client(Service.WHM)
    assert await denied(await client.get(VERSION, headers={"Authorization": f"WHM root:{text}"}))


async def test_plain_port_takes_tokens_only_with_require_ssl_off(
    make_client: MakeClient, server_state: ServerState
) -> None:
    from panelauth.core.shared_settings import change

    token = await whm_token(server_state)
    plain = await make_client(Service.WHM, tls=False)
    headers = {"Authorization": f"whm root:{token}"}
    assert (await plain.get(VERSION, headers=headers)).status == 403
    # require_ssl is shared by every node: it lives in the store (core/shared_settings.py)
    await change(server_state.shared, server_state.runtime.store, "requiressl", "0")
    assert (await plain.get(VERSION, headers=headers)).status == 200
    # a password is never accepted on a plain port, whatever the setting (TR-1)
    basic = await plain.get(
        VERSION, headers={"Authorization": "Basic cm9vdDpyb290LVBhc3N3MHJkIQ=="}
    )
    assert basic.status == 403
    assert (await basic.json())["metadata"]["reason"].startswith("SSL is required")


async def test_token_events_reach_the_accounting_log(
    server_state: ServerState, tmp_path: Path
) -> None:
    await whm_token(server_state)
    line = (tmp_path / "data" / "logs" / "accounting_log").read_text().strip()
    assert re.fullmatch(
        r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} \d{4}:API_TOKEN_CREATE:root:root:whm:t", line
    ), line
