"""The HTTP surface in-process: port rules, Basic auth, envelopes, bad input (w§1, w§2, w§15)."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from pathlib import Path

import pytest

from panelauth.protocol.envelopes import ACCESS_DENIED_BODY
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.server.conftest import BOB_AUTH, ROOT_AUTH, MakeClient, basic

VERSION = "/json-api/version?api.version=1"


async def test_basic_root_gets_the_whm_envelope(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    response = await client.get(VERSION, headers=ROOT_AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "WWW-Authenticate" not in response.headers
    body = await response.json()
    assert body["metadata"]["result"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("root", "wrong-password"),
        basic("ghost", "whatever-pw"),
        basic("bob", "bob-Passw0rd!"),  # a cPanel user is not a WHM identity
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(b"rootnocolon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b":password").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"root:pw\x00x").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"ro\rot:pw").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"root:\xff\xfe").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"root:" + b"x" * 5000).decode()},
        {"Authorization": "Bearer abc"},
        {"Authorization": "2087 root:abc"},
        {"Authorization": "webmail root:abc"},
        {"Authorization": "Digest username=root"},
        {"Authorization": "Basic"},
    ],
)
async def test_every_rejection_gets_the_same_access_denied(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    client = await make_client(Service.WHM)
    response = await client.get(VERSION, headers=headers)
    assert response.status == 403
    assert response.reason == "Forbidden"
    assert response.headers["Content-Type"] == 'text/plain; charset="utf-8"'
    assert json.loads(await response.read()) == ACCESS_DENIED_BODY


async def test_scheme_is_case_insensitive_and_trailing_crlf_ignored(
    make_client: MakeClient,
) -> None:
    client = await make_client(Service.WHM)
    value = ROOT_AUTH["Authorization"].replace("Basic", "bAsIc")
    response = await client.get(VERSION, headers={"Authorization": value + "  "})
    assert response.status == 200


async def test_password_may_contain_colons(
    make_client: MakeClient, server_state: ServerState
) -> None:
    from panelauth.core.accounts import Accounts

    accounts = Accounts(
        server_state.runtime.store, server_state.runtime.passwords, server_state.runtime.clock
    )
    await accounts.change_password("bob", "with:colons:inside")
    client = await make_client(Service.CPANEL)
    response = await client.get(
        "/execute/DomainInfo/list_domains", headers=basic("bob", "with:colons:inside")
    )
    assert response.status == 200


async def test_two_authorization_headers_are_a_400(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    headers = [("Authorization", ROOT_AUTH["Authorization"])] * 2
    response = await client.get(VERSION, headers=headers)
    assert response.status == 400


async def test_failed_login_is_logged_without_the_password(
    make_client: MakeClient, logs: Path
) -> None:
    client = await make_client(Service.WHM)
    await client.get(VERSION + "&password=hunter2-in-query", headers=basic("root", "Sekr3t-guess"))
    login_log = (logs / "login_log").read_text()
    assert "FAILED LOGIN whostmgrd: user password incorrect" in login_log
    assert ' - root "GET /json-api/version?api.version=1&password=*** HTTP/1.1"' in login_log
    everything = "".join(p.read_text() for p in logs.iterdir())
    assert "Sekr3t-guess" not in everything
    assert "hunter2-in-query" not in everything


async def test_crlf_in_claimed_user_cannot_forge_a_log_line(
    make_client: MakeClient, logs: Path
) -> None:
    client = await make_client(Service.WHM)
    forged = base64.b64encode(b"x\n[2026] SUCCESS LOGIN root:pw").decode()
    await client.get(VERSION, headers={"Authorization": f"Basic {forged}"})
    for name in ("login_log", "access_log", "audit_log"):
        lines = (logs / name).read_text().splitlines()
        assert len(lines) == 1, name
        assert "SUCCESS" not in lines[0] or name == "audit_log"


async def test_success_lines_name_the_authenticated_user(
    make_client: MakeClient, logs: Path
) -> None:
    client = await make_client(Service.WHM)
    await client.get(VERSION, headers=ROOT_AUTH)
    assert "- root - SUCCESS LOGIN whostmgrd" in (logs / "login_log").read_text()
    access = (logs / "access_log").read_text()
    assert " - root [" in access and '"GET /json-api/version?api.version=1 HTTP/1.1" 200 ' in access


# -- plain ports (w§1.2) ---------------------------------------------------------------------


@pytest.mark.parametrize("password", ["root-Passw0rd!", "wrong-password"])
async def test_plain_port_never_checks_a_password(
    make_client: MakeClient, password: str, logs: Path
) -> None:
    client = await make_client(Service.WHM, tls=False)
    response = await client.get(VERSION, headers=basic("root", password))
    assert response.status == 403
    body = await response.json()
    assert body["metadata"]["reason"].startswith("SSL is required")
    assert not (logs / "login_log").exists() or "root" not in (logs / "login_log").read_text()


async def test_plain_port_uapi_answers_ssl_required_in_uapi_envelope(
    make_client: MakeClient,
) -> None:
    client = await make_client(Service.CPANEL, tls=False)
    response = await client.post("/execute/Email/list_pops", headers=BOB_AUTH)
    assert response.status == 403
    body = await response.json()
    assert body["status"] == 0 and body["errors"][0].startswith("SSL is required")


async def test_plain_port_pages_redirect_to_the_tls_twin(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL, tls=False)
    response = await client.get(
        "/frontend/x?a=1", headers={"Host": "evil.example"}, allow_redirects=False
    )
    assert response.status == 301
    # an unknown Host never reaches a generated URL (SS-8)
    assert response.headers["Location"] == "https://panel.example.test:2083/frontend/x?a=1"


# -- services and routing (w§1.3, w§2.1) -------------------------------------------------------


async def test_whm_api_never_runs_on_cpanel_ports(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.get("/json-api/listaccts?api.version=1", headers=BOB_AUTH)
    assert response.status == 404
    assert (await response.json())["metadata"]["result"] == 0


async def test_root_is_not_a_cpanel_identity(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.get("/execute/DomainInfo/list_domains", headers=ROOT_AUTH)
    assert response.status == 403
    assert json.loads(await response.read()) == ACCESS_DENIED_BODY


async def test_unauthenticated_caller_cannot_learn_functions_exist(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    known = await client.get("/json-api/listaccts?api.version=1")
    unknown = await client.get("/json-api/nosuch?api.version=1")
    assert known.status == unknown.status == 403
    assert await known.read() == await unknown.read()


async def test_xml_api_is_not_served(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    response = await client.get("/xml-api/version", headers=ROOT_AUTH)
    assert response.status == 404


async def test_uapi_get_and_post_with_any_content_type(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    added = await client.post(
        "/execute/Email/add_pop?",
        data=b"email=sales&password=sales-Pw-123",
        headers={**BOB_AUTH, "Content-Type": "application/octet-stream"},
    )
    assert (await added.json())["status"] == 1
    listed = await client.post("/execute/Email/list_pops", headers=BOB_AUTH)  # Content-Length: 0
    emails = [entry["email"] for entry in (await listed.json())["data"]]
    assert emails == ["info@bob.example", "sales@bob.example"]


async def test_cpsess_prefix_is_tolerated_with_header_auth(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    response = await client.get(
        "/cpsess0123456789/json-api/version?api.version=1", headers=ROOT_AUTH
    )
    assert response.status == 200


async def test_webmail_with_mailbox_address(make_client: MakeClient) -> None:
    client = await make_client(Service.WEBMAIL)
    mailbox = basic("info@bob.example", "info-Pw-1234")
    info = await client.get("/execute/Variables/get_user_information", headers=mailbox)
    assert (await info.json())["data"]["user"] == "info@bob.example"
    denied = await client.get("/execute/Email/list_pops", headers=mailbox)
    assert denied.status == 403
    assert (await denied.json())["errors"][0] == "Permission denied"


async def test_webmail_refuses_whm_and_cpanel_only_identities(make_client: MakeClient) -> None:
    client = await make_client(Service.WEBMAIL)
    response = await client.get("/execute/Variables/get_user_information", headers=ROOT_AUTH)
    assert response.status == 403


# -- cPanel APIs through WHM and API 2 (w§15.3, w§15.4) -----------------------------------------


async def test_api2_on_cpanel_port_and_through_whm(make_client: MakeClient) -> None:
    query = "cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops"
    cpanel = await make_client(Service.CPANEL)
    direct = await (await cpanel.get(f"/json-api/cpanel?{query}", headers=BOB_AUTH)).json()
    whm = await make_client(Service.WHM)
    through = await (
        await whm.post(
            "/json-api/cpanel", data=f"cpanel_jsonapi_user=bob&{query}", headers=ROOT_AUTH
        )
    ).json()
    assert direct == through
    assert direct["cpanelresult"]["data"] == [
        {"email": "info@bob.example", "login": "info@bob.example"}
    ]


async def test_api2_through_whm_requires_the_user(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    query = "cpanel_jsonapi_apiversion=2&cpanel_jsonapi_module=Email&cpanel_jsonapi_func=listpops"
    response = await whm.get(f"/json-api/cpanel?{query}", headers=ROOT_AUTH)
    body = await response.json()
    assert body["cpanelresult"]["event"]["result"] == 0
    assert body["cpanelresult"]["module"] == "Email"


async def test_uapi_cpanel_wraps_the_flat_result(make_client: MakeClient) -> None:
    whm = await make_client(Service.WHM)
    response = await whm.get(
        "/json-api/uapi_cpanel?api.version=1&cpanel.user=bob&cpanel.module=DomainInfo"
        "&cpanel.function=list_domains",
        headers=ROOT_AUTH,
    )
    body = await response.json()
    assert body["metadata"]["command"] == "uapi_cpanel" and body["metadata"]["result"] == 1
    assert body["data"]["uapi"]["status"] == 1
    assert body["data"]["uapi"]["data"]["main_domain"] == "bob.example"


# -- legacy and versions (w§15.1) ---------------------------------------------------------------


async def test_legacy_applist_without_api_version(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    body = await (await client.get("/json-api/applist", headers=ROOT_AUTH)).json()
    assert list(body) == ["app"]
    assert "listaccts" in body["app"]


async def test_createacct_reports_raw_output(make_client: MakeClient) -> None:
    client = await make_client(Service.WHM)
    response = await client.get(
        "/json-api/createacct?api.version=1&username=dave&domain=dave.example&password=dave-Pw-1234",
        headers=ROOT_AUTH,
    )
    body = await response.json()
    assert body["metadata"]["result"] == 1
    assert isinstance(body["metadata"]["output"]["raw"], str)


@pytest.mark.parametrize("version", ["2", "0", "abc", ""])
async def test_bad_api_version_is_a_clear_error(make_client: MakeClient, version: str) -> None:
    client = await make_client(Service.WHM)
    response = await client.get(f"/json-api/version?api.version={version}", headers=ROOT_AUTH)
    assert response.status == 400
    body = await response.json()
    assert body["metadata"]["result"] == 0 and "version" in body["metadata"]["reason"].lower()


# -- bad input ---------------------------------------------------------------------------------


async def test_huge_body_is_413(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.post(
        "/execute/Email/list_pops",
        data=io.BytesIO(b"a=" + b"x" * (2 * 1024 * 1024)),
        headers=BOB_AUTH,
    )
    assert response.status == 413
    assert (await response.json())["status"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/execute/Email/list_pops?email=%ff%fe",
        "/execute/Email/%2e%2e%2flist_pops",
        "/execute/Email/list%00pops",
    ],
)
async def test_malformed_parameters_or_paths_are_4xx(make_client: MakeClient, path: str) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.get(path, headers=BOB_AUTH)
    assert 400 <= response.status < 500


async def test_invalid_utf8_body_is_400(make_client: MakeClient) -> None:
    client = await make_client(Service.CPANEL)
    response = await client.post("/execute/Email/list_pops", data=b"a=\xff", headers=BOB_AUTH)
    assert response.status == 400


async def test_suspended_account_gets_the_same_denial(
    make_client: MakeClient, server_state: ServerState, logs: Path
) -> None:
    await server_state.runtime.store.set_suspended("bob", True, "test")
    client = await make_client(Service.CPANEL)
    response = await client.get("/execute/DomainInfo/list_domains", headers=BOB_AUTH)
    assert response.status == 403
    assert json.loads(await response.read()) == ACCESS_DENIED_BODY
    assert "account suspended" in (logs / "login_log").read_text()


async def test_failed_logins_write_only_brute_force_records(
    make_client: MakeClient, logs: Path
) -> None:
    """A failure changes no account, session or token: it is only counted (BF-9); a header
    that carries no credential is not even counted."""
    client = await make_client(Service.WHM)
    await client.get(VERSION, headers=ROOT_AUTH)  # settle any first-use writes
    database = logs.parent / "panelauth.db"
    kept = ("accounts", "sessions", "api_tokens", "mailboxes", "tfa_configs")

    def snapshot() -> list[list[tuple[object, ...]]]:
        connection = sqlite3.connect(database)
        try:
            return [connection.execute(f"SELECT * FROM {table}").fetchall() for table in kept]
        finally:
            connection.close()

    def counted() -> list[tuple[object, ...]]:
        connection = sqlite3.connect(database)
        try:
            return connection.execute(
                "SELECT user, method FROM hulk_failures ORDER BY id"
            ).fetchall()
        finally:
            connection.close()

    before = snapshot()
    for headers in (
        basic("root", "wrong-password"),
        basic("ghost", "x-password"),
        basic("bob", "bob-Passw0rd!"),
        {"Authorization": "Basic %%%"},
    ):
        assert (await client.get(VERSION, headers=headers)).status == 403
    assert snapshot() == before
    assert counted() == [("root", "password"), ("ghost", "password"), ("bob", "password")]


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
    ],
)
async def test_cross_site_basic_is_refused_before_anything_is_logged_as_a_success(
    make_client: MakeClient, logs: Path, headers: dict[str, str]
) -> None:
    client = await make_client(Service.WHM)
    response = await client.get(VERSION, headers={**ROOT_AUTH, **headers})
    assert response.status == 403
    body = await response.json()
    assert body["metadata"]["reason"] == "Permission denied"
    # w§6: a refusal, not a failed login; and never a success (CV-10)
    assert "LOGIN" not in (logs / "login_log").read_text()
    assert '"success"' not in (logs / "audit_log").read_text()
