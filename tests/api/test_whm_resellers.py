"""Resellers, ACLs, privileges and feature lists (root-only WHM functions)."""

from __future__ import annotations

from panelauth.api.dispatch import Dispatcher
from panelauth.backends.sqlite import SqliteStore
from panelauth.core.models import Account
from tests.api.helpers import ROOT, metadata, reseller_identity, whm


async def test_setupreseller_setacls_and_listresellers(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore
) -> None:
    assert metadata(await whm(dispatcher, ROOT, "setupreseller", user="bob"))["result"] == 1
    answer = await whm(
        dispatcher, ROOT, "setacls", reseller="bob", acl__list__accts=1, acl__passwd=1
    )
    assert metadata(answer)["result"] == 1
    account = await store.get_account("bob")
    assert account is not None and account.is_reseller
    assert account.acls == frozenset({"list-accts", "passwd"})
    listed = await whm(dispatcher, ROOT, "listresellers")
    assert listed.document["data"] == {"reseller": ["bob"]}


async def test_setacls_replaces_the_whole_set(
    dispatcher: Dispatcher, reseller: Account, store: SqliteStore
) -> None:
    await whm(dispatcher, ROOT, "setacls", reseller="res", acl__kill__acct=1)
    account = await store.get_account("res")
    assert account is not None and account.acls == frozenset({"kill-acct"})


async def test_setacls_refuses_unknown_acls_and_non_resellers(
    dispatcher: Dispatcher, reseller: Account, bob: Account, store: SqliteStore
) -> None:
    unknown = await whm(dispatcher, ROOT, "setacls", reseller="res", acl__make__coffee=1)
    not_reseller = await whm(dispatcher, ROOT, "setacls", reseller="bob", acl__passwd=1)
    assert metadata(unknown)["result"] == 0
    assert metadata(not_reseller)["result"] == 0
    account = await store.get_account("res")
    assert account is not None and "list-accts" in account.acls


async def test_reseller_functions_are_root_only(dispatcher: Dispatcher, reseller: Account) -> None:
    everything_but_all = reseller_identity(frozenset({"list-accts", "create-acct", "passwd"}))
    for name in ("setupreseller", "unsetupreseller", "setacls", "listresellers"):
        answer = await whm(dispatcher, everything_but_all, name, user="carol", reseller="carol")
        assert answer.status == 403, name


async def test_unsetupreseller_hands_its_accounts_to_root(
    dispatcher: Dispatcher, reseller: Account, store: SqliteStore
) -> None:
    answer = await whm(dispatcher, ROOT, "unsetupreseller", user="res")
    assert metadata(answer)["result"] == 1
    res, carol = await store.get_account("res"), await store.get_account("carol")
    assert res is not None and not res.is_reseller and res.acls == frozenset()
    assert carol is not None and carol.owner == "root"


async def test_myprivs_lists_every_acl_with_its_state(
    dispatcher: Dispatcher, reseller: Account
) -> None:
    identity = reseller_identity(frozenset({"list-accts"}))
    privileges = (await whm(dispatcher, identity, "myprivs")).document["data"]["privileges"]
    assert len(privileges) == 1
    assert privileges[0]["list-accts"] == 1
    assert privileges[0]["all"] == 0
    assert privileges[0]["create-acct"] == 0
    root_privileges = (await whm(dispatcher, ROOT, "myprivs")).document["data"]["privileges"][0]
    assert set(root_privileges.values()) == {1}


async def test_applist_lists_only_what_the_caller_may_call(
    dispatcher: Dispatcher, reseller: Account
) -> None:
    limited = reseller_identity(frozenset({"list-accts"}))
    mine = (await whm(dispatcher, limited, "applist")).document["data"]["app"]
    everything = (await whm(dispatcher, ROOT, "applist")).document["data"]["app"]
    assert "listaccts" in mine and "version" in mine
    assert "createacct" not in mine and "setacls" not in mine
    assert {"createacct", "setacls", "listaccts"} <= set(everything)


async def test_feature_list_lifecycle(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore
) -> None:
    created = await whm(dispatcher, ROOT, "create_featurelist", featurelist="nomail", popaccts=0)
    assert metadata(created)["result"] == 1
    duplicate = await whm(dispatcher, ROOT, "create_featurelist", featurelist="nomail")
    assert metadata(duplicate)["result"] == 0
    data = (await whm(dispatcher, ROOT, "get_featurelist_data", featurelist="nomail")).document
    popaccts = next(f for f in data["data"]["features"] if f["id"] == "popaccts")
    assert popaccts["value"] == 0 and popaccts["is_disabled"] == 1
    updated = await whm(
        dispatcher, ROOT, "update_featurelist", featurelist="nomail", popaccts=1, bogus=1
    )
    assert updated.document["data"]["updated_features"] == {"popaccts": 1}
    assert updated.document["data"]["invalid_features"] == ["bogus"]
    lists = await whm(dispatcher, ROOT, "get_featurelists")
    assert lists.document["data"]["featurelists"] == ["default", "nomail"]
    deleted = await whm(dispatcher, ROOT, "delete_featurelist", featurelist="nomail")
    assert metadata(deleted)["result"] == 1
    assert await store.get_feature_list("nomail") is None
    default = await whm(dispatcher, ROOT, "delete_featurelist", featurelist="default")
    assert metadata(default)["result"] == 0
