"""The authenticator chain and Basic password authentication (w§2.1, PW-3, PW-4, PW-8)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.authentication import (
    AuthAttempt,
    AuthenticatorChain,
    BasicAuthenticator,
)
from panelauth.core.credential_cache import CredentialCache
from panelauth.core.models import (
    Account,
    CredentialKind,
    Identity,
    IdentityKind,
    Mailbox,
    root_identity,
)
from panelauth.core.passwords import (
    Argon2Parameters,
    HashingPool,
    PasswordHasher,
    VerifiedPassword,
)
from panelauth.errors import AuthenticationFailed
from panelauth.protocol.authorization import BasicCredentials, HeaderSecretCredentials, Scheme
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from tests.conftest import BOB_PASSWORD, CHEAP_ARGON2, ROOT_PASSWORD

MAIL_PASSWORD = "mail-Passw0rd!"
RES_PASSWORD = "res-Passw0rd!"
CAROL_PASSWORD = "carol-Passw0rd!"
RES_ACLS = frozenset({"list-accts", "create-acct", "suspend-acct", "passwd"})
UNKNOWN = "user name not provided or invalid user"
WRONG = "user password incorrect"
SUSPENDED = "account suspended"


class CountingHasher(PasswordHasher):
    """A real hasher that records the stored hash of every verification it runs."""

    def __init__(self, parameters: Argon2Parameters) -> None:
        super().__init__(parameters)
        self.verified: list[str] = []

    def verify(self, stored_hash: str, password: str) -> VerifiedPassword:
        self.verified.append(stored_hash)
        return super().verify(stored_hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher(CHEAP_ARGON2)


@pytest.fixture
def pool(hasher: CountingHasher) -> Iterator[HashingPool]:
    """Replaces conftest's pool, so every fixture account is hashed by the counting hasher."""
    hashing = HashingPool(hasher, threads=2)
    yield hashing
    hashing.close()


@pytest.fixture
def cache(clock: FrozenClock) -> CredentialCache:
    return CredentialCache(clock)


@pytest.fixture
def basic(store: SqliteStore, pool: HashingPool, cache: CredentialCache) -> BasicAuthenticator:
    return BasicAuthenticator(store, pool, cache)


@pytest.fixture
async def mailbox(accounts: Accounts, bob: Account) -> Mailbox:
    return await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password=MAIL_PASSWORD, quota_mb=0
    )


@pytest.fixture
async def population(
    root: Account, bob: Account, reseller: Account, mailbox: Mailbox, hasher: CountingHasher
) -> None:
    """root, bob (with info@bob.example), reseller res owning carol; the counter reset."""
    hasher.verified.clear()


def attempt(user: str, password: str, service: Service = Service.CPANEL) -> AuthAttempt:
    return AuthAttempt(BasicCredentials(user, Secret(password)), service, "203.0.113.7")


async def refused(authenticator: BasicAuthenticator, login: AuthAttempt) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as raised:
        await authenticator.authenticate(login)
    return raised.value


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
    hasher: CountingHasher,
    service: Service,
    user: str,
    password: str,
) -> None:
    error = await refused(basic, attempt(user, password, service))
    assert (error.detail, error.claimed_user) == (UNKNOWN, user)
    # no timing oracle (PW-4): the hasher still ran, once, against the dummy hash
    assert hasher.verified == [hasher.dummy_hash]


@pytest.mark.usefixtures("population")
async def test_mailbox_of_a_removed_account_is_refused_with_equal_work(
    basic: BasicAuthenticator, store: SqliteStore, hasher: CountingHasher
) -> None:
    orphan = Mailbox("x@gone.example", "gone", await basic._pool.hash("orphan-Passw0rd"))
    await store.insert_account(Account("gone", "gone.example", "root", "!"))
    await store.insert_mailbox(orphan)
    await store.set_owner("gone", "root")
    await store.delete_account("gone")  # cascades to the mailbox in SQLite
    hasher.verified.clear()
    error = await refused(basic, attempt("x@gone.example", "orphan-Passw0rd", Service.WEBMAIL))
    assert error.detail == UNKNOWN
    assert hasher.verified == [hasher.dummy_hash]


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
    basic: BasicAuthenticator, hasher: CountingHasher, service: Service, user: str, password: str
) -> None:
    error = await refused(basic, attempt(user, password, service))
    assert (error.detail, error.claimed_user) == (WRONG, user)
    assert len(hasher.verified) == 1
    assert hasher.verified != [hasher.dummy_hash]


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
    hasher: CountingHasher,
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
    assert len(hasher.verified) == 2


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


# -- the credential cache -----------------------------------------------------------------------


@pytest.mark.usefixtures("population")
async def test_a_verified_password_is_served_from_the_cache(
    basic: BasicAuthenticator, hasher: CountingHasher, cache: CredentialCache
) -> None:
    for _ in range(3):
        assert await basic.authenticate(attempt("bob", BOB_PASSWORD)) is not None
    assert len(hasher.verified) == 1
    assert len(cache) == 1


@pytest.mark.usefixtures("population")
async def test_failures_are_never_cached(
    basic: BasicAuthenticator, hasher: CountingHasher, cache: CredentialCache
) -> None:
    for _ in range(3):
        await refused(basic, attempt("bob", "wrong-password"))
        await refused(basic, attempt("ghost", "wrong-password"))
    assert len(hasher.verified) == 6
    assert len(cache) == 0


@pytest.mark.usefixtures("population")
async def test_a_password_change_invalidates_the_cached_password(
    basic: BasicAuthenticator, accounts: Accounts, hasher: CountingHasher
) -> None:
    assert await basic.authenticate(attempt("bob", BOB_PASSWORD)) is not None
    await accounts.change_password("bob", "new-Passw0rd!")
    hasher.verified.clear()
    assert (await refused(basic, attempt("bob", BOB_PASSWORD))).detail == WRONG
    assert len(hasher.verified) == 1
    assert await basic.authenticate(attempt("bob", "new-Passw0rd!")) is not None


@pytest.mark.usefixtures("population")
async def test_cache_entries_expire(
    basic: BasicAuthenticator, hasher: CountingHasher, clock: FrozenClock
) -> None:
    await basic.authenticate(attempt("bob", BOB_PASSWORD))
    clock.advance(301)
    await basic.authenticate(attempt("bob", BOB_PASSWORD))
    assert len(hasher.verified) == 2


@pytest.mark.usefixtures("population")
async def test_one_cached_password_serves_the_account_on_every_service_it_may_use(
    basic: BasicAuthenticator, hasher: CountingHasher
) -> None:
    await basic.authenticate(attempt("res", RES_PASSWORD, Service.WHM))
    identity = await basic.authenticate(attempt("res", RES_PASSWORD, Service.CPANEL))
    assert identity is not None
    assert identity.kind is IdentityKind.CPANEL
    assert len(hasher.verified) == 1


# -- rehash on login (PW-1) ---------------------------------------------------------------------

STRONGER = Argon2Parameters(time_cost=2, memory_cost_kib=256, parallelism=1)


@pytest.mark.usefixtures("population")
async def test_rehashes_an_account_when_parameters_change(
    store: SqliteStore, cache: CredentialCache
) -> None:
    before = await store.get_account("bob")
    assert before is not None
    stronger = HashingPool(PasswordHasher(STRONGER), threads=1)
    try:
        authenticator = BasicAuthenticator(store, stronger, cache)
        assert await authenticator.authenticate(attempt("bob", BOB_PASSWORD)) is not None
        after = await store.get_account("bob")
        assert after is not None
        assert after.password_hash != before.password_hash
        assert "$m=256,t=2,p=1$" in after.password_hash
        assert after.credential_version == before.credential_version  # a rehash is no change
        assert (await stronger.verify(after.password_hash, Secret(BOB_PASSWORD))).ok
    finally:
        stronger.close()


@pytest.mark.usefixtures("population")
async def test_rehashes_a_mailbox_when_parameters_change(
    store: SqliteStore, cache: CredentialCache, mailbox: Mailbox
) -> None:
    stronger = HashingPool(PasswordHasher(STRONGER), threads=1)
    try:
        authenticator = BasicAuthenticator(store, stronger, cache)
        login = attempt("info@bob.example", MAIL_PASSWORD, Service.WEBMAIL)
        assert await authenticator.authenticate(login) is not None
        after = await store.get_mailbox("info@bob.example")
        assert after is not None
        assert "$m=256,t=2,p=1$" in after.password_hash
        assert after.credential_version == mailbox.credential_version
        account = await store.get_account("bob")
        assert account is not None
        assert "$m=256,t=1,p=1$" in account.password_hash  # the account's hash is untouched
    finally:
        stronger.close()


@pytest.mark.usefixtures("population")
async def test_no_rehash_when_parameters_are_current(
    basic: BasicAuthenticator, store: SqliteStore
) -> None:
    before = await store.get_account("bob")
    await basic.authenticate(attempt("bob", BOB_PASSWORD))
    assert await store.get_account("bob") == before


@pytest.mark.usefixtures("population")
async def test_no_rehash_on_a_wrong_password(store: SqliteStore, cache: CredentialCache) -> None:
    before = await store.get_account("bob")
    stronger = HashingPool(PasswordHasher(STRONGER), threads=1)
    try:
        authenticator = BasicAuthenticator(store, stronger, cache)
        await refused(authenticator, attempt("bob", "wrong-password"))
        assert await store.get_account("bob") == before
    finally:
        stronger.close()


# -- the chain ----------------------------------------------------------------------------------


async def test_basic_authenticator_ignores_other_credentials(basic: BasicAuthenticator) -> None:
    token = HeaderSecretCredentials(Scheme.WHM, "root", Secret("TOKEN"))
    assert await basic.authenticate(AuthAttempt(token, Service.WHM, "203.0.113.7")) is None


class Fixed:
    def __init__(self, answer: Identity | None | AuthenticationFailed) -> None:
        self.answer = answer
        self.calls = 0

    async def authenticate(self, attempt: AuthAttempt) -> Identity | None:
        self.calls += 1
        if isinstance(self.answer, AuthenticationFailed):
            raise self.answer
        return self.answer


BOB = Identity("bob", IdentityKind.CPANEL, CredentialKind.API_TOKEN, "bob")


async def test_chain_returns_the_first_identity() -> None:
    first, second, third = Fixed(None), Fixed(BOB), Fixed(root_identity(CredentialKind.SESSION))
    chain = AuthenticatorChain([first, second, third])
    assert await chain.authenticate(attempt("bob", "x")) == BOB
    assert (first.calls, second.calls, third.calls) == (1, 1, 0)


async def test_chain_stops_at_the_first_failure() -> None:
    failing, later = Fixed(AuthenticationFailed("api token expired", claimed_user="bob")), Fixed(BOB)
    chain = AuthenticatorChain([failing, later])
    with pytest.raises(AuthenticationFailed, match="Access denied") as raised:
        await chain.authenticate(attempt("bob", "x"))
    assert raised.value.detail == "api token expired"
    assert later.calls == 0


@pytest.mark.parametrize("authenticators", [0, 1, 3])
async def test_chain_refuses_when_no_authenticator_claims_the_credentials(
    authenticators: int,
) -> None:
    chain = AuthenticatorChain([Fixed(None) for _ in range(authenticators)])
    with pytest.raises(AuthenticationFailed) as raised:
        await chain.authenticate(attempt("mallory", "x"))
    assert raised.value.claimed_user == "mallory"
    assert raised.value.status == 403
    assert raised.value.message == "Access denied"
