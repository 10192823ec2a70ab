"""WHM `api_token_*`, `accesshash` and UAPI `Tokens::*` through the dispatcher (w§11, w§12)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from panelauth.api.dispatch import Dispatcher
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.audit import MemoryAccountingLog
from panelauth.core.models import Account, CredentialKind, Identity, IdentityKind
from panelauth.core.tokens import TokenKind
from tests.api.helpers import BOB, ROOT, metadata, reseller_identity, uapi, whm

RESELLER = reseller_identity(frozenset({"list-accts", "create-acct", "manage-api-tokens"}))


async def test_create_shows_the_token_once_and_stores_only_its_digest(
    dispatcher: Dispatcher, root: Account, store: SqliteStore, accounting: MemoryAccountingLog
) -> None:
    answer = await whm(dispatcher, ROOT, "api_token_create", token_name="ci")
    data = answer.document["data"]
    assert metadata(answer)["result"] == 1
    assert len(data["token"]) == 32 and data["token"].isalnum() and data["token"].isupper()
    assert set(data) == {"token", "name", "create_time"}
    stored = await store.get_token("root", TokenKind.WHM, "ci")
    assert stored is not None
    assert stored.digest == hashlib.sha512(data["token"].encode()).hexdigest()
    listed = await whm(dispatcher, ROOT, "api_token_list")
    assert data["token"] not in str(listed.document)
    assert accounting.events == [("API_TOKEN_CREATE", "root", "root", "whm", "ci")]


async def test_create_with_acls_expiry_and_ip_list(
    dispatcher: Dispatcher, root: Account, clock: FrozenClock
) -> None:
    expires = int(clock.now()) + 3600
    answer = await whm(
        dispatcher,
        ROOT,
        "api_token_create",
        token_name="dns",
        acl__0="list-accts",
        acl__1="create-user-session",
        expires_at=expires,
        whitelist_ip__0="192.0.2.0/24",
        whitelist_ip__1="::ffff:198.51.100.7",
    )
    data = answer.document["data"]
    assert data["acls"] == ["list-accts", "create-user-session"]
    assert data["expires_at"] == expires
    assert data["whitelist_ips"] == ["192.0.2.0/24", "198.51.100.7"]
    entry = (await whm(dispatcher, ROOT, "api_token_list")).document["data"]["tokens"]["dns"]
    assert entry["acls"]["list-accts"] == 1 and entry["acls"]["create-acct"] == 0
    assert entry["expires_at"] == expires


@pytest.mark.parametrize(
    "args",
    [
        {"token_name": "bad name"},
        {"token_name": "x" * 51},
        {"token_name": "new\nline"},
        {"token_name": ""},
        {"token_name": "ok", "expires_at": "1"},
        {"token_name": "ok", "expires_at": "tomorrow"},
        {"token_name": "ok", "whitelist_ip": "not-an-ip"},
        {"token_name": "ok", "whitelist_ip": "300.1.1.1"},
        {"token_name": "ok", "acl": "make-coffee"},
    ],
)
async def test_create_refuses_bad_input_and_stores_nothing(
    dispatcher: Dispatcher, root: Account, store: SqliteStore, args: dict[str, str]
) -> None:
    answer = await whm(dispatcher, ROOT, "api_token_create", **args)
    assert answer.status == 200 and metadata(answer)["result"] == 0
    assert await store.list_tokens("root", TokenKind.WHM) == []


async def test_duplicate_name_is_refused(dispatcher: Dispatcher, root: Account) -> None:
    await whm(dispatcher, ROOT, "api_token_create", token_name="ci")
    again = await whm(dispatcher, ROOT, "api_token_create", token_name="ci")
    assert metadata(again)["result"] == 0


async def test_a_reseller_cannot_grant_acls_it_lacks(
    dispatcher: Dispatcher, reseller: Account, store: SqliteStore
) -> None:
    await store.set_reseller("res", True, RESELLER.acls)
    for acl in ("passwd", "all", "kill-acct"):
        answer = await whm(dispatcher, RESELLER, "api_token_create", token_name="t", acl=acl)
        assert metadata(answer)["result"] == 0, acl
        assert "unauthorized ACL" in metadata(answer)["reason"]
    ok = await whm(dispatcher, RESELLER, "api_token_create", token_name="t", acl="list-accts")
    assert metadata(ok)["result"] == 1


async def test_a_token_cannot_mint_a_broader_token(dispatcher: Dispatcher, root: Account) -> None:
    narrow = Identity(
        "root",
        IdentityKind.ROOT,
        CredentialKind.API_TOKEN,
        None,
        frozenset({"manage-api-tokens", "list-accts"}),
    )
    broader = await whm(dispatcher, narrow, "api_token_create", token_name="x", acl="create-acct")
    assert metadata(broader)["result"] == 0
    no_all = await whm(dispatcher, narrow, "api_token_create", token_name="x", acl="all")
    assert metadata(no_all)["result"] == 0


async def test_a_restricted_token_naming_no_acl_mints_only_its_own_set(
    dispatcher: Dispatcher, root: Account
) -> None:
    narrow = Identity(
        "root",
        IdentityKind.ROOT,
        CredentialKind.API_TOKEN,
        None,
        frozenset({"manage-api-tokens", "list-accts"}),
        restricted_token=True,
    )
    created = await whm(dispatcher, narrow, "api_token_create", token_name="child")
    assert created.document["data"]["acls"] == ["list-accts", "manage-api-tokens"]
    entry = (await whm(dispatcher, ROOT, "api_token_list")).document["data"]["tokens"]["child"]
    granted = {acl for acl, held in entry["acls"].items() if held}
    assert granted == {"list-accts", "manage-api-tokens"}


async def test_reseller_needs_manage_api_tokens(dispatcher: Dispatcher, reseller: Account) -> None:
    without = reseller_identity(frozenset({"list-accts"}))
    answer = await whm(dispatcher, without, "api_token_list")
    assert answer.status == 403


async def test_update_renames_narrows_and_clears(
    dispatcher: Dispatcher, root: Account, store: SqliteStore
) -> None:
    await whm(dispatcher, ROOT, "api_token_create", token_name="ci", whitelist_ip="192.0.2.1")
    answer = await whm(
        dispatcher,
        ROOT,
        "api_token_update",
        token_name="ci",
        new_name="deploy",
        acl__0="list-accts",
    )
    assert answer.document["data"]["name"] == "deploy"
    assert answer.document["data"]["acls"]["list-accts"] == 1
    assert answer.document["data"]["acls"]["create-acct"] == 0
    cleared = await whm(
        dispatcher, ROOT, "api_token_update", token_name="deploy", whitelist_ip="any"
    )
    assert cleared.document["data"]["whitelist_ips"] is None
    nothing = await whm(dispatcher, ROOT, "api_token_update", token_name="deploy")
    assert metadata(nothing)["result"] == 0
    assert await store.get_token("root", TokenKind.WHM, "ci") is None


async def test_revoke_is_all_or_nothing(
    dispatcher: Dispatcher, root: Account, store: SqliteStore
) -> None:
    for name in ("a", "b"):
        await whm(dispatcher, ROOT, "api_token_create", token_name=name)
    partial = await whm(dispatcher, ROOT, "api_token_revoke", token_name__0="a", token_name__1="zz")
    assert metadata(partial)["result"] == 0
    assert len(await store.list_tokens("root", TokenKind.WHM)) == 2
    both = await whm(dispatcher, ROOT, "api_token_revoke", token_name__0="a", token_name__1="b")
    assert metadata(both)["result"] == 1 and "data" not in both.document
    assert await store.list_tokens("root", TokenKind.WHM) == []


async def test_get_details_recognises_only_the_callers_token(
    dispatcher: Dispatcher, root: Account, reseller: Account, store: SqliteStore
) -> None:
    plain = (await whm(dispatcher, ROOT, "api_token_create", token_name="ci")).document["data"]
    found = await whm(dispatcher, ROOT, "api_token_get_details", token=plain["token"])
    assert found.document["data"]["name"] == "ci"
    await store.set_reseller("res", True, RESELLER.acls)
    foreign = await whm(dispatcher, RESELLER, "api_token_get_details", token=plain["token"])
    assert metadata(foreign)["result"] == 0


async def test_removing_an_account_revokes_its_tokens(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore
) -> None:
    await uapi(dispatcher, BOB, "Tokens", "create_full_access", name="ci")
    assert len(await store.list_tokens("bob", TokenKind.CPANEL)) == 1
    await whm(dispatcher, ROOT, "removeacct", user="bob")
    assert await store.list_tokens("bob", TokenKind.CPANEL) == []


async def test_cpanel_tokens_lifecycle(
    dispatcher: Dispatcher, bob: Account, clock: FrozenClock
) -> None:
    created = await uapi(
        dispatcher,
        BOB,
        "Tokens",
        "create_full_access",
        name="ci",
        expires_at=int(clock.now()) + 60,
    )
    assert created.document["status"] == 1
    assert set(created.document["data"]) == {"token", "create_time", "expires_at"}
    listed = (await uapi(dispatcher, BOB, "Tokens", "list")).document["data"]
    assert listed == [
        {
            "name": "ci",
            "create_time": int(clock.now()),
            "expires_at": int(clock.now()) + 60,
            "has_full_access": 1,
        }
    ]
    renamed = await uapi(dispatcher, BOB, "Tokens", "rename", name="ci", new_name="deploy")
    assert renamed.document["data"] == 1
    same = await uapi(dispatcher, BOB, "Tokens", "rename", name="deploy", new_name="deploy")
    assert same.document["status"] == 0
    assert (await uapi(dispatcher, BOB, "Tokens", "revoke", name="deploy")).document["data"] == 1
    assert (await uapi(dispatcher, BOB, "Tokens", "revoke", name="deploy")).document["data"] == 0


async def test_cpanel_tokens_need_the_apitokens_feature(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore
) -> None:
    await store.save_feature_list("default", {"apitokens": False})
    answer = await uapi(dispatcher, BOB, "Tokens", "create_full_access", name="ci")
    assert answer.status == 403


async def test_accesshash_generate_writes_a_0600_file_and_stores_a_digest(
    dispatcher: Dispatcher, root: Account, store: SqliteStore, tmp_path: Path
) -> None:
    missing = await whm(dispatcher, ROOT, "accesshash")
    assert metadata(missing)["result"] == 0
    answer = await whm(dispatcher, ROOT, "accesshash", generate=1)
    text = answer.document["data"]["accesshash"]
    assert len(text) == 960 and set(text) <= set("0123456789abcdef")
    path = tmp_path / "home" / "root" / ".accesshash"
    lines = path.read_text().split("\n")
    assert len(lines) == 31 and lines[-1] == "" and all(len(line) == 32 for line in lines[:30])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await store.get_access_hash_digest("root") == hashlib.sha512(text.encode()).hexdigest()
    again = await whm(dispatcher, ROOT, "accesshash")
    assert again.document["data"]["accesshash"] == text
    regenerated = await whm(dispatcher, ROOT, "accesshash", generate=1)
    assert regenerated.document["data"]["accesshash"] != text


async def test_accesshash_only_for_root(
    dispatcher: Dispatcher, root: Account, reseller: Account
) -> None:
    other = await whm(dispatcher, ROOT, "accesshash", user="res", generate=1)
    assert metadata(other)["result"] == 0
    everything_but_all = reseller_identity(frozenset({"manage-api-tokens"}))
    assert (await whm(dispatcher, everything_but_all, "accesshash")).status == 403


async def test_get_remote_access_hash_is_not_offered(dispatcher: Dispatcher) -> None:
    assert (await whm(dispatcher, ROOT, "get_remote_access_hash")).status == 404
