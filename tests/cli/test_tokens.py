"""`panelauth token ...` and `panelauth accesshash convert` (table output, same functions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import SystemClock
from panelauth.core.tokens import TokenKind, digest
from tests.cli.test_main import run
from tests.e2e.conftest import CHEAP_CONFIG


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "panelauth.yaml").write_text(CHEAP_CONFIG)
    run(directory, "init")
    run(
        directory,
        "whmapi1",
        "createacct",
        "username=bob",
        "domain=bob.example",
        "password=bob-Pw-1234",
    )
    return directory


def test_create_list_and_revoke_whm_tokens(data_dir: Path) -> None:
    code, output = run(
        data_dir, "token", "create", "--acl", "list-accts", "--whitelist-ip", "192.0.2.0/24", "ci"
    )
    assert code == 0, output
    token = output.strip().splitlines()[-1]
    assert len(token) == 32 and token.isalnum()
    code, listing = run(data_dir, "token", "list")
    header, row = listing.strip().splitlines()
    assert header.split() == ["NAME", "CREATED", "EXPIRES", "RIGHTS", "IPS"]
    assert row.startswith("ci ") and "list-accts" in row and "192.0.2.0/24" in row
    assert "never" in row
    assert token not in listing
    code, output = run(data_dir, "token", "revoke", "ci")
    assert code == 0 and "Revoked" in output
    code, listing = run(data_dir, "token", "list")
    assert listing.strip().splitlines()[1:] == []
    code, output = run(data_dir, "token", "revoke", "ci")
    assert code == 1


def test_cpanel_tokens_for_a_cpanel_user(data_dir: Path) -> None:
    code, output = run(data_dir, "token", "create", "--user", "bob", "--kind", "cpanel", "deploy")
    assert code == 0, output
    code, listing = run(data_dir, "token", "list", "--user", "bob", "--kind", "cpanel")
    assert "deploy" in listing and "full access" in listing
    code, output = run(data_dir, "token", "create", "--user", "bob", "deploy2")
    assert code == 1 and "not root or a reseller" in output


def test_bad_token_input_is_a_clear_error(data_dir: Path) -> None:
    code, output = run(data_dir, "token", "create", "bad name")
    assert code == 1 and "token name" in output
    code, output = run(data_dir, "token", "list", "--user", "ghost")
    assert code == 1 and "does not exist" in output


def test_accesshash_convert_makes_the_hash_a_token(data_dir: Path) -> None:
    code, output = run(data_dir, "accesshash", "convert")
    assert code == 1 and "no access hash" in output
    code, output = run(data_dir, "whmapi1", "--output=json", "accesshash", "generate=1")
    text = yaml.safe_load(output)["data"]["accesshash"]
    code, output = run(data_dir, "accesshash", "convert")
    assert code == 0, output
    assert "accesshash-" in output

    async def find() -> object:
        store = SqliteStore(data_dir / "panelauth.db", clock=SystemClock())
        try:
            return await store.find_token("root", TokenKind.WHM, digest(text))
        finally:
            await store.aclose()

    assert asyncio.run(find()) is not None
    code, output = run(data_dir, "accesshash", "convert")
    assert code == 1 and "already" in output
    code, output = run(data_dir, "accesshash", "convert", "bob")
    assert code == 1
