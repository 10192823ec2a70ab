"""WHM `twofactorauth_*` and UAPI `TwoFactorAuth::*` through the dispatcher (w§9, w§13)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest

from panelauth.api.answers import Answer
from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.audit import MemorySessionLog
from panelauth.core.models import Account, Identity
from panelauth.core.sessions import SessionKind, SessionState
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import TwoFactorFailed
from panelauth.protocol.services import Service
from tests.api.helpers import BOB, ROOT, mail_identity, metadata, reseller_identity, uapi, whm

RESELLER = reseller_identity(frozenset({"list-accts", "create-acct"}))
RESELLER_WITHOUT_CREATE = reseller_identity(frozenset({"list-accts"}))
INFO = mail_identity("info@bob.example", "bob")
HOSTNAME = "panel.example.test"
MODULE = "TwoFactorAuth"
URI = re.compile(
    r"otpauth://totp/(?P<issuer>[^:]+):(?P<label>[^?]+)"
    r"\?secret=(?P<secret>[A-Z2-7]+)&issuer=(?P<query_issuer>.+)"
)


@pytest.fixture
async def info_mailbox(accounts: Accounts, bob: Account) -> None:
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="info-Pw-1234", quota_mb=0
    )


def code_for(secret: str, clock: FrozenClock) -> str:
    return pyotp.TOTP(secret).at(clock.now())


def best_code(secret: str, clock: FrozenClock) -> str:
    """The current code where pyotp can compute one, so only the secret is at fault."""
    try:
        return code_for(secret, clock)
    except ValueError:  # binascii.Error: not base32 at all
        return "123456"


def wrong_code_for(secret: str, clock: FrozenClock) -> str:
    """Six digits that match none of the steps in the window."""
    totp = pyotp.TOTP(secret)
    window = {totp.at(clock.now(), counter_offset=offset) for offset in (-1, 0, 1)}
    return next(c for c in (f"{d}" * 6 for d in range(10)) if c not in window)


def data(answer: Answer) -> Any:
    return answer.document["data"]


def uri_parts(uri: str) -> dict[str, str]:
    match = URI.fullmatch(uri)
    assert match is not None, uri
    return match.groupdict()


async def generate(dispatcher: Dispatcher, identity: Identity, **args: str) -> str:
    answer = await whm(dispatcher, identity, "twofactorauth_generate_tfa_config", **args)
    assert metadata(answer)["result"] == 1, metadata(answer)
    secret: str = data(answer)["secret"]
    return secret


async def enrol(dispatcher: Dispatcher, clock: FrozenClock, identity: Identity, **args: str) -> str:
    """Generate and set a configuration through WHM; the secret."""
    secret = await generate(dispatcher, identity, **args)
    answer = await whm(
        dispatcher,
        identity,
        "twofactorauth_set_tfa_config",
        secret=secret,
        tfa_token=code_for(secret, clock),
        **args,
    )
    assert metadata(answer)["result"] == 1, metadata(answer)
    return secret


async def session_of(runtime: Runtime, user: str, account: str | None, service: Service) -> str:
    created = await runtime.sessions.create(
        user=user,
        account=account,
        service=service,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator=user,
        method="handle_form_login",
        path="form",
        address="192.0.2.50",
        bind=True,
    )
    return created.session.session_id


async def live_ids(store: SqliteStore, user: str) -> set[str]:
    return {session.session_id for session in await store.sessions_of(user)}


def kills(session_log: MemorySessionLog) -> set[str]:
    return {
        str(sid)
        for event, sid, reason in session_log.events
        if event == "PURGE" and reason == "kill"
    }


# -- the policy switch ---------------------------------------------------------------------------


async def test_policy_is_on_by_default_and_only_root_switches_it(
    dispatcher: Dispatcher, root: Account, reseller: Account, two_factor: TwoFactor
) -> None:
    status = await whm(dispatcher, RESELLER, "twofactorauth_policy_status")
    assert data(status) == {"is_enabled": 1}
    for name in ("twofactorauth_disable_policy", "twofactorauth_enable_policy"):
        assert (await whm(dispatcher, RESELLER, name)).status == 403
    assert await two_factor.policy_enabled()
    off = await whm(dispatcher, ROOT, "twofactorauth_disable_policy")
    assert metadata(off)["result"] == 1
    assert data(await whm(dispatcher, ROOT, "twofactorauth_policy_status")) == {"is_enabled": 0}
    await whm(dispatcher, ROOT, "twofactorauth_enable_policy")
    assert data(await whm(dispatcher, RESELLER, "twofactorauth_policy_status")) == {"is_enabled": 1}


async def test_disabled_policy_refuses_enrolment_and_stops_enforcement(
    dispatcher: Dispatcher, bob: Account, clock: FrozenClock, two_factor: TwoFactor
) -> None:
    secret = await enrol(dispatcher, clock, ROOT, user="bob")
    assert await two_factor.required("bob")
    await whm(dispatcher, ROOT, "twofactorauth_disable_policy")
    assert not await two_factor.required("bob")
    refused = await whm(dispatcher, ROOT, "twofactorauth_generate_tfa_config")
    assert metadata(refused)["result"] == 0
    assert metadata(refused)["reason"] == "Two-factor authentication is disabled on this server."
    clock.advance(30)
    again = await whm(
        dispatcher,
        ROOT,
        "twofactorauth_set_tfa_config",
        user="bob",
        secret=secret,
        tfa_token=code_for(secret, clock),
    )
    assert metadata(again)["result"] == 0 and "disabled" in metadata(again)["reason"]
    for name in ("generate_user_configuration", "set_user_configuration"):
        answer = await uapi(dispatcher, BOB, MODULE, name, secret=secret, tfa_token="123456")
        assert answer.document["status"] == 0
        assert answer.document["errors"] == [
            "Two-factor authentication is disabled on this server."
        ]
    # status answers still work, and the configuration is kept for when it comes back on
    assert data(await uapi(dispatcher, BOB, MODULE, "get_user_configuration"))["is_enabled"] == 1
    configs = await whm(dispatcher, ROOT, "twofactorauth_get_user_configs", user="bob")
    assert data(configs)["bob"]["is_enabled"] == 1
    await whm(dispatcher, ROOT, "twofactorauth_enable_policy")
    assert await two_factor.required("bob")


# -- generate and set ------------------------------------------------------------------------------


async def test_generate_does_not_enable_anything(
    dispatcher: Dispatcher, root: Account, store: SqliteStore, two_factor: TwoFactor
) -> None:
    answer = await whm(dispatcher, ROOT, "twofactorauth_generate_tfa_config")
    generated = data(answer)
    assert set(generated) == {"secret", "otpauth_str"}
    assert re.fullmatch(r"[A-Z2-7]{32}", generated["secret"])
    parts = uri_parts(generated["otpauth_str"])
    assert parts["label"] == "root" and parts["secret"] == generated["secret"]
    assert parts["issuer"] == parts["query_issuer"] == HOSTNAME
    assert not await two_factor.enrolled("root")
    assert await store.get_tfa_secret("root") is None
    configs = data(await whm(dispatcher, ROOT, "twofactorauth_get_user_configs"))
    assert configs["root"] == {"is_enabled": 0, "primary_domain": HOSTNAME}
    second = data(await whm(dispatcher, ROOT, "twofactorauth_generate_tfa_config"))
    assert second["secret"] != generated["secret"]


async def test_set_with_the_right_code_enables_and_stores_only_a_sealed_secret(
    dispatcher: Dispatcher,
    root: Account,
    store: SqliteStore,
    clock: FrozenClock,
    two_factor: TwoFactor,
) -> None:
    secret = await generate(dispatcher, ROOT)
    code = code_for(secret, clock)
    answer = await whm(
        dispatcher, ROOT, "twofactorauth_set_tfa_config", secret=secret, tfa_token=code
    )
    assert metadata(answer)["result"] == 1
    assert data(answer) == {"success": 1}
    assert secret not in str(answer.document)
    sealed = await store.get_tfa_secret("root")
    assert sealed is not None
    assert secret.encode() not in sealed and secret.lower().encode() not in sealed
    assert await two_factor.required("root")
    configs = data(await whm(dispatcher, ROOT, "twofactorauth_get_user_configs"))
    assert configs["root"]["is_enabled"] == 1
    # the enrolment code is spent: no replay at the next login (w§13.3)
    with pytest.raises(TwoFactorFailed):
        await two_factor.check("root", code, context="session", address="192.0.2.1")
    clock.advance(30)
    await two_factor.check("root", code_for(secret, clock), context="session", address="192.0.2.1")


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda code, wrong: wrong, id="wrong"),
        pytest.param(lambda code, wrong: code[:5], id="five-digits"),
        pytest.param(lambda code, wrong: code + "0", id="seven-digits"),
        pytest.param(lambda code, wrong: "abcdef", id="letters"),
        pytest.param(lambda code, wrong: f" {code[1:]}", id="space"),
    ],
)
async def test_set_refuses_a_bad_code(
    dispatcher: Dispatcher,
    root: Account,
    store: SqliteStore,
    clock: FrozenClock,
    mangle: Callable[[str, str], str],
) -> None:
    secret = await generate(dispatcher, ROOT)
    token = mangle(code_for(secret, clock), wrong_code_for(secret, clock))
    answer = await whm(
        dispatcher, ROOT, "twofactorauth_set_tfa_config", secret=secret, tfa_token=token
    )
    assert answer.status == 200 and metadata(answer)["result"] == 0
    assert "invalid" in metadata(answer)["reason"]
    assert await store.get_tfa_secret("root") is None


@pytest.mark.parametrize(
    "secret",
    [
        "JBSWY3DPEHPK3PXP",  # the 16 characters of cPanel's examples: 80 bits
        "JBSWY3DPEHPK3PXPJBSWY3DP",  # 120 bits
        "A" * 25,
        "jbswy3dpehpk3pxpjbswy3dpehpk",  # lower case
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK====",  # padding
        "JBSWY3DPEHPK3PXPJBSWY3DPEH01",  # not base32
    ],
)
async def test_set_refuses_a_short_or_malformed_secret(
    dispatcher: Dispatcher, root: Account, store: SqliteStore, clock: FrozenClock, secret: str
) -> None:
    answer = await whm(
        dispatcher,
        ROOT,
        "twofactorauth_set_tfa_config",
        secret=secret,
        tfa_token=best_code(secret, clock),
    )
    assert metadata(answer)["result"] == 0
    assert "secret" in metadata(answer)["reason"]
    assert await store.get_tfa_secret("root") is None


async def test_set_accepts_a_26_character_secret(
    dispatcher: Dispatcher, root: Account, store: SqliteStore, clock: FrozenClock
) -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEH"
    answer = await whm(
        dispatcher,
        ROOT,
        "twofactorauth_set_tfa_config",
        secret=secret,
        tfa_token=code_for(secret, clock),
    )
    assert metadata(answer)["result"] == 1
    assert await store.get_tfa_secret("root") is not None


async def test_set_needs_secret_and_code(dispatcher: Dispatcher, root: Account) -> None:
    secret = await generate(dispatcher, ROOT)
    for args in ({"secret": secret}, {"tfa_token": "123456"}):
        answer = await whm(dispatcher, ROOT, "twofactorauth_set_tfa_config", **args)
        assert metadata(answer)["result"] == 0
        assert "parameter is required" in metadata(answer)["reason"]


async def test_set_ends_the_users_other_sessions_but_keeps_the_callers(
    dispatcher: Dispatcher,
    reseller: Account,
    runtime: Runtime,
    store: SqliteStore,
    clock: FrozenClock,
    session_log: MemorySessionLog,
) -> None:
    own = await session_of(runtime, "res", "res", Service.WHM)
    other_whm = await session_of(runtime, "res", "res", Service.WHM)
    other_cpanel = await session_of(runtime, "res", "res", Service.CPANEL)
    carols = await session_of(runtime, "carol", "carol", Service.CPANEL)
    caller = dataclasses.replace(RESELLER, session_id=own)
    await enrol(dispatcher, clock, caller)
    assert await live_ids(store, "res") == {own}
    assert kills(session_log) == {other_whm, other_cpanel}
    assert await live_ids(store, "carol") == {carols}


# -- whose configuration -------------------------------------------------------------------------


async def test_get_user_configs_scopes(
    dispatcher: Dispatcher, bob: Account, reseller: Account, clock: FrozenClock
) -> None:
    await enrol(dispatcher, clock, ROOT, user="carol")
    everyone = data(await whm(dispatcher, ROOT, "twofactorauth_get_user_configs"))
    assert everyone == {
        "root": {"is_enabled": 0, "primary_domain": HOSTNAME},
        "bob": {"is_enabled": 0, "primary_domain": "bob.example"},
        "carol": {"is_enabled": 1, "primary_domain": "carol.example"},
        "res": {"is_enabled": 0, "primary_domain": "res.example"},
    }
    owned = data(await whm(dispatcher, RESELLER, "twofactorauth_get_user_configs"))
    assert owned == {
        "res": {"is_enabled": 0, "primary_domain": "res.example"},
        "carol": {"is_enabled": 1, "primary_domain": "carol.example"},
    }
    own = data(await whm(dispatcher, RESELLER_WITHOUT_CREATE, "twofactorauth_get_user_configs"))
    assert own == {"res": {"is_enabled": 0, "primary_domain": "res.example"}}
    one = data(await whm(dispatcher, RESELLER, "twofactorauth_get_user_configs", user="carol"))
    assert one == {"carol": {"is_enabled": 1, "primary_domain": "carol.example"}}


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("twofactorauth_generate_tfa_config", {}),
        ("twofactorauth_set_tfa_config", {"secret": "A" * 32, "tfa_token": "123456"}),
        ("twofactorauth_get_user_configs", {}),
    ],
)
async def test_a_reseller_acts_only_on_itself_and_its_accounts(
    dispatcher: Dispatcher, bob: Account, reseller: Account, name: str, args: dict[str, str]
) -> None:
    foreign = await whm(dispatcher, RESELLER, name, user="bob", **args)
    absent = await whm(dispatcher, RESELLER, name, user="ghost", **args)
    root_account = await whm(dispatcher, RESELLER, name, user="root", **args)
    assert foreign.status == absent.status == root_account.status == 403
    # the same answer for a foreign and an absent account: no enumeration
    assert foreign.document == absent.document == root_account.document
    without_acl = await whm(dispatcher, RESELLER_WITHOUT_CREATE, name, user="carol", **args)
    assert without_acl.status == 403
    assert "create-acct" in metadata(without_acl)["reason"]
    # root learns that an account does not exist
    root_absent = await whm(dispatcher, ROOT, name, user="ghost", **args)
    assert root_absent.status == 200 and metadata(root_absent)["result"] == 0
    assert "does not exist" in metadata(root_absent)["reason"]


async def test_a_reseller_and_root_configure_owned_accounts(
    dispatcher: Dispatcher,
    bob: Account,
    reseller: Account,
    clock: FrozenClock,
    two_factor: TwoFactor,
) -> None:
    generated = data(
        await whm(dispatcher, RESELLER, "twofactorauth_generate_tfa_config", user="carol")
    )
    assert uri_parts(generated["otpauth_str"])["label"] == "carol"
    await enrol(dispatcher, clock, RESELLER, user="carol")
    await enrol(dispatcher, clock, RESELLER_WITHOUT_CREATE)  # itself needs no create-acct
    await enrol(dispatcher, clock, ROOT, user="bob")
    assert [await two_factor.enrolled(u) for u in ("carol", "res", "bob")] == [True, True, True]


# -- removal ---------------------------------------------------------------------------------------


async def test_remove_disables_and_purges_the_users_sessions(
    dispatcher: Dispatcher,
    bob: Account,
    info_mailbox: None,
    runtime: Runtime,
    store: SqliteStore,
    clock: FrozenClock,
    two_factor: TwoFactor,
    session_log: MemorySessionLog,
) -> None:
    await enrol(dispatcher, clock, ROOT, user="bob")
    cpanel = await session_of(runtime, "bob", "bob", Service.CPANEL)
    webmail = await session_of(runtime, "bob", "bob", Service.WEBMAIL)
    mailbox = await session_of(runtime, "info@bob.example", "bob", Service.WEBMAIL)
    answer = await whm(dispatcher, ROOT, "twofactorauth_remove_user_config", user="bob")
    assert data(answer) == {"users_modified": ["bob"], "failed": {}}
    assert not await two_factor.enrolled("bob")
    assert await store.get_tfa_secret("bob") is None
    assert kills(session_log) == {cpanel, webmail}
    # the mailbox has its own second factor; its session stays
    assert await live_ids(store, "bob") == {mailbox}
    again = await whm(dispatcher, ROOT, "twofactorauth_remove_user_config", user="bob")
    assert data(again)["users_modified"] == [] and set(data(again)["failed"]) == {"bob"}


async def test_remove_reports_each_user(
    dispatcher: Dispatcher,
    bob: Account,
    reseller: Account,
    clock: FrozenClock,
    two_factor: TwoFactor,
) -> None:
    await enrol(dispatcher, clock, ROOT, user="bob")
    await enrol(dispatcher, clock, ROOT, user="carol")
    by_reseller = await whm(
        dispatcher,
        RESELLER,
        "twofactorauth_remove_user_config",
        user__0="bob",
        user__1="ghost",
        user__2="carol",
    )
    result = data(by_reseller)
    assert result["users_modified"] == ["carol"]
    assert result["failed"] == {"bob": "Permission denied", "ghost": "Permission denied"}
    assert await two_factor.enrolled("bob") and not await two_factor.enrolled("carol")
    by_root = await whm(
        dispatcher, ROOT, "twofactorauth_remove_user_config", user__0="bob", user__1="ghost"
    )
    assert data(by_root)["users_modified"] == ["bob"]
    assert "does not exist" in data(by_root)["failed"]["ghost"]
    nobody = await whm(dispatcher, ROOT, "twofactorauth_remove_user_config")
    assert metadata(nobody)["result"] == 0


# -- issuers ---------------------------------------------------------------------------------------


async def test_issuer_falls_back_from_reseller_to_system_to_hostname(
    dispatcher: Dispatcher, bob: Account, reseller: Account
) -> None:
    async def issuer_of(identity: Identity, user: str) -> str:
        answer = await whm(dispatcher, identity, "twofactorauth_generate_tfa_config", user=user)
        parts = uri_parts(data(answer)["otpauth_str"])
        assert parts["issuer"] == parts["query_issuer"]
        return parts["issuer"]

    assert await issuer_of(ROOT, "bob") == HOSTNAME
    issuers = data(await whm(dispatcher, ROOT, "twofactorauth_get_issuer"))
    assert issuers == {"issuer": HOSTNAME, "system_wide_issuer": HOSTNAME}
    root_set = await whm(dispatcher, ROOT, "twofactorauth_set_issuer", issuer="Example Host")
    assert metadata(root_set)["result"] == 1
    assert await issuer_of(ROOT, "bob") == "Example%20Host"
    assert await issuer_of(RESELLER, "carol") == "Example%20Host"
    res_set = await whm(dispatcher, RESELLER, "twofactorauth_set_issuer", issuer="Res Co.")
    assert metadata(res_set)["result"] == 1
    assert await issuer_of(RESELLER, "carol") == "Res%20Co."
    assert await issuer_of(RESELLER, "res") == "Res%20Co."
    assert await issuer_of(ROOT, "bob") == "Example%20Host"
    carols = data(
        await uapi(dispatcher, ROOT, MODULE, "generate_user_configuration", acting_user="carol")
    )
    assert uri_parts(carols["otpauth_str"])["issuer"] == "Res%20Co."
    assert data(await whm(dispatcher, RESELLER, "twofactorauth_get_issuer")) == {
        "issuer": "Res Co.",
        "system_wide_issuer": "Example Host",
    }
    assert data(await whm(dispatcher, ROOT, "twofactorauth_get_issuer")) == {
        "issuer": "Example Host",
        "system_wide_issuer": "Example Host",
    }


@pytest.mark.parametrize("issuer", ["", "x" * 33, "Evil:Co", "a/b", "new\nline", "Ünïcode"])
async def test_set_issuer_refuses_bad_names(
    dispatcher: Dispatcher, root: Account, store: SqliteStore, issuer: str
) -> None:
    answer = await whm(dispatcher, ROOT, "twofactorauth_set_issuer", issuer=issuer)
    assert metadata(answer)["result"] == 0
    assert data(await whm(dispatcher, ROOT, "twofactorauth_get_issuer"))["issuer"] == HOSTNAME


async def test_set_issuer_by_a_reseller_needs_create_acct(
    dispatcher: Dispatcher, reseller: Account, store: SqliteStore
) -> None:
    answer = await whm(
        dispatcher, RESELLER_WITHOUT_CREATE, "twofactorauth_set_issuer", issuer="Res Co"
    )
    assert answer.status == 403
    assert await store.get_issuer("res") is None


# -- UAPI TwoFactorAuth --------------------------------------------------------------------------


async def test_uapi_lifecycle_on_cpanel(
    dispatcher: Dispatcher,
    bob: Account,
    info_mailbox: None,
    runtime: Runtime,
    store: SqliteStore,
    clock: FrozenClock,
    two_factor: TwoFactor,
    session_log: MemorySessionLog,
) -> None:
    own = await session_of(runtime, "bob", "bob", Service.CPANEL)
    other = await session_of(runtime, "bob", "bob", Service.CPANEL)
    caller = dataclasses.replace(BOB, session_id=own)
    status = await uapi(dispatcher, caller, MODULE, "get_user_configuration")
    assert data(status) == {"is_enabled": 0}
    generated = data(await uapi(dispatcher, caller, MODULE, "generate_user_configuration"))
    secret = generated["secret"]
    assert uri_parts(generated["otpauth_str"]) == {
        "issuer": HOSTNAME,
        "label": "bob",
        "secret": secret,
        "query_issuer": HOSTNAME,
    }
    assert not await two_factor.enrolled("bob")
    wrong = await uapi(
        dispatcher,
        caller,
        MODULE,
        "set_user_configuration",
        secret=secret,
        tfa_token=wrong_code_for(secret, clock),
    )
    assert wrong.document["status"] == 0 and "invalid" in wrong.document["errors"][0]
    assert not await two_factor.enrolled("bob")
    configured = await uapi(
        dispatcher,
        caller,
        MODULE,
        "set_user_configuration",
        secret=secret,
        tfa_token=code_for(secret, clock),
    )
    assert data(configured) == {"tfa_configured": 1}
    assert await two_factor.required("bob")
    assert kills(session_log) == {other}
    enabled = await uapi(dispatcher, caller, MODULE, "get_user_configuration")
    assert data(enabled) == {"is_enabled": 1, "issuer": HOSTNAME}
    assert secret not in str(enabled.document)
    mailbox = await session_of(runtime, "info@bob.example", "bob", Service.WEBMAIL)
    later = await session_of(runtime, "bob", "bob", Service.WEBMAIL)
    removed = await uapi(dispatcher, caller, MODULE, "remove_user_configuration")
    assert data(removed) == {"tfa_removed": 1}
    assert not await two_factor.enrolled("bob")
    assert kills(session_log) == {other, later}
    assert await live_ids(store, "bob") == {own, mailbox}
    again = await uapi(dispatcher, caller, MODULE, "remove_user_configuration")
    assert data(again) == {"tfa_removed": 0}
    assert data(await uapi(dispatcher, caller, MODULE, "get_user_configuration")) == {
        "is_enabled": 0
    }


async def test_uapi_in_webmail_uses_the_mailbox_as_identity(
    dispatcher: Dispatcher,
    bob: Account,
    info_mailbox: None,
    store: SqliteStore,
    clock: FrozenClock,
    two_factor: TwoFactor,
) -> None:
    generated = await uapi(
        dispatcher, INFO, MODULE, "generate_user_configuration", service=Service.WEBMAIL
    )
    secret = data(generated)["secret"]
    assert uri_parts(data(generated)["otpauth_str"])["label"] == "info%40bob.example"
    configured = await uapi(
        dispatcher,
        INFO,
        MODULE,
        "set_user_configuration",
        service=Service.WEBMAIL,
        secret=secret,
        tfa_token=code_for(secret, clock),
    )
    assert data(configured) == {"tfa_configured": 1}
    assert await store.get_tfa_secret("info@bob.example") is not None
    assert await store.get_tfa_secret("bob") is None
    assert await two_factor.required("info@bob.example")
    mailbox_status = await uapi(
        dispatcher, INFO, MODULE, "get_user_configuration", service=Service.WEBMAIL
    )
    assert data(mailbox_status)["is_enabled"] == 1
    assert data(await uapi(dispatcher, BOB, MODULE, "get_user_configuration"))["is_enabled"] == 0
    # the account's own Webmail session acts as the account user
    default_mailbox = mail_identity("bob", "bob")
    own = await uapi(
        dispatcher, default_mailbox, MODULE, "get_user_configuration", service=Service.WEBMAIL
    )
    assert data(own)["is_enabled"] == 0
    removed = await uapi(
        dispatcher, INFO, MODULE, "remove_user_configuration", service=Service.WEBMAIL
    )
    assert data(removed) == {"tfa_removed": 1}
    assert not await two_factor.enrolled("info@bob.example")


@pytest.mark.parametrize(
    "name",
    [
        "get_user_configuration",
        "generate_user_configuration",
        "set_user_configuration",
        "remove_user_configuration",
    ],
)
async def test_uapi_needs_the_twofactorauth_feature(
    dispatcher: Dispatcher, bob: Account, info_mailbox: None, store: SqliteStore, name: str
) -> None:
    assert (await uapi(dispatcher, BOB, MODULE, name)).status == 200
    await store.save_feature_list("default", {"twofactorauth": False})
    for identity, service in ((BOB, Service.CPANEL), (INFO, Service.WEBMAIL)):
        answer = await uapi(dispatcher, identity, MODULE, name, service=service)
        assert answer.status == 403
        assert answer.document["errors"][0] == "Permission denied"
