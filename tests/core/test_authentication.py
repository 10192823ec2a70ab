"""Basic password authentication: identities per service, checks, suspension (w§2.1, PW-3/4/8)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.core.accounts import Accounts
from panelauth.core.authentication import BasicAuthenticator
from panelauth.core.models import (
    Account,
    CredentialKind,
    Identity,
    IdentityKind,
    Mailbox,
    root_identity,
)
from panelauth.protocol.services import Service
from tests.conftest import BOB_PASSWORD, ROOT_PASSWORD
from tests.core.conftest import (
    CAROL_PASSWORD,
    MAIL_PASSWORD,
    RES_PASSWORD,
    CountingHasher,
    attempt,
    refused,
)

RES_ACLS = frozenset({"list-accts", "create-acct", "suspend-acct", "passwd"})
UNKNOWN = "user name not provided or invalid user"
WRONG = "user password incorrect"
SUSPENDED = "account suspended"


# -- identities per service (w§2.1, w§2.7) ------------------------------------------------------


@pytest.mark.usefixtures("population")
@pytest.mark.parametrize(
    ("service", "user", "password", "expected"),
    [
        (Service.WHM, "root", ROOT_PASSWORD, root_identity(CredentialKind.PASSWORD)),
        (
            Service.WHM,
            "res",
            RES_PASSWORD,
            Identity("res", IdentityKind.RESELLER, CredentialKind.PASSWORD, "res", RES_ACLS),
        ),
        (
            Service.CPANEL,
            "bob",
            BOB_PASSWORD,
            Identity("bob", IdentityKind.CPANEL, CredentialKind.PASSWORD, "bob"),
        ),
        (
            Service.CPANEL,
            "res",
            RES_PASSWORD,
            Identity("res", IdentityKind.CPANEL, CredentialKind.PASSWORD, "res"),
        ),
        (
            Service.WEBMAIL,
            "bob",
            BOB_PASSWORD,
            Identity("bob", IdentityKind.MAIL, CredentialKind.PASSWORD, "bob"),
        ),
        (
            Service.WEBMAIL,
            "info@bob.example",
            MAIL_PASSWORD,
            Identity("info@bob.example", IdentityKind.MAIL, CredentialKind.PASSWORD, "bob"),
        ),
        (
            Service.WEBMAIL,
            "Info@BOB.example",
            MAIL_PASSWORD,
            Identity("info@bob.example", IdentityKind.MAIL, CredentialKind.PASSWORD, "bob"),
        ),
    ],
)
async def test_admits_the_identities_each_service_allows(
    basic: BasicAuthenticator, service: Service, user: str, password: str, expected: Identity
) -> None:
    assert await basic.authenticate(attempt(user, password, service)) == expected


@pytest.mark.usefixtures("population")
@pytest.mark.parametrize(
    ("service", "user", "password"),
    [
        (Service.CPANEL, "root", ROOT_PASSWORD),  # root is never a cPanel identity
        (Service.WEBMAIL, "root", ROOT_PASSWORD),
        (Service.WHM, "bob", BOB_PASSWORD),  # not a reseller
        (Service.WHM, "carol", CAROL_PASSWORD),
        (Service.CPANEL, "info@bob.example", MAIL_PASSWORD),  # mailboxes are Webmail only
        (Service.WHM, "info@bob.example", MAIL_PASSWORD),
        (Service.WEBMAIL, "nobody@bob.example", MAIL_PASSWORD),
        (Service.CPANEL, "nosuchuser", BOB_PASSWORD),
        (Service.CPANEL, "BOB", BOB_PASSWORD),  # account names are exact
    ],
)
async def test_refuses_identities_the_service_does_not_allow(
    basic: BasicAuthenticator,
    counting_hasher: CountingHasher,
    service: Service,
    user: str,
    password: str,
) -> None:
    error = await refused(basic, attempt(user, password, service))
    assert (error.detail, error.claimed_user) == (UNKNOWN, user)
    # no timing oracle (PW-4): the hasher still ran, once, against the dummy hash
    assert counting_hasher.verified == [counting_hasher.dummy_hash]


@pytest.mark.usefixtures("population")
async def test_mailbox_whose_owner_is_missing_is_refused_with_equal_work(
    basic: BasicAuthenticator,
    store: SqliteStore,
    counting_hasher: CountingHasher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_get_account = store.get_account

    async def get_account_without_bob(user: str) -> Account | None:
        return None if user == "bob" else await real_get_account(user)

    monkeypatch.setattr(store, "get_account", get_account_without_bob)
    error = await refused(basic, attempt("info@bob.example", MAIL_PASSWORD, Service.WEBMAIL))
    assert error.detail == UNKNOWN
    assert counting_hasher.verified == [counting_hasher.dummy_hash]


# -- password checks ----------------------------------------------------------------------------


@pytest.mark.usefixtures("population")
@pytest.mark.parametrize(
    ("service", "user", "password"),
    [
        (Service.WHM, "root", "wrong-password"),
        (Service.WHM, "root", ROOT_PASSWORD.upper()),
        (Service.CPANEL, "bob", BOB_PASSWORD + " "),
        (Service.CPANEL, "bob", ""),
        (Service.WEBMAIL, "info@bob.example", BOB_PASSWORD),
        (Service.WEBMAIL, "bob", MAIL_PASSWORD),
    ],
)
async def test_wrong_password_is_refused_after_one_verification(
    basic: BasicAuthenticator,
    counting_hasher: CountingHasher,
    service: Service,
    user: str,
    password: str,
) -> None:
    error = await refused(basic, attempt(user, password, service))
    assert (error.detail, error.claimed_user) == (WRONG, user)
    assert len(counting_hasher.verified) == 1
    assert counting_hasher.verified != [counting_hasher.dummy_hash]


@pytest.mark.usefixtures("population")
@pytest.mark.parametrize("record", ["!", "*", "", "$6$saltsalt$" + "h" * 86, "!$argon2id$x"])
async def test_locked_or_foreign_records_refuse_without_raising_otherwise(
    basic: BasicAuthenticator, store: SqliteStore, record: str
) -> None:
    await store.set_password_hash("bob", record, rotate=False)
    error = await refused(basic, attempt("bob", BOB_PASSWORD))
    assert error.detail == WRONG


@pytest.mark.usefixtures("population")
async def test_password_is_verified_after_nfc_normalisation(
    basic: BasicAuthenticator, accounts: Accounts
) -> None:
    await accounts.change_password("bob", "cafe\u0301-Passw0rd")
    identity = await basic.authenticate(attempt("bob", "caf\u00e9-Passw0rd"))
    assert identity is not None
    assert identity.user == "bob"


# -- suspension (PW-8) --------------------------------------------------------------------------


@pytest.mark.usefixtures("population")
@pytest.mark.parametrize(
    ("service", "user", "password", "suspend"),
    [
        (Service.CPANEL, "bob", BOB_PASSWORD, "bob"),
        (Service.WEBMAIL, "bob", BOB_PASSWORD, "bob"),
        (Service.WEBMAIL, "info@bob.example", MAIL_PASSWORD, "bob"),  # the owner is suspended
        (Service.WHM, "res", RES_PASSWORD, "res"),
    ],
)
async def test_suspended_account_is_refused_after_the_password_check(
    basic: BasicAuthenticator,
    store: SqliteStore,
    counting_hasher: CountingHasher,
    service: Service,
    user: str,
    password: str,
    suspend: str,
) -> None:
    await store.set_suspended(suspend, True, "unpaid")
    right = await refused(basic, attempt(user, password, service))
    assert (right.detail, right.claimed_user) == (SUSPENDED, user)
    wrong = await refused(basic, attempt(user, "wrong-password", service))
    assert wrong.detail == WRONG  # the suspension shows only to the right password
    assert len(counting_hasher.verified) == 2


@pytest.mark.usefixtures("population")
async def test_mailbox_with_suspended_login_is_refused(
    basic: BasicAuthenticator, store: SqliteStore, mailbox: Mailbox
) -> None:
    await store.delete_mailbox(mailbox.address)
    await store.insert_mailbox(replace(mailbox, suspended_login=True))
    error = await refused(basic, attempt("info@bob.example", MAIL_PASSWORD, Service.WEBMAIL))
    assert error.detail == SUSPENDED
    assert await basic.authenticate(attempt("bob", BOB_PASSWORD, Service.WEBMAIL)) is not None


@pytest.mark.usefixtures("population")
async def test_suspension_applies_even_when_the_password_is_cached(
    basic: BasicAuthenticator, store: SqliteStore
) -> None:
    assert await basic.authenticate(attempt("bob", BOB_PASSWORD)) is not None
    await store.set_suspended("bob", True, "abuse")
    assert (await refused(basic, attempt("bob", BOB_PASSWORD))).detail == SUSPENDED
    await store.set_suspended("bob", False, "")
    assert await basic.authenticate(attempt("bob", BOB_PASSWORD)) is not None
