"""Account lifecycle rules: validation before the store, hashing, ownership of mailboxes."""

from __future__ import annotations

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.models import Account
from panelauth.core.passwords import HashingPool
from panelauth.errors import AlreadyExists, InvalidArgument, NotFound
from panelauth.secret import Secret
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD


async def verifies(pool: HashingPool, stored_hash: str, password: str) -> bool:
    return (await pool.verify(stored_hash, Secret(password))).ok


# -- root and accounts --------------------------------------------------------------------------


async def test_create_root_stores_a_hashed_root(
    root: Account, store: SqliteStore, pool: HashingPool, clock: FrozenClock
) -> None:
    stored = await store.get_account("root")
    assert stored == root
    assert (root.user, root.owner, root.domain) == ("root", "root", "root.localhost")
    assert root.password_hash.startswith("$argon2id$")
    assert ROOT_PASSWORD not in root.password_hash
    assert root.created_at == clock.now()
    assert await verifies(pool, root.password_hash, ROOT_PASSWORD)


async def test_create_root_applies_the_password_policy(accounts: Accounts) -> None:
    with pytest.raises(InvalidArgument, match="at least 8"):
        await accounts.create_root("short")


async def test_create_stores_the_account_with_its_fields(
    accounts: Accounts, store: SqliteStore, pool: HashingPool, root: Account
) -> None:
    created = await accounts.create(
        user="dave",
        domain="Dave.Example",
        password="dave-Passw0rd!",
        owner="root",
        plan="Gold Plan",
        contact_email="Admin@Dave.Example",
    )
    assert await store.get_account("dave") == created
    assert (created.domain, created.contact_email) == ("dave.example", "admin@dave.example")
    assert (created.plan, created.feature_list, created.owner) == ("Gold Plan", "default", "root")
    assert not created.suspended
    assert not created.is_reseller
    assert created.credential_version == 1
    assert await verifies(pool, created.password_hash, "dave-Passw0rd!")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"user": "Dave"}, "username"),
        ({"user": "root"}, "reserved"),
        ({"user": "testdave"}, "reserved"),
        ({"domain": "localhost"}, "domain"),
        ({"password": "short"}, "at least 8"),
        ({"password": "dave-Passw0rd!\n"}, "control"),
        ({"plan": "gold/plan"}, "package"),
        ({"feature_list": "../etc"}, "feature list"),
        ({"contact_email": "not-an-address"}, "email"),
    ],
)
async def test_create_validates_every_field_before_writing(
    accounts: Accounts, store: SqliteStore, root: Account, fields: dict[str, str], message: str
) -> None:
    arguments = {"user": "dave", "domain": "dave.example", "password": "dave-Passw0rd!"}
    arguments.update(fields)
    with pytest.raises(InvalidArgument, match=message):
        await accounts.create(owner="root", **arguments)
    assert await store.list_accounts() == []


async def test_create_refuses_a_taken_user(accounts: Accounts, bob: Account) -> None:
    with pytest.raises(AlreadyExists, match="bob"):
        await accounts.create(
            user="bob", domain="other.example", password="x-Passw0rd!", owner="root"
        )


@pytest.mark.parametrize("domain", ["bob.example", "BOB.example", "bob.example.", "root.localhost"])
async def test_create_refuses_a_taken_domain(
    accounts: Accounts, store: SqliteStore, bob: Account, domain: str
) -> None:
    with pytest.raises(AlreadyExists, match="domain"):
        await accounts.create(user="dave", domain=domain, password="x-Passw0rd!", owner="root")
    assert await store.get_account("dave") is None


async def test_create_reports_a_lost_race_for_the_domain(
    accounts: Accounts, store: SqliteStore, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def nobody_owns(domain: str) -> str | None:
        return None  # the check ran before another request took the domain

    monkeypatch.setattr(store, "domain_owner", nobody_owns)
    with pytest.raises(AlreadyExists, match=r"“dave” or domain “bob\.example”"):
        await accounts.create(
            user="dave", domain="bob.example", password="x-Passw0rd!", owner="root"
        )
    assert await store.get_account("dave") is None


async def test_create_refuses_an_unknown_feature_list(
    accounts: Accounts, store: SqliteStore, root: Account
) -> None:
    with pytest.raises(InvalidArgument, match="feature list"):
        await accounts.create(
            user="dave", domain="dave.example", password="x-Passw0rd!", owner="root",
            feature_list="gold",
        )  # fmt: skip
    await store.save_feature_list("gold", {"webmail": False})
    created = await accounts.create(
        user="dave", domain="dave.example", password="x-Passw0rd!", owner="root",
        feature_list="gold",
    )  # fmt: skip
    assert created.feature_list == "gold"


async def test_password_is_stored_in_nfc(accounts: Accounts, pool: HashingPool) -> None:
    created = await accounts.create(
        user="dave", domain="dave.example", password="cafe\u0301-Passw0rd", owner="root"
    )
    assert await verifies(pool, created.password_hash, "caf\u00e9-Passw0rd")


# -- passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize("new", ["new-Passw0rd!", Secret("new-Passw0rd!")])
async def test_change_password_rotates_the_credential(
    accounts: Accounts, store: SqliteStore, pool: HashingPool, bob: Account, new: str | Secret
) -> None:
    await accounts.change_password("bob", new)
    changed = await store.get_account("bob")
    assert changed is not None
    assert changed.credential_version == bob.credential_version + 1
    assert await verifies(pool, changed.password_hash, "new-Passw0rd!")
    assert not await verifies(pool, changed.password_hash, BOB_PASSWORD)


async def test_change_password_of_a_missing_account(accounts: Accounts, root: Account) -> None:
    with pytest.raises(NotFound, match="ghost"):
        await accounts.change_password("ghost", "new-Passw0rd!")


async def test_change_password_applies_the_policy(
    accounts: Accounts, store: SqliteStore, bob: Account
) -> None:
    with pytest.raises(InvalidArgument):
        await accounts.change_password("bob", "tiny")
    assert await store.get_account("bob") == bob


# -- resellers ----------------------------------------------------------------------------------


async def test_make_and_unmake_reseller(
    accounts: Accounts, store: SqliteStore, bob: Account
) -> None:
    await accounts.make_reseller("bob")
    await accounts.set_acls("bob", frozenset({"list-accts", "passwd"}))
    await accounts.make_reseller("bob")  # again: the ACLs are kept
    made = await store.get_account("bob")
    assert made is not None
    assert made.is_reseller
    assert made.acls == frozenset({"list-accts", "passwd"})
    await accounts.unmake_reseller("bob")
    unmade = await store.get_account("bob")
    assert unmade is not None
    assert not unmade.is_reseller
    assert unmade.acls == frozenset()


@pytest.mark.parametrize("user", ["root", "ghost"])
async def test_reseller_changes_need_an_existing_non_root_account(
    accounts: Accounts, root: Account, user: str
) -> None:
    for change in (accounts.make_reseller, accounts.unmake_reseller):
        with pytest.raises(NotFound):
            await change(user)
    with pytest.raises(NotFound):
        await accounts.set_acls(user, frozenset({"list-accts"}))


async def test_set_acls_refuses_unknown_privileges(accounts: Accounts, reseller: Account) -> None:
    with pytest.raises(InvalidArgument, match="fly, root-shell"):
        await accounts.set_acls("res", frozenset({"list-accts", "root-shell", "fly"}))


async def test_set_acls_needs_a_reseller(accounts: Accounts, bob: Account) -> None:
    with pytest.raises(InvalidArgument, match="not a reseller"):
        await accounts.set_acls("bob", frozenset({"list-accts"}))


async def test_set_acls_replaces_the_acls(
    accounts: Accounts, store: SqliteStore, reseller: Account
) -> None:
    await accounts.set_acls("res", frozenset({"all"}))
    updated = await store.get_account("res")
    assert updated is not None
    assert updated.acls == frozenset({"all"})


# -- mailboxes ----------------------------------------------------------------------------------


async def test_add_mailbox_stores_a_hashed_mailbox(
    accounts: Accounts, store: SqliteStore, pool: HashingPool, bob: Account, clock: FrozenClock
) -> None:
    mailbox = await accounts.add_mailbox(
        bob, local_part="Info", domain="BOB.example", password="mail-Passw0rd!", quota_mb=250
    )
    assert await store.get_mailbox("info@bob.example") == mailbox
    assert (mailbox.address, mailbox.account, mailbox.quota_mb) == ("info@bob.example", "bob", 250)
    assert mailbox.created_at == clock.now()
    assert await verifies(pool, mailbox.password_hash, "mail-Passw0rd!")


@pytest.mark.parametrize(
    ("local_part", "domain", "password", "quota_mb", "message"),
    [
        ("info", "carol.example", "mail-Passw0rd!", 0, "does not own"),
        ("info", "sub.bob.example", "mail-Passw0rd!", 0, "does not own"),
        ("in fo", "bob.example", "mail-Passw0rd!", 0, "invalid characters"),
        ("", "bob.example", "mail-Passw0rd!", 0, "invalid characters"),
        ("info", "bob.example", "mail-Passw0rd!", -1, "quota"),
        ("info", "bob.example", "short", 0, "at least 8"),
        ("info", "not a domain", "mail-Passw0rd!", 0, "domain"),
    ],
)
async def test_add_mailbox_refuses_invalid_requests(
    accounts: Accounts,
    store: SqliteStore,
    bob: Account,
    local_part: str,
    domain: str,
    password: str,
    quota_mb: int,
    message: str,
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await accounts.add_mailbox(
            bob, local_part=local_part, domain=domain, password=password, quota_mb=quota_mb
        )
    assert await store.list_mailboxes("bob") == []


async def test_add_mailbox_refuses_a_taken_address(accounts: Accounts, bob: Account) -> None:
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="mail-Passw0rd!", quota_mb=0
    )
    with pytest.raises(AlreadyExists, match=r"info@bob\.example"):
        await accounts.add_mailbox(
            bob, local_part="INFO", domain="bob.example", password="other-Passw0rd", quota_mb=0
        )


async def test_change_mailbox_password_rotates_the_credential(
    accounts: Accounts, store: SqliteStore, pool: HashingPool, bob: Account
) -> None:
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="mail-Passw0rd!", quota_mb=0
    )
    await accounts.change_mailbox_password("info@bob.example", "new-Passw0rd!")
    changed = await store.get_mailbox("info@bob.example")
    assert changed is not None
    assert changed.credential_version == 2
    assert await verifies(pool, changed.password_hash, "new-Passw0rd!")


async def test_change_mailbox_password_of_a_missing_mailbox(
    accounts: Accounts, bob: Account
) -> None:
    with pytest.raises(NotFound, match=r"nobody@bob\.example"):
        await accounts.change_mailbox_password("nobody@bob.example", "new-Passw0rd!")


async def test_create_refuses_a_user_name_ending_in_a_newline(
    accounts: Accounts, store: SqliteStore, root: Account
) -> None:
    with pytest.raises(InvalidArgument):
        await accounts.create(
            user="bob2\n", domain="bob2.example", password="x-Passw0rd!", owner="root"
        )
