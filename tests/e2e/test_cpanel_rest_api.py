"""cpanel-rest-api 0.1.1 (npm), installed at test time and used unchanged: `whm.uapi(user)`
calls UAPI through `/json-api/cpanel?cpanel_jsonapi_apiversion=3` with root's access hash.

The client reads the answer's `result` (the UAPI result), throws its `errors` joined, and
otherwise returns `result.data`; a top-level `data` would be taken for a WHM answer instead
(w§15.3). A failed install fails the run: nothing is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, start_server_with_account
from tests.e2e.test_real_clients import _run

pytestmark = pytest.mark.e2e
BOB_PASSWORD = "bob-Client-Pw1"

WHM_UAPI = """
const { WHM } = require('cpanel-rest-api');
const whm = new WHM({host: '127.0.0.1', port: 2087 + parseInt(process.env.OFFSET, 10),
                     secure: true, username: 'root', accessKey: process.env.HASH});
const outcome = (call) => call.then(
  (data) => ({data}),
  (error) => ({error: error.message, body: error.response ? error.response.data : null}));
(async () => {
  const out = {};
  out.domains = await outcome(whm.uapi('bob').api({module: 'DomainInfo', func: 'list_domains'}));
  out.pops = await outcome(whm.uapi('bob').api({module: 'Email', func: 'list_pops'}));
  out.failed = await outcome(whm.uapi('bob').api(
    {module: 'Email', func: 'passwd_pop', params: {email: 'info@bob.example'}}));
  out.unknown_user = await outcome(
    whm.uapi('nobody').api({module: 'DomainInfo', func: 'list_domains'}));
  out.unknown_function = await outcome(whm.uapi('bob').api({module: 'DomainInfo', func: 'nosuch'}));
  console.log(JSON.stringify(out));
})();
"""


@pytest.fixture(scope="module")
def client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cpanel-rest-api")
    _run(["npm", "init", "-y"], cwd=root)
    _run(["npm", "install", "--no-audit", "--no-fund", "cpanel-rest-api@0.1.1"], cwd=root)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    """A server with root's `bob` (and its mailbox info@bob.example), and root's access hash."""
    running = start_server_with_account(
        tmp_path_factory.mktemp("srv") / "data", "bob", BOB_PASSWORD
    )
    try:
        with running.client() as http:
            added = http.post(
                running.url(2083, "/execute/Email/add_pop"),
                data={"email": "info", "domain": "bob.example", "password": "info-Pw-12345"},
                auth=("bob", BOB_PASSWORD),
            )
            assert added.json()["status"] == 1, added.text
            access_hash = http.get(
                running.url(2087, "/json-api/accesshash"),
                params={"api.version": "1", "generate": "1"},
                auth=("root", ROOT_PASSWORD),
            ).json()["data"]["accesshash"]
        yield running, str(access_hash)
    finally:
        running.stop()


def test_whm_uapi_reads_the_wrapped_uapi_result(
    client_dir: Path, server: tuple[RunningServer, str]
) -> None:
    running, access_hash = server
    env = {"OFFSET": str(running.offset), "HASH": access_hash, "NODE_EXTRA_CA_CERTS": running.cert}
    output = _run(["node", "-e", WHM_UAPI], env=env, cwd=client_dir)
    out = json.loads(output.strip().splitlines()[-1])
    assert out["domains"] == {
        "data": {
            "main_domain": "bob.example",
            "addon_domains": [],
            "parked_domains": [],
            "sub_domains": [],
        }
    }
    assert [pop["email"] for pop in out["pops"]["data"]] == ["info@bob.example"]
    # a functional failure (HTTP 200, status 0): the client throws the UAPI error text
    assert out["failed"] == {"error": "The “password” parameter is required.", "body": None}
    # refusals keep their HTTP status (w§1.3): the client's HTTP library throws, and the body
    # it kept is the same envelope
    for key, status, text in (
        ("unknown_user", 403, "Permission denied"),
        ("unknown_function", 404, "Function not found"),
    ):
        assert out[key]["error"] == f"Request failed with status code {status}", out[key]
        assert out[key]["body"]["apiversion"] == 3
        assert out[key]["body"]["result"]["errors"] == [text]
