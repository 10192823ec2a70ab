"""Reauthenticator and CredentialChanges: who re-authenticates, with what, what a change does."""

from __future__ import annotations

import pyotp
import pytest

from panelauth.api.context import Runtime
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.audit import MemoryAccountingLog
from panelauth.core.models import Account, CredentialKind, Identity, IdentityKind
from panelauth.core.passwords import HashingPool
from panelauth.core.reauthentication import (
    Reauthentication,
    Reauthenticator,
    ReauthFactor,
    principal_of,
)
from panelauth.core.tokens import TokenKind
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import AlreadyExists
from panelauth.secret import Secret
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ADDRESS = "192.0.2.10"
MAIL_PASSWORD = "info-Pw-1234"

BOB = Identity("bob", IdentityKind.CPANEL, CredentialKind.SESSION, "bob", session_id="s1")
BOB_AS_ROOT = Identity(
    "bob", IdentityKind.CPANEL, CredentialKind.SESSION, "bob", session_id="s2", possessor="root"
)
INFO = Identity("info@bob.example", IdentityKind.MAIL, CredentialKind.SESSION, "bob")


@pytest.fixture
def reauth(store: SqliteStore, pool: HashingPool, two_factor: TwoFactor) -> Reauthenticator:
    return Reauthenticator(store, pool, two_factor)


@pytest.fixture
async def mailbox(accounts: Accounts, bob: Account) -> None:
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password=MAIL_PASSWORD, quota_mb=0
    )


def code_at(clock: FrozenClock) -> str:
    return pyotp.TOTP(SECRET).at(clock.now())


async def check(
    reauth: Reauthenticator, identity: Identity, password: str = "", code: str = ""
) -> Reauthentication:
    return await reauth.verify(identity, password=Secret(password), code=code, address=ADDRESS)


def test_the_possessor_is_the_principal() -> None:
    assert principal_of(BOB) == "bob"
    assert principal_of(BOB_AS_ROOT) == "root"


async def test_passwords(reauth: Reauthenticator, bob: Account, root: Account) -> None:
    assert await check(reauth, BOB, BOB_PASSWORD) == Reauthentication(
        "bob", ReauthFactor.PASSWORD, True
    )
    assert await check(reauth, BOB, "wrong-Passw0rd") == Reauthentication(
        "bob", ReauthFactor.PASSWORD, False, "user password incorrect"
    )
    # root entered bob's account: root's password, not bob's
    assert not (await check(reauth, BOB_AS_ROOT, BOB_PASSWORD)).accepted
    assert (await check(reauth, BOB_AS_ROOT, ROOT_PASSWORD)).accepted


async def test_nothing_given_is_refused_without_a_factor(
    reauth: Reauthenticator, bob: Account
) -> None:
    assert await check(reauth, BOB) == Reauthentication(
        "bob", None, False, "reauthentication missing"
    )


async def test_mailbox_passwords(reauth: Reauthenticator, mailbox: None) -> None:
    assert (await check(reauth, INFO, MAIL_PASSWORD)).accepted
    ghost = Identity("ghost@bob.example", IdentityKind.MAIL, CredentialKind.SESSION, "bob")
    assert (await check(reauth, ghost, MAIL_PASSWORD)).detail == "user password incorrect"


async def test_an_unknown_or_suspended_principal_is_refused(
    reauth: Reauthenticator, store: SqliteStore, bob: Account
) -> None:
    gone = Identity("gone", IdentityKind.CPANEL, CredentialKind.SESSION, "gone")
    assert (await check(reauth, gone, BOB_PASSWORD)).detail == "user password incorrect"
    await store.set_suspended("bob", True, "test")
    assert await check(reauth, BOB, BOB_PASSWORD) == Reauthentication(
        "bob", ReauthFactor.PASSWORD, False, "account suspended"
    )


async def test_a_code_is_accepted_once(
    reauth: Reauthenticator, two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    await two_factor.enrol("bob", SECRET, code_at(clock), address=ADDRESS)
    clock.advance(30)
    code = code_at(clock)
    # the code decides when both are given
    assert await check(reauth, BOB, "wrong-Passw0rd", code) == Reauthentication(
        "bob", ReauthFactor.TOTP, True
    )
    assert await check(reauth, BOB, code=code) == Reauthentication(
        "bob", ReauthFactor.TOTP, False, "2fa code reused"
    )
    # root has no second factor of its own
    refused = await check(reauth, BOB_AS_ROOT, code=code)
    assert (refused.principal, refused.detail) == ("root", "2fa not configured")


async def test_credential_changes(
    runtime: Runtime, accounting: MemoryAccountingLog, mailbox: None, clock: FrozenClock
) -> None:
    changes = runtime.credential_changes()
    await changes.change_password(
        "info@bob.example", Secret("info-New-Pw-1"), actor="bob", caller_session=None, address=None
    )
    stored = await runtime.store.get_mailbox("info@bob.example")
    assert stored is not None
    assert (await runtime.passwords.verify(stored.password_hash, Secret("info-New-Pw-1"))).ok
    await changes.change_password(
        "bob", "bob-New-Passw0rd", actor="root", caller_session=None, address=None
    )
    account = await runtime.store.get_account("bob")
    assert account is not None and account.credential_version == 2
    assert not await changes.remove_two_factor("bob", actor="bob", keep=None, address=ADDRESS)
    await runtime.two_factor.enrol("bob", SECRET, code_at(clock), address=ADDRESS)
    assert await changes.remove_two_factor("bob", actor="root", keep=None, address=ADDRESS)
    issued = await changes.create_token(
        actor="root", owner="bob", kind=TokenKind.CPANEL, name="one"
    )
    assert issued.token.owner == "bob" and len(issued.plain) == 32
    assert accounting.events == [
        ("PASSWD", "bob", "info@bob.example"),
        ("PASSWD", "root", "bob"),
        ("TWOFACTORAUTH_REMOVE", "root", "bob"),
        ("API_TOKEN_CREATE", "root", "bob", "cpanel", "one"),
    ]
    with pytest.raises(AlreadyExists):
        await changes.create_token(actor="bob", owner="bob", kind=TokenKind.CPANEL, name="one")
