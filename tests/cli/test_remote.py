"""`panelauth whmapi1 --url` and `uapi --url`: the remote mode, through the client, against the
real Gateway on TLS (tests/client/conftest.py), with the secret from the environment only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from panelauth.cli import remote
from panelauth.cli.main import cli
from panelauth.clock import FrozenClock
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.client.conftest import Serve
from tests.client.test_clients_http import SECRET, enrol_bob
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.server.test_tokens_http import access_hash, cpanel_token, whm_token

SECRETS = (
    "PANELAUTH_URL",
    "PANELAUTH_USER",
    "PANELAUTH_TOKEN",
    "PANELAUTH_ACCESSHASH",
    "PANELAUTH_PASSWORD",
    "PANELAUTH_TOTP_SECRET",
)


async def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """Run the command in a thread (the server runs on this loop); (exit code, stdout, stderr)."""
    environment: dict[str, str | None] = dict.fromkeys(SECRETS)
    environment.update(env)
    nowhere = str(tmp_path / "no-store")  # the remote mode needs no data directory
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["--data-dir", nowhere, *args], env=environment
    )
    return result.exit_code, result.stdout, result.stderr


async def test_whm_token_listaccts_as_json(
    tmp_path: Path,
    serve: Serve,
    server_state: ServerState,
) -> None:
    url = await serve()
    token = await whm_token(server_state)
    code, out, err = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--insecure",
        "--output=json",
        "listaccts",
        PANELAUTH_USER="root",
        PANELAUTH_TOKEN=token,
    )
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["metadata"]["result"] == 1
    assert document["metadata"]["command"] == "listaccts"
    assert "bob" in [account["user"] for account in document["data"]["acct"]]


async def test_url_from_the_environment_and_user_defaults_to_root(
    tmp_path: Path,
    serve: Serve,
    server_state: ServerState,
) -> None:
    url = await serve()
    token = await whm_token(server_state)
    code, out, _ = await run(
        tmp_path,
        "whmapi1",
        "--insecure",
        "--output=json",
        "version",
        PANELAUTH_URL=url,
        PANELAUTH_TOKEN=token,
    )
    assert code == 0 and json.loads(out)["data"]["version"]


async def test_access_hash(
    tmp_path: Path,
    serve: Serve,
    server_state: ServerState,
) -> None:
    url = await serve()
    text = await access_hash(server_state)
    code, out, _ = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--insecure",
        "--output=json",
        "version",
        PANELAUTH_ACCESSHASH=text + "\n",
    )
    assert code == 0 and json.loads(out)["metadata"]["result"] == 1


async def test_password(tmp_path: Path, serve: Serve) -> None:
    url = await serve()
    code, out, _ = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--insecure",
        "--output=json",
        "version",
        PANELAUTH_PASSWORD=ROOT_PASSWORD,
    )
    assert code == 0 and json.loads(out)["data"]["version"]


async def test_password_and_totp(
    tmp_path: Path,
    serve: Serve,
    server_state: ServerState,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await enrol_bob(server_state, clock)
    monkeypatch.setattr(remote, "otp_clock", clock.now)  # the server's clock is frozen
    url = await serve(Service.CPANEL)
    args = ("uapi", "--url", url, "--insecure", "--user", "bob", "--output=json")
    code, out, _ = await run(
        tmp_path,
        *args,
        "DomainInfo",
        "list_domains",
        PANELAUTH_PASSWORD=BOB_PASSWORD,
        PANELAUTH_TOTP_SECRET=SECRET,
    )
    assert code == 0 and json.loads(out)["result"]["data"]["main_domain"] == "bob.example"
    code, out, err = await run(
        tmp_path, *args, "DomainInfo", "list_domains", PANELAUTH_PASSWORD=BOB_PASSWORD
    )
    assert (code, out) == (1, "")
    assert err == "Error: TwoFactorAuth check failed\n"


async def test_uapi_with_a_cpanel_token_prints_the_wrapped_document(
    tmp_path: Path,
    serve: Serve,
    server_state: ServerState,
) -> None:
    url = await serve(Service.CPANEL)
    token = await cpanel_token(server_state)
    code, out, _ = await run(
        tmp_path,
        "uapi",
        "--url",
        url,
        "--insecure",
        "--output=json",
        "DomainInfo",
        "list_domains",
        PANELAUTH_USER="bob",
        PANELAUTH_TOKEN=token,
    )
    assert code == 0
    document = json.loads(out)
    assert (document["apiversion"], document["module"], document["func"]) == (
        3,
        "DomainInfo",
        "list_domains",
    )
    assert document["result"]["status"] == 1
    assert document["result"]["data"]["main_domain"] == "bob.example"


async def test_a_failed_function_prints_its_document_and_exits_1(
    tmp_path: Path,
    serve: Serve,
    server_state: ServerState,
) -> None:
    url = await serve()
    token = await whm_token(server_state)
    code, out, _ = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--insecure",
        "--output=json",
        "api_token_revoke",
        "token_name=no-such-token",
        PANELAUTH_TOKEN=token,
    )
    assert code == 1
    assert json.loads(out)["metadata"]["result"] == 0


async def test_missing_secret(tmp_path: Path, serve: Serve) -> None:
    url = await serve()
    code, out, err = await run(tmp_path, "whmapi1", "--url", url, "--insecure", "version")
    assert (code, out) == (1, "")
    assert err.startswith("Error: No secret: set PANELAUTH_TOKEN") and err.count("\n") == 1


async def test_uapi_needs_a_user(tmp_path: Path, serve: Serve) -> None:
    url = await serve(Service.CPANEL)
    code, _, err = await run(
        tmp_path,
        "uapi",
        "--url",
        url,
        "--insecure",
        "DomainInfo",
        "list_domains",
        PANELAUTH_TOKEN="x",
    )
    assert code == 1 and err.startswith("Error: Give the account")


async def test_wrong_token(tmp_path: Path, serve: Serve) -> None:
    url = await serve()
    code, out, err = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--insecure",
        "version",
        PANELAUTH_TOKEN="U7HMR63FGY292DQZ4H5BFH16JLYMO01M",
    )
    assert (code, out, err) == (1, "", "Error: Access denied\n")


async def test_ca_file_from_cert_path(tmp_path: Path, serve: Serve) -> None:
    url = await serve()
    shown = await asyncio.to_thread(
        CliRunner().invoke, cli, ["--data-dir", str(tmp_path / "data"), "cert", "--path"]
    )
    assert shown.exit_code == 0
    path = shown.stdout
    code, out, err = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--ca-file",
        path.strip(),
        "--output=json",
        "version",
        PANELAUTH_PASSWORD=ROOT_PASSWORD,
    )
    assert (code, err) == (0, "")
    assert json.loads(out)["data"]["version"]


async def test_tls_is_verified_by_default(tmp_path: Path, serve: Serve) -> None:
    url = await serve()
    code, out, err = await run(
        tmp_path, "whmapi1", "--url", url, "version", PANELAUTH_PASSWORD=ROOT_PASSWORD
    )
    assert (code, out) == (1, "")
    assert err.startswith("Error: ConnectError") and "CERTIFICATE_VERIFY_FAILED" in err
    assert err.count("\n") == 1


async def test_ca_file_and_insecure_contradict(
    tmp_path: Path,
    serve: Serve,
    cert: Path,
) -> None:
    url = await serve()
    code, _, err = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--ca-file",
        str(cert),
        "--insecure",
        "version",
        PANELAUTH_PASSWORD=ROOT_PASSWORD,
    )
    assert (code, err) == (1, "Error: --ca-file and --insecure contradict each other.\n")


@pytest.mark.parametrize("output", ["default", "yaml", "json", "jsonpretty"])
async def test_each_output_format(
    tmp_path: Path,
    serve: Serve,
    output: str,
) -> None:
    url = await serve()
    chosen = () if output == "default" else (f"--output={output}",)
    code, out, _ = await run(
        tmp_path,
        "whmapi1",
        "--url",
        url,
        "--insecure",
        *chosen,
        "version",
        PANELAUTH_PASSWORD=ROOT_PASSWORD,
    )
    assert code == 0
    if output in ("default", "yaml"):
        assert out.startswith("---\n")
        document = yaml.safe_load(out)
    else:
        assert ("\n  " in out) == (output == "jsonpretty")
        assert out.count("\n") == 1 or output == "jsonpretty"
        document = json.loads(out)
    assert isinstance(document, dict) and document["metadata"]["command"] == "version"


async def test_remote_options_need_url(tmp_path: Path) -> None:
    code, _, err = await run(tmp_path, "whmapi1", "--insecure", "version")
    assert code == 2 and "need --url" in err
    code, _, err = await run(tmp_path, "uapi", "DomainInfo", "list_domains")
    assert code == 2 and "--user" in err
