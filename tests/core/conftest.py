"""Fixtures for the authentication tests: a counting hasher behind every account, a population."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.authentication import AuthAttempt, BasicAuthenticator
from panelauth.core.credential_cache import CredentialCache
from panelauth.core.models import Account, Mailbox
from panelauth.core.passwords import (
    Argon2Parameters,
    HashingPool,
    PasswordHasher,
    VerifiedPassword,
)
from panelauth.errors import AuthenticationFailed
from panelauth.protocol.authorization import BasicCredentials
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from tests.conftest import CHEAP_ARGON2

MAIL_PASSWORD = "mail-Passw0rd!"
RES_PASSWORD = "res-Passw0rd!"
CAROL_PASSWORD = "carol-Passw0rd!"


class CountingHasher(PasswordHasher):
    """A real hasher that records the stored hash of every verification it runs."""

    def __init__(self, parameters: Argon2Parameters) -> None:
        super().__init__(parameters)
        self.verified: list[str] = []

    def verify(self, stored_hash: str, password: str) -> VerifiedPassword:
        self.verified.append(stored_hash)
        return super().verify(stored_hash, password)


@pytest.fixture
def counting_hasher() -> CountingHasher:
    return CountingHasher(CHEAP_ARGON2)


@pytest.fixture
def pool(counting_hasher: CountingHasher) -> Iterator[HashingPool]:
    """Replaces the top-level pool, so fixture accounts are hashed by the counting hasher."""
    hashing = HashingPool(counting_hasher, threads=2)
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
    root: Account,
    bob: Account,
    reseller: Account,
    mailbox: Mailbox,
    counting_hasher: CountingHasher,
) -> None:
    """root, bob (with info@bob.example), reseller res owning carol; the counter reset."""
    counting_hasher.verified.clear()


def attempt(user: str, password: str, service: Service = Service.CPANEL) -> AuthAttempt:
    return AuthAttempt(BasicCredentials(user, Secret(password)), service, "203.0.113.7")


async def refused(authenticator: BasicAuthenticator, login: AuthAttempt) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as raised:
        await authenticator.authenticate(login)
    return raised.value
