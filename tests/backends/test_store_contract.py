"""The store contract (core/stores.py): accounts, mailboxes, feature lists.

Written against the Store protocol only, so the same tests can run on every backend.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from panelauth.clock import FrozenClock
from panelauth.core.models import Account, Mailbox
from panelauth.core.stores import Store
from panelauth.errors import AlreadyExists, PanelauthError

HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"


def account(user: str, **fields: Any) -> Account:
    base = Account(
        user=user, domain=f"{user}.example", owner="root", password_hash=HASH, created_at=1.0
    )
    return replace(base, **fields)


def mailbox(address: str, owner: str, **fields: Any) -> Mailbox:
    return replace(Mailbox(address=address, account=owner, password_hash=HASH), **fields)


# -- accounts -----------------------------------------------------------------------------------


async def test_account_round_trips_every_field(store: Store) -> None:
    stored = account(
        "bob",
        plan="Gold Plan",
        feature_list="gold",
        contact_email="admin@bob.example",
        suspended=True,
        suspend_reason="unpaid",
        is_reseller=True,
        acls=frozenset({"list-accts", "passwd"}),
        created_at=1_700_000_000.5,
        credential_version=7,
    )
    await store.insert_account(stored)
    assert await store.get_account("bob") == stored


async def test_missing_account_is_none(store: Store) -> None:
    assert await store.get_account("ghost") is None


async def test_account_lookup_is_exact(store: Store) -> None:
    await store.insert_account(account("bob"))
    for other in ("BOB", "bob ", "bo", "bob%"):
        assert await store.get_account(other) is None


async def test_insert_stamps_a_missing_creation_time(store: Store, clock: FrozenClock) -> None:
    await store.insert_account(account("bob", created_at=0.0))
    stored = await store.get_account("bob")
    assert stored is not None
    assert stored.created_at == clock.now()


@pytest.mark.parametrize(
    "duplicate",
    [account("bob", domain="other.example"), account("carol", domain="bob.example")],
)
async def test_insert_refuses_a_taken_user_or_domain(store: Store, duplicate: Account) -> None:
    original = account("bob")
    await store.insert_account(original)
    with pytest.raises(AlreadyExists):
        await store.insert_account(duplicate)
    assert await store.get_account("bob") == original
    assert await store.list_accounts() == [original]


async def test_list_accounts_skips_root_and_orders_by_user(store: Store) -> None:
    for user in ("root", "zed", "amy", "bob"):
        await store.insert_account(account(user))
    assert [a.user for a in await store.list_accounts()] == ["amy", "bob", "zed"]


async def test_list_accounts_filters_by_owner(store: Store) -> None:
    await store.insert_account(account("res"))
    await store.insert_account(account("carol", owner="res"))
    await store.insert_account(account("bob"))
    await store.insert_account(account("dan", owner="res"))
    assert [a.user for a in await store.list_accounts(owner="res")] == ["carol", "dan"]
    assert [a.user for a in await store.list_accounts(owner="root")] == ["bob", "res"]
    assert await store.list_accounts(owner="nobody") == []


async def test_delete_account(store: Store) -> None:
    await store.insert_account(account("bob"))
    assert await store.delete_account("bob") is True
    assert await store.get_account("bob") is None
    assert await store.delete_account("bob") is False


async def test_delete_account_removes_its_mailboxes_only(store: Store) -> None:
    await store.insert_account(account("bob"))
    await store.insert_account(account("carol"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    await store.insert_mailbox(mailbox("sales@bob.example", "bob"))
    await store.insert_mailbox(mailbox("info@carol.example", "carol"))
    await store.delete_account("bob")
    assert await store.get_mailbox("info@bob.example") is None
    assert await store.list_mailboxes("bob") == []
    assert [m.address for m in await store.list_mailboxes("carol")] == ["info@carol.example"]


@pytest.mark.parametrize(("rotate", "version"), [(True, 2), (False, 1)])
async def test_set_password_hash_bumps_the_version_only_on_rotation(
    store: Store, rotate: bool, version: int
) -> None:
    await store.insert_account(account("bob"))
    assert await store.set_password_hash("bob", "$argon2id$new", rotate=rotate) is True
    stored = await store.get_account("bob")
    assert stored is not None
    assert (stored.password_hash, stored.credential_version) == ("$argon2id$new", version)


async def test_every_rotation_bumps_the_version(store: Store) -> None:
    await store.insert_account(account("bob"))
    for _ in range(3):
        await store.set_password_hash("bob", HASH, rotate=True)
    stored = await store.get_account("bob")
    assert stored is not None
    assert stored.credential_version == 4


async def test_suspension_keeps_its_reason_until_lifted(store: Store) -> None:
    await store.insert_account(account("bob"))
    assert await store.set_suspended("bob", True, "unpaid") is True
    suspended = await store.get_account("bob")
    assert suspended is not None
    assert (suspended.suspended, suspended.suspend_reason) == (True, "unpaid")
    await store.set_suspended("bob", False, "ignored")
    lifted = await store.get_account("bob")
    assert lifted is not None
    assert (lifted.suspended, lifted.suspend_reason) == (False, "")


async def test_set_reseller_stores_the_flag_and_acls(store: Store) -> None:
    await store.insert_account(account("res"))
    acls = frozenset({"create-acct", "list-accts"})
    assert await store.set_reseller("res", True, acls) is True
    stored = await store.get_account("res")
    assert stored is not None
    assert (stored.is_reseller, stored.acls) == (True, acls)
    await store.set_reseller("res", False, frozenset())
    cleared = await store.get_account("res")
    assert cleared is not None
    assert (cleared.is_reseller, cleared.acls) == (False, frozenset())


async def test_set_owner_moves_an_account(store: Store) -> None:
    await store.insert_account(account("res"))
    await store.insert_account(account("bob"))
    assert await store.set_owner("bob", "res") is True
    assert [a.user for a in await store.list_accounts(owner="res")] == ["bob"]


async def test_updates_of_a_missing_account_report_false(store: Store) -> None:
    assert await store.set_password_hash("ghost", HASH, rotate=True) is False
    assert await store.set_suspended("ghost", True, "x") is False
    assert await store.set_reseller("ghost", True, frozenset()) is False
    assert await store.set_owner("ghost", "root") is False
    assert await store.get_account("ghost") is None


async def test_domain_owner(store: Store) -> None:
    await store.insert_account(account("bob"))
    assert await store.domain_owner("bob.example") == "bob"
    assert await store.domain_owner("carol.example") is None


# -- mailboxes ----------------------------------------------------------------------------------


async def test_mailbox_round_trips_every_field(store: Store) -> None:
    await store.insert_account(account("bob"))
    stored = mailbox(
        "info@bob.example",
        "bob",
        quota_mb=250,
        suspended_login=True,
        created_at=1_700_000_000.25,
        credential_version=3,
    )
    await store.insert_mailbox(stored)
    assert await store.get_mailbox("info@bob.example") == stored
    assert await store.get_mailbox("INFO@bob.example") is None


async def test_mailbox_insert_stamps_a_missing_creation_time(
    store: Store, clock: FrozenClock
) -> None:
    await store.insert_account(account("bob"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    stored = await store.get_mailbox("info@bob.example")
    assert stored is not None
    assert stored.created_at == clock.now()


async def test_mailboxes_are_listed_by_address(store: Store) -> None:
    await store.insert_account(account("bob"))
    for local in ("zz", "info", "abuse"):
        await store.insert_mailbox(mailbox(f"{local}@bob.example", "bob", created_at=1.0))
    listed = await store.list_mailboxes("bob")
    assert [m.address for m in listed] == [
        "abuse@bob.example",
        "info@bob.example",
        "zz@bob.example",
    ]
    assert await store.list_mailboxes("nobody") == []


async def test_insert_refuses_a_taken_address(store: Store) -> None:
    await store.insert_account(account("bob"))
    original = mailbox("info@bob.example", "bob", created_at=1.0)
    await store.insert_mailbox(original)
    with pytest.raises(AlreadyExists):
        await store.insert_mailbox(mailbox("info@bob.example", "bob", quota_mb=5))
    assert await store.get_mailbox("info@bob.example") == original


async def test_a_mailbox_needs_an_existing_account(store: Store) -> None:
    with pytest.raises(PanelauthError):
        await store.insert_mailbox(mailbox("info@ghost.example", "ghost"))
    assert await store.get_mailbox("info@ghost.example") is None


async def test_delete_mailbox(store: Store) -> None:
    await store.insert_account(account("bob"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    assert await store.delete_mailbox("info@bob.example") is True
    assert await store.get_mailbox("info@bob.example") is None
    assert await store.delete_mailbox("info@bob.example") is False
    assert await store.get_account("bob") is not None


@pytest.mark.parametrize(("rotate", "version"), [(True, 2), (False, 1)])
async def test_set_mailbox_password_hash_bumps_the_version_only_on_rotation(
    store: Store, rotate: bool, version: int
) -> None:
    await store.insert_account(account("bob"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    assert await store.set_mailbox_password_hash("info@bob.example", "$x", rotate=rotate)
    stored = await store.get_mailbox("info@bob.example")
    assert stored is not None
    assert (stored.password_hash, stored.credential_version) == ("$x", version)
    assert not await store.set_mailbox_password_hash("no@bob.example", "$x", rotate=True)


# -- feature lists ------------------------------------------------------------------------------


async def test_the_default_feature_list_exists_and_is_empty(store: Store) -> None:
    assert await store.get_feature_list("default") == {}
    assert await store.list_feature_lists() == ["default"]


async def test_a_missing_feature_list_is_none(store: Store) -> None:
    assert await store.get_feature_list("gold") is None


async def test_save_creates_then_merges(store: Store) -> None:
    await store.save_feature_list("gold", {"webmail": False, "apitokens": True})
    assert await store.get_feature_list("gold") == {"webmail": False, "apitokens": True}
    await store.save_feature_list("gold", {"webmail": True, "popaccts": False})
    assert await store.get_feature_list("gold") == {
        "webmail": True,
        "apitokens": True,
        "popaccts": False,
    }


async def test_save_with_no_settings_creates_an_empty_list(store: Store) -> None:
    await store.save_feature_list("bare", {})
    assert await store.get_feature_list("bare") == {}


async def test_feature_lists_are_listed_by_name(store: Store) -> None:
    for name in ("silver", "Gold", "bronze"):
        await store.save_feature_list(name, {})
    assert await store.list_feature_lists() == ["Gold", "bronze", "default", "silver"]


async def test_feature_lists_are_separate(store: Store) -> None:
    await store.save_feature_list("gold", {"webmail": False})
    await store.save_feature_list("silver", {"webmail": True})
    assert await store.get_feature_list("gold") == {"webmail": False}
    assert await store.get_feature_list("default") == {}


async def test_delete_feature_list_removes_its_settings(store: Store) -> None:
    await store.save_feature_list("gold", {"webmail": False})
    assert await store.delete_feature_list("gold") is True
    assert await store.get_feature_list("gold") is None
    assert await store.delete_feature_list("gold") is False
    await store.save_feature_list("gold", {})
    assert await store.get_feature_list("gold") == {}  # nothing left over from before
