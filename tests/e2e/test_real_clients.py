"""Third-party clients, installed from their registries at test time, used unchanged.

cpanel-api 0.3.0, pycpanel 0.1.5 and whambampy 0.0.7 (PyPI) and cpanel-lib 0.0.5 (npm), as
docs/clients.md describes. A failed install fails the run: nothing is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, start_server

pytestmark = pytest.mark.e2e
BOB_PASSWORD = "bob-Client-Pw1"


def _run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, f"{args[:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Throw-away environments with the pinned clients."""
    root = tmp_path_factory.mktemp("clients")
    _run([sys.executable, "-m", "venv", str(root / "v-cpapi")])
    _run([str(root / "v-cpapi/bin/pip"), "install", "-q", "cpanel-api==0.3.0"])
    _run([sys.executable, "-m", "venv", str(root / "v-pyc")])
    _run([str(root / "v-pyc/bin/pip"), "install", "-q", "pycpanel==0.1.5"])
    _run([sys.executable, "-m", "venv", str(root / "v-wb")])
    _run([str(root / "v-wb/bin/pip"), "install", "-q", "whambampy==0.0.7"])
    (root / "n").mkdir()
    _run(["npm", "init", "-y"], cwd=root / "n")
    _run(["npm", "install", "--no-audit", "--no-fund", "cpanel-lib@0.0.5"], cwd=root / "n")
    return root


@pytest.fixture(scope="module")
def fixtures(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    """A server with bob, a root WHM token, bob's cPanel token and root's access hash."""
    server = start_server(tmp_path_factory.mktemp("srv") / "data")
    try:
        with server.client() as client:

            def whm(function: str, **params: str) -> dict[str, object]:
                response = client.get(
                    server.url(2087, f"/json-api/{function}"),
                    params={"api.version": "1", **params},
                    auth=("root", ROOT_PASSWORD),
                )
                body: dict[str, object] = response.json()
                return body

            whm("createacct", username="bob", domain="bob.example", password=BOB_PASSWORD)
            root_token = whm("api_token_create", token_name="ci")["data"]["token"]  # type: ignore[index]
            access_hash = whm("accesshash", generate="1")["data"]["accesshash"]  # type: ignore[index]
            bob_token = client.post(
                server.url(2083, "/execute/Tokens/create_full_access"),
                data={"name": "ci"},
                auth=("bob", BOB_PASSWORD),
            ).json()["data"]["token"]
        values = {
            "OFFSET": str(server.offset),
            "CERT": server.cert,
            "ROOT_TOK": str(root_token),
            "BOB_TOK": bob_token,
            "HASH": str(access_hash),
            "BOB_PW": BOB_PASSWORD,
        }
        assert all(values.values())
        yield server, values
    finally:
        server.stop()


CPANEL_API = """
import json, os
from cpanel_api import CPanelApi as C
o, cert = int(os.environ["OFFSET"]), os.environ["CERT"]
out = {}
out["utoken_uapi"] = C("127.0.0.1", "bob", os.environ["BOB_TOK"], 2083 + o, auth_type="utoken",
                       verify=cert).uapi.DomainInfo.list_domains()
out["utoken_api2"] = C("127.0.0.1", "bob", os.environ["BOB_TOK"], 2083 + o, auth_type="utoken",
                       verify=cert).cpanel2.Email.listpops()
out["password_uapi"] = C("127.0.0.1", "bob", os.environ["BOB_PW"], 2083 + o,
                         verify=cert).uapi.Email.list_pops()
out["token_through_whm"] = C("127.0.0.1", "root", os.environ["ROOT_TOK"], 2087 + o,
                             auth_type="token", verify=cert).cpanel2.Email.listpops(
                                 cpanel_jsonapi_user="bob")
out["hash_through_whm"] = C("127.0.0.1", "root", os.environ["HASH"], 2087 + o, auth_type="hash",
                            verify=cert).cpanel2.Email.listpops(cpanel_jsonapi_user="bob")
out["hash_on_cpanel"] = C("127.0.0.1", "root", os.environ["HASH"], 2083 + o, auth_type="hash",
                          verify=cert).uapi.DomainInfo.list_domains()
out["token_on_cpanel"] = C("127.0.0.1", "root", os.environ["ROOT_TOK"], 2083 + o,
                           auth_type="token", verify=cert).uapi.DomainInfo.list_domains()
out["password_plain"] = C("127.0.0.1", "bob", os.environ["BOB_PW"], 2082 + o,
                          ssl=False).uapi.DomainInfo.list_domains()
print(json.dumps(out))
"""


def test_cpanel_api_modes(tools: Path, fixtures: tuple[RunningServer, dict[str, str]]) -> None:
    _, env = fixtures
    out = json.loads(_run([str(tools / "v-cpapi/bin/python"), "-c", CPANEL_API], env=env))
    assert out["utoken_uapi"]["status"] == 1
    assert out["utoken_uapi"]["data"]["main_domain"] == "bob.example"
    assert out["utoken_api2"]["cpanelresult"]["event"]["result"] == 1
    assert out["password_uapi"]["status"] == 1
    for key in ("token_through_whm", "hash_through_whm"):
        assert out[key]["cpanelresult"]["event"]["result"] == 1, key
    for key in ("hash_on_cpanel", "token_on_cpanel"):
        assert out[key]["cpanelresult"]["error"] == "Access denied", key
    assert out["password_plain"]["status"] == 0
    assert out["password_plain"]["errors"][0].startswith("SSL is required")


PYCPANEL = """
import json, os, sys, pycpanel
o, cert = int(os.environ["OFFSET"]), os.environ["CERT"]
def conn(user, secret):
    c = pycpanel.conn("127.0.0.1", username=user, hash=secret, check_conn=False, verify=cert)
    c.hostname = f"https://127.0.0.1:{2087 + o}/"
    return c
good = conn("root", os.environ["HASH"])
out = {"probe": good.json_list(), "version": good.api("version", {"api.version": 1}),
       "listpops": good.cpanel_api("Email", "listpops", "bob")}
for name, user, secret in (("wrong", "root", "0" * 960), ("nonroot", "bob", os.environ["HASH"])):
    try:
        conn(user, secret).json_list()
        out[name] = "accepted"
    except Exception as error:
        out[name] = str(error)
print(json.dumps(out))
"""


def test_pycpanel_access_hash(tools: Path, fixtures: tuple[RunningServer, dict[str, str]]) -> None:
    _, env = fixtures
    out = json.loads(_run([str(tools / "v-pyc/bin/python"), "-c", PYCPANEL], env=env))
    assert "listaccts" in out["probe"]  # json_list() returns the legacy `app` list
    assert out["version"]["metadata"]["result"] == 1
    assert out["listpops"] == []
    assert out["wrong"].startswith("Access denied")
    assert out["nonroot"].startswith("Access denied")


WHAMBAMPY = """
import json, os, requests
from whambampy import whm
o, cert = int(os.environ["OFFSET"]), os.environ["CERT"]
w = whm(host="127.0.0.1", username="root", api_token=os.environ["ROOT_TOK"], whm_port=2087 + o,
        verify_ssl=cert)
out = {"listaccts": w.call("listaccts", search="bob")}
sso = w.call("create_user_session", user="bob", service="cpaneld")
out["sso"] = sso
used = requests.get(sso["data"]["url"], verify=cert, allow_redirects=False)
out["used"] = [used.status_code, used.headers.get("Location", "")]
again = requests.get(sso["data"]["url"], verify=cert, allow_redirects=False)
out["again"] = again.status_code
try:
    whm(host="127.0.0.1", username="root", api_token="X" * 32, whm_port=2087 + o, verify_ssl=cert)
    out["wrong"] = "accepted"
except PermissionError as error:
    out["wrong"] = "PermissionError"
print(json.dumps(out))
"""


def test_whambampy_token_sso_and_cpsess_prefix(
    tools: Path, fixtures: tuple[RunningServer, dict[str, str]]
) -> None:
    server, env = fixtures
    out = json.loads(_run([str(tools / "v-wb/bin/python"), "-c", WHAMBAMPY], env=env))
    assert out["listaccts"]["metadata"]["result"] == 1
    assert [a["user"] for a in out["listaccts"]["data"]["acct"]] == ["bob"]
    data = out["sso"]["data"]
    assert data["url"].startswith(f"https://127.0.0.1:{2083 + server.offset}/cpsess")
    assert out["used"][0] == 302
    assert out["used"][1] == data["cp_security_token"] + "/frontend/jupiter/index.html"
    assert out["again"] == 401
    assert out["wrong"] == "PermissionError"


CPANEL_LIB = """
const l = require('cpanel-lib');
const o = parseInt(process.env.OFFSET, 10);
const results = {};
const done = () => { if (Object.keys(results).length === 3) console.log(JSON.stringify(results)); };
l.createClient({host: '127.0.0.1', port: 2087 + o, secure: true, username: 'root',
                accessKey: process.env.HASH})
 .call('version', {'api.version': 1}, (e, r) => { results.whm = r; done(); });
l.createClient({host: '127.0.0.1', port: 2083 + o, secure: true, username: 'bob',
                password: process.env.BOB_PW})
 .callUapi('Email', 'list_pops', {}, (e, r) => { results.uapi = r; done(); });
l.createClient({host: '127.0.0.1', port: 2086 + o, secure: false, username: 'root',
                password: 'whatever'})
 .call('version', {'api.version': 1}, (e, r) => { results.plain = r; done(); });
"""


def test_cpanel_lib_access_hash_and_basic(
    tools: Path, fixtures: tuple[RunningServer, dict[str, str]]
) -> None:
    _, env = fixtures
    output = _run(
        ["node", "-e", CPANEL_LIB],
        env={**env, "NODE_EXTRA_CA_CERTS": env["CERT"]},
        cwd=tools / "n",
    )
    out = json.loads(output.strip().splitlines()[-1])
    assert out["whm"]["metadata"]["result"] == 1
    assert out["uapi"]["status"] == 1
    assert out["plain"]["metadata"]["reason"].startswith("SSL is required")
