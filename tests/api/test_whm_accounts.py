"""WHM API 1 account functions through the dispatcher (the same path HTTP and the CLI take)."""

from __future__ import annotations

import pytest

from panelauth.api.dispatch import Dispatcher
from panelauth.backends.sqlite import SqliteStore
from panelauth.core.accounts import Accounts
from panelauth.core.models import Account
from panelauth.core.passwords import HashingPool
from panelauth.secret import Secret
from tests.api.helpers import ROOT, metadata, reseller_identity, whm

RESELLER = reseller_identity(frozenset({"list-accts", "create-acct", "suspend-acct", "passwd"}))


async def test_version_answers_the_whm_envelope(dispatcher: Dispatcher) -> None:
    answer = await whm(dispatcher, ROOT, "version")
    assert answer.status == 200
    assert metadata(answer) == {"command": "version", "reason": "OK", "result": 1, "version": 1}
    assert answer.document["data"]["version"].startswith("11.")


async def test_unknown_function_is_404_with_cpanels_phrase(dispatcher: Dispatcher) -> None:
    answer = await whm(dispatcher, ROOT, "nosuchfunction")
    assert answer.status == 404
    assert metadata(answer)["result"] == 0
    assert metadata(answer)["reason"] == (
        'Function not found: Unknown app ("nosuchfunction") requested for this version (1) of '
        "the API."
    )


async def test_createacct_creates_an_account_with_raw_output(
    dispatcher: Dispatcher, root: Account, store: SqliteStore
) -> None:
    answer = await whm(
        dispatcher,
        ROOT,
        "createacct",
        username="dave",
        domain="Dave.Example",
        password="dave-Pw-123",
    )
    assert metadata(answer)["result"] == 1, answer.document
    assert metadata(answer)["reason"] == "Account Creation Ok"
    assert isinstance(metadata(answer)["output"]["raw"], str)
    account = await store.get_account("dave")
    assert account is not None
    assert (account.domain, account.owner) == ("dave.example", "root")
    assert account.password_hash.startswith("$argon2id$")
    assert "dave-Pw-123" not in account.password_hash


@pytest.mark.parametrize(
    ("username", "domain", "password"),
    [
        ("Dave", "dave.example", "dave-Pw-123"),  # uppercase
        ("1dave", "dave.example", "dave-Pw-123"),  # starts with a digit
        ("averyveryverylonguser", "dave.example", "dave-Pw-123"),  # over 16
        ("testdave", "dave.example", "dave-Pw-123"),  # reserved prefix
        ("root", "dave.example", "dave-Pw-123"),  # reserved
        ("dave", "not a domain", "dave-Pw-123"),
        ("dave", "dave.example", "short"),  # under 8 characters
        ("dave", "dave.example", "pass\nword-long"),  # control character
        ("dave\r\nroot", "dave.example", "dave-Pw-123"),
    ],
)
async def test_createacct_refuses_invalid_fields_without_storing(
    dispatcher: Dispatcher,
    root: Account,
    store: SqliteStore,
    username: str,
    domain: str,
    password: str,
) -> None:
    answer = await whm(
        dispatcher, ROOT, "createacct", username=username, domain=domain, password=password
    )
    assert answer.status == 200
    assert metadata(answer)["result"] == 0
    assert metadata(answer)["reason"]
    assert await store.list_accounts() == []


async def test_createacct_refuses_duplicate_user_and_domain(
    dispatcher: Dispatcher, bob: Account
) -> None:
    same_user = await whm(
        dispatcher,
        ROOT,
        "createacct",
        username="bob",
        domain="other.example",
        password="x-Pw-12345",
    )
    same_domain = await whm(
        dispatcher, ROOT, "createacct", username="eve", domain="bob.example", password="x-Pw-12345"
    )
    assert metadata(same_user)["result"] == 0
    assert metadata(same_domain)["result"] == 0
    assert "exists" in metadata(same_user)["reason"]


async def test_missing_required_argument_names_it(dispatcher: Dispatcher, root: Account) -> None:
    answer = await whm(dispatcher, ROOT, "createacct", domain="dave.example")
    assert metadata(answer)["result"] == 0
    assert "username" in metadata(answer)["reason"]


async def test_reseller_creates_accounts_only_for_itself(
    dispatcher: Dispatcher, reseller: Account, store: SqliteStore
) -> None:
    own = await whm(
        dispatcher,
        RESELLER,
        "createacct",
        username="dan",
        domain="dan.example",
        password="dan-Pw-1234",
    )
    foreign = await whm(
        dispatcher,
        RESELLER,
        "createacct",
        username="dora",
        domain="dora.example",
        password="dora-Pw-123",
        owner="root",
    )
    assert metadata(own)["result"] == 1
    dan = await store.get_account("dan")
    assert dan is not None and dan.owner == "res"
    assert foreign.status == 403
    assert await store.get_account("dora") is None


async def test_function_without_the_acl_is_permission_denied(
    dispatcher: Dispatcher, reseller: Account
) -> None:
    limited = reseller_identity(frozenset({"list-accts"}))
    answer = await whm(dispatcher, limited, "removeacct", user="carol")
    assert answer.status == 403
    assert metadata(answer)["reason"].startswith("Permission denied")


async def test_listaccts_shows_root_everything_and_a_reseller_its_own(
    dispatcher: Dispatcher, reseller: Account, bob: Account
) -> None:
    everything = await whm(dispatcher, ROOT, "listaccts")
    own = await whm(dispatcher, RESELLER, "listaccts")
    assert [a["user"] for a in everything.document["data"]["acct"]] == ["bob", "carol", "res"]
    assert [a["user"] for a in own.document["data"]["acct"]] == ["carol", "res"]
    entry = everything.document["data"]["acct"][0]
    assert entry["domain"] == "bob.example" and entry["owner"] == "root"
    assert entry["suspended"] == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"search": "^b", "searchtype": "user"}, ["bob"]),
        ({"search": "example", "searchtype": "domain"}, ["bob", "carol", "res"]),
        ({"search": "res", "searchtype": "owner"}, ["carol"]),
        ({"search": "bo", "searchtype": "user", "searchmethod": "exact"}, []),
        ({"search": "bob", "searchtype": "user", "searchmethod": "exact"}, ["bob"]),
    ],
)
async def test_listaccts_search(
    dispatcher: Dispatcher,
    reseller: Account,
    bob: Account,
    args: dict[str, str],
    expected: list[str],
) -> None:
    answer = await whm(dispatcher, ROOT, "listaccts", **args)
    assert [a["user"] for a in answer.document["data"]["acct"]] == expected


async def test_listaccts_want_limits_fields(dispatcher: Dispatcher, bob: Account) -> None:
    answer = await whm(dispatcher, ROOT, "listaccts", want="user,domain")
    assert answer.document["data"]["acct"] == [{"user": "bob", "domain": "bob.example"}]


@pytest.mark.parametrize("search", ["(", "a" * 300])
async def test_listaccts_bad_search_is_a_clear_failure(
    dispatcher: Dispatcher, bob: Account, search: str
) -> None:
    answer = await whm(dispatcher, ROOT, "listaccts", search=search)
    assert answer.status == 200
    assert metadata(answer)["result"] == 0


async def test_listaccts_backtracking_pattern_finishes(
    dispatcher: Dispatcher, bob: Account
) -> None:
    # (a+)+$ is exponential for backtracking engines; RE2 matches in linear time
    answer = await whm(dispatcher, ROOT, "listaccts", search="(b+)+$", searchtype="domain")
    assert metadata(answer)["result"] == 1


async def test_listaccts_unknown_searchtype_fails(dispatcher: Dispatcher, bob: Account) -> None:
    answer = await whm(dispatcher, ROOT, "listaccts", search="x", searchtype="password")
    assert metadata(answer) | {"reason": ""} == {
        "command": "listaccts",
        "reason": "",
        "result": 0,
        "version": 1,
    }


async def test_accountsummary_by_user_or_domain(dispatcher: Dispatcher, bob: Account) -> None:
    by_user = await whm(dispatcher, ROOT, "accountsummary", user="bob")
    by_domain = await whm(dispatcher, ROOT, "accountsummary", domain="BOB.example")
    missing = await whm(dispatcher, ROOT, "accountsummary", user="nobody1")
    assert by_user.document["data"] == by_domain.document["data"]
    assert by_user.document["data"]["acct"][0]["user"] == "bob"
    assert metadata(missing)["result"] == 0


async def test_reseller_gets_the_same_403_for_foreign_and_absent_accounts(
    dispatcher: Dispatcher, reseller: Account, bob: Account
) -> None:
    summary = reseller_identity(frozenset({"acct-summary", "suspend-acct"}))
    foreign = await whm(dispatcher, summary, "accountsummary", user="bob")
    absent = await whm(dispatcher, summary, "accountsummary", user="ghost")
    assert foreign.status == absent.status == 403
    assert foreign.document == absent.document
    suspended = await whm(dispatcher, summary, "suspendacct", user="bob")
    assert suspended.status == 403


async def test_suspend_and_unsuspend(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore
) -> None:
    answer = await whm(dispatcher, ROOT, "suspendacct", user="bob", reason="unpaid invoice")
    assert metadata(answer)["result"] == 1
    suspended = await store.get_account("bob")
    assert suspended is not None and suspended.suspended
    assert suspended.suspend_reason == "unpaid invoice"
    listed = await whm(dispatcher, ROOT, "listaccts")
    assert listed.document["data"]["acct"][0]["suspendreason"] == "unpaid invoice"
    await whm(dispatcher, ROOT, "unsuspendacct", user="bob")
    restored = await store.get_account("bob")
    assert restored is not None and not restored.suspended


async def test_suspend_reason_with_newline_is_refused(dispatcher: Dispatcher, bob: Account) -> None:
    answer = await whm(dispatcher, ROOT, "suspendacct", user="bob", reason="x\nroot=1")
    assert metadata(answer)["result"] == 0


async def test_removeacct_removes_the_account_and_its_mailboxes(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore, accounts: Accounts
) -> None:
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="mail-Pw-123", quota_mb=0
    )
    answer = await whm(dispatcher, ROOT, "removeacct", user="bob")
    assert metadata(answer)["result"] == 1
    assert metadata(answer)["reason"] == "bob account removed"
    assert await store.get_account("bob") is None
    assert await store.get_mailbox("info@bob.example") is None


async def test_passwd_changes_the_password_and_bumps_the_credential_version(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore, pool: HashingPool
) -> None:
    answer = await whm(dispatcher, ROOT, "passwd", user="bob", password="new-Passw0rd!")
    assert metadata(answer)["result"] == 1
    changed = await store.get_account("bob")
    assert changed is not None
    assert changed.credential_version == bob.credential_version + 1
    assert (await pool.verify(changed.password_hash, Secret("new-Passw0rd!"))).ok
    assert not (await pool.verify(changed.password_hash, Secret("bob-Passw0rd!"))).ok
