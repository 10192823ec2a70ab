"""UAPI and API 2 functions: features, webmail safety, ownership through WHM (AZ-1, w§16)."""

from __future__ import annotations

import pytest

from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.backends.sqlite import SqliteStore
from panelauth.core.accounts import Accounts
from panelauth.core.models import Account
from panelauth.core.passwords import HashingPool
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from tests.api.helpers import BOB, ROOT, mail_identity, reseller_identity, uapi

INFO = mail_identity("info@bob.example", "bob")


@pytest.fixture
async def info_mailbox(accounts: Accounts, bob: Account) -> None:
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="info-Pw-1234", quota_mb=0
    )


async def test_get_user_information(dispatcher: Dispatcher, bob: Account) -> None:
    answer = await uapi(dispatcher, BOB, "Variables", "get_user_information")
    assert answer.document["status"] == 1
    data = answer.document["data"]
    assert (data["user"], data["domain"], data["owner"]) == ("bob", "bob.example", "root")
    assert data["feature"]["popaccts"] == 1
    picked = await uapi(
        dispatcher, BOB, "Variables", "get_user_information", name__0="user", name__1="plan"
    )
    assert picked.document["data"] == {"user": "bob", "plan": "default"}


async def test_list_features_and_domains(dispatcher: Dispatcher, bob: Account) -> None:
    features = await uapi(dispatcher, BOB, "Features", "list_features")
    assert features.document["data"]["apitokens"] == 1
    domains = await uapi(dispatcher, BOB, "DomainInfo", "list_domains")
    assert domains.document["data"]["main_domain"] == "bob.example"
    assert domains.document["data"]["sub_domains"] == []


async def test_mailbox_lifecycle(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore, pool: HashingPool
) -> None:
    added = await uapi(dispatcher, BOB, "Email", "add_pop", email="Sales", password="sales-Pw-12")
    assert added.document == {
        "status": 1,
        "errors": None,
        "messages": None,
        "warnings": None,
        "data": "sales+bob.example",
        "metadata": {},
    }
    listed = await uapi(dispatcher, BOB, "Email", "list_pops")
    assert listed.document["data"] == [
        {
            "email": "sales@bob.example",
            "login": "sales@bob.example",
            "suspended_incoming": 0,
            "suspended_login": 0,
        }
    ]
    api2 = await uapi(dispatcher, BOB, "Email", "listpops", api=Api.API2)
    assert api2.document["cpanelresult"]["data"] == [
        {"email": "sales@bob.example", "login": "sales@bob.example"}
    ]
    assert api2.document["cpanelresult"]["event"] == {"result": 1}
    changed = await uapi(
        dispatcher, BOB, "Email", "passwd_pop", email="sales@bob.example", password="new-Pw-1234"
    )
    assert changed.document["status"] == 1
    mailbox = await store.get_mailbox("sales@bob.example")
    assert mailbox is not None
    assert (await pool.verify(mailbox.password_hash, Secret("new-Pw-1234"))).ok
    deleted = await uapi(dispatcher, BOB, "Email", "delete_pop", email="sales")
    assert deleted.document["status"] == 1
    assert await store.get_mailbox("sales@bob.example") is None


@pytest.mark.parametrize(
    "args",
    [
        {"email": "sales", "password": "short"},
        {"email": "sa les", "password": "sales-Pw-12"},
        {"email": "sales", "domain": "carol.example", "password": "sales-Pw-12"},
        {"email": "sales", "password": "sales-Pw-12", "quota": "-5"},
        {"email": "sales\r\n", "password": "sales-Pw-12"},
        {"password": "sales-Pw-12"},
    ],
)
async def test_add_pop_refuses_bad_input(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore, args: dict[str, str]
) -> None:
    answer = await uapi(dispatcher, BOB, "Email", "add_pop", **args)  # type: ignore[arg-type]
    assert answer.status == 200
    assert answer.document["status"] == 0
    assert answer.document["errors"]
    assert await store.list_mailboxes("bob") == []


async def test_add_pop_refuses_duplicates(
    dispatcher: Dispatcher, bob: Account, info_mailbox: None
) -> None:
    answer = await uapi(dispatcher, BOB, "Email", "add_pop", email="info", password="x-Pw-12345")
    assert answer.document["status"] == 0


async def test_unknown_uapi_function_is_404(dispatcher: Dispatcher, bob: Account) -> None:
    answer = await uapi(dispatcher, BOB, "Email", "no_such_function")
    assert answer.status == 404
    assert answer.document["errors"] == ["Function not found"]


async def test_missing_feature_is_permission_denied_on_every_surface(
    dispatcher: Dispatcher, bob: Account, store: SqliteStore
) -> None:
    await store.save_feature_list("default", {"popaccts": False})
    direct = await uapi(dispatcher, BOB, "Email", "list_pops")
    through_whm = await uapi(dispatcher, ROOT, "Email", "list_pops", acting_user="bob")
    api2 = await uapi(dispatcher, BOB, "Email", "listpops", api=Api.API2)
    assert direct.status == through_whm.status == api2.status == 403
    assert direct.document["errors"][0] == "Permission denied"
    assert api2.document["cpanelresult"]["error"].startswith("Permission denied")


async def test_webmail_runs_only_webmail_safe_functions(
    dispatcher: Dispatcher, bob: Account, info_mailbox: None
) -> None:
    listed = await uapi(dispatcher, INFO, "Email", "list_pops", service=Service.WEBMAIL)
    info = await uapi(
        dispatcher, INFO, "Variables", "get_user_information", service=Service.WEBMAIL
    )
    assert listed.status == 403
    assert info.status == 200
    assert info.document["data"]["user"] == "info@bob.example"
    assert "feature" not in info.document["data"]


async def test_webmail_changes_only_its_own_mailbox(
    dispatcher: Dispatcher, bob: Account, accounts: Accounts, info_mailbox: None
) -> None:
    await accounts.add_mailbox(
        bob, local_part="sales", domain="bob.example", password="sales-Pw-12", quota_mb=0
    )
    own = await uapi(
        dispatcher,
        INFO,
        "Email",
        "passwd_pop",
        service=Service.WEBMAIL,
        email="info@bob.example",
        password="info-New-123",
    )
    other = await uapi(
        dispatcher,
        INFO,
        "Email",
        "passwd_pop",
        service=Service.WEBMAIL,
        email="sales@bob.example",
        password="sales-New-123",
    )
    assert own.document["status"] == 1
    assert other.status == 403


async def test_account_name_on_webmail_is_confined_to_webmail_functions(
    dispatcher: Dispatcher, bob: Account
) -> None:
    default_mailbox = mail_identity("bob", "bob")
    answer = await uapi(
        dispatcher,
        default_mailbox,
        "Email",
        "add_pop",
        service=Service.WEBMAIL,
        email="x",
        password="x-Pw-12345",
    )
    assert answer.status == 403


async def test_through_whm_root_acts_on_any_account(dispatcher: Dispatcher, bob: Account) -> None:
    answer = await uapi(
        dispatcher, ROOT, "DomainInfo", "list_domains", service=Service.WHM, acting_user="bob"
    )
    assert answer.document["data"]["main_domain"] == "bob.example"


@pytest.mark.parametrize("target", ["bob", "ghost", "root", None])
async def test_through_whm_reseller_only_reaches_its_own_accounts(
    dispatcher: Dispatcher, reseller: Account, bob: Account, target: str | None
) -> None:
    identity = reseller_identity(reseller.acls)
    answer = await uapi(
        dispatcher,
        identity,
        "DomainInfo",
        "list_domains",
        service=Service.WHM,
        acting_user=target,
    )
    assert answer.document["status"] == 0
    if target is not None:
        assert answer.status == 403
    own = await uapi(
        dispatcher,
        identity,
        "DomainInfo",
        "list_domains",
        service=Service.WHM,
        acting_user="carol",
    )
    assert own.document["data"]["main_domain"] == "carol.example"


async def test_cpanel_user_cannot_name_another_user(
    dispatcher: Dispatcher, bob: Account, reseller: Account
) -> None:
    answer = await uapi(dispatcher, BOB, "DomainInfo", "list_domains", acting_user="carol")
    assert answer.status == 403
