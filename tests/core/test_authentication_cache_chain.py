"""Basic authentication's credential cache and rehash-on-login, and the authenticator chain."""

from __future__ import annotations

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.authentication import (
    AuthAttempt,
    AuthenticatorChain,
    AuthFacts,
    BasicAuthenticator,
)
from panelauth.core.bruteforce import Gate
from panelauth.core.credential_cache import CredentialCache
from panelauth.core.models import CredentialKind, Identity, IdentityKind, Mailbox, root_identity
from panelauth.core.passwords import Argon2Parameters, HashingPool, PasswordHasher
from panelauth.errors import AuthenticationFailed
from panelauth.protocol.authorization import HeaderSecretCredentials, MalformedCredentials, Scheme
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from tests.conftest import BOB_PASSWORD
from tests.core.conftest import MAIL_PASSWORD, RES_PASSWORD, CountingHasher, attempt, refused

WRONG = "user password incorrect"


# -- the credential cache -----------------------------------------------------------------------


@pytest.mark.usefixtures("population")
async def test_a_verified_password_is_served_from_the_cache(
    basic: BasicAuthenticator, counting_hasher: CountingHasher, cache: CredentialCache
) -> None:
    for _ in range(3):
        assert await basic.authenticate(attempt("bob", BOB_PASSWORD)) is not None
    assert len(counting_hasher.verified) == 1
    assert len(cache) == 1


@pytest.mark.usefixtures("population")
async def test_failures_are_never_cached(
    basic: BasicAuthenticator, counting_hasher: CountingHasher, cache: CredentialCache
) -> None:
    for _ in range(3):
        await refused(basic, attempt("bob", "wrong-password"))
        await refused(basic, attempt("ghost", "wrong-password"))
    assert len(counting_hasher.verified) == 6
    assert len(cache) == 0


@pytest.mark.usefixtures("population")
async def test_a_password_change_invalidates_the_cached_password(
    basic: BasicAuthenticator, accounts: Accounts, counting_hasher: CountingHasher
) -> None:
    assert await basic.authenticate(attempt("bob", BOB_PASSWORD)) is not None
    await accounts.change_password("bob", "new-Passw0rd!")
    counting_hasher.verified.clear()
    assert (await refused(basic, attempt("bob", BOB_PASSWORD))).detail == WRONG
    assert len(counting_hasher.verified) == 1
    assert await basic.authenticate(attempt("bob", "new-Passw0rd!")) is not None


@pytest.mark.usefixtures("population")
async def test_cache_entries_expire(
    basic: BasicAuthenticator, counting_hasher: CountingHasher, clock: FrozenClock
) -> None:
    await basic.authenticate(attempt("bob", BOB_PASSWORD))
    clock.advance(301)
    await basic.authenticate(attempt("bob", BOB_PASSWORD))
    assert len(counting_hasher.verified) == 2


@pytest.mark.usefixtures("population")
async def test_one_cached_password_serves_the_account_on_every_service_it_may_use(
    basic: BasicAuthenticator, counting_hasher: CountingHasher
) -> None:
    await basic.authenticate(attempt("res", RES_PASSWORD, Service.WHM))
    identity = await basic.authenticate(attempt("res", RES_PASSWORD, Service.CPANEL))
    assert identity is not None
    assert identity.kind is IdentityKind.CPANEL
    assert len(counting_hasher.verified) == 1


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
    def __init__(self, answer: Identity | AuthenticationFailed | None) -> None:
        self.answer = answer
        self.calls = 0

    async def authenticate(self, attempt: AuthFacts, gate: Gate | None = None) -> Identity | None:
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
    failing = Fixed(AuthenticationFailed("api token expired", claimed_user="bob"))
    later = Fixed(BOB)
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


async def test_chain_refuses_a_malformed_header_before_asking_anyone() -> None:
    first = Fixed(BOB)
    malformed = MalformedCredentials("password too long", claimed_user="bob")
    facts = AuthAttempt(None, Service.CPANEL, "203.0.113.7", malformed=malformed)
    with pytest.raises(AuthenticationFailed) as raised:
        await AuthenticatorChain([first]).authenticate(facts)
    assert (raised.value.detail, raised.value.claimed_user) == ("password too long", "bob")
    assert first.calls == 0


async def test_chain_without_a_taker_refuses_and_names_nobody_without_credentials() -> None:
    facts = AuthAttempt(None, Service.CPANEL, "203.0.113.7")
    with pytest.raises(AuthenticationFailed) as raised:
        await AuthenticatorChain([Fixed(None)]).authenticate(facts)
    assert (raised.value.detail, raised.value.claimed_user) == ("api token incorrect", "")
