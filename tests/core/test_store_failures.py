"""Which store writes are best effort and which fail closed (FT-4, FT-5, issue 8).

Best effort: a session's last-seen touch (the idle clock is then not extended) and the rehash
of a verified password. Fail closed (StoreUnavailable, 503): every read of a credential and the
write that creates a session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.audit import MemorySessionLog
from panelauth.core.authentication import BasicAuthenticator
from panelauth.core.credential_cache import CredentialCache
from panelauth.core.models import Account
from panelauth.core.passwords import Argon2Parameters, HashingPool, PasswordHasher
from panelauth.core.session_manager import SessionManager
from panelauth.core.sessions import SessionKind, SessionPolicy, SessionState
from panelauth.errors import StoreUnavailable
from panelauth.protocol.services import Service
from tests.conftest import BOB_PASSWORD, migrated
from tests.core.conftest import MAIL_PASSWORD, attempt

ADDRESS = "192.0.2.10"
STRONGER = Argon2Parameters(time_cost=2, memory_cost_kib=256, parallelism=1)


class WriteLocked(SqliteStore):
    """Reads work, every write fails the way a held SQLite write lock makes it fail."""

    locked = False

    async def touch_session(self, session_id: str, last_seen: float) -> None:
        if self.locked:
            raise StoreUnavailable("database is locked")
        await super().touch_session(session_id, last_seen)

    async def set_password_hash(self, user: str, password_hash: str, *, rotate: bool) -> bool:
        raise StoreUnavailable("database is locked")

    async def set_mailbox_password_hash(
        self, address: str, password_hash: str, *, rotate: bool
    ) -> bool:
        raise StoreUnavailable("database is locked")


@pytest.fixture
async def store(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[WriteLocked]:
    """Replaces the shared store fixture for this module (and so for `bob`, `population`)."""
    db = await migrated(WriteLocked(tmp_path / "locked.db", clock=clock, create=True))
    yield db
    await db.aclose()


def test_the_client_never_sees_the_backends_text() -> None:
    error = StoreUnavailable("database is locked")
    assert error.message == error.reason == "The data store is busy; try again."
    assert error.cause == "database is locked"
    assert (error.status, error.retry_after_seconds) == (503, 5)
    assert "database is locked" in str(error)  # for the operator's log and command line
    assert str(StoreUnavailable()) == error.reason


async def test_a_session_whose_touch_cannot_be_written_still_resolves(
    store: WriteLocked, clock: FrozenClock, bob: Account
) -> None:
    manager = SessionManager(store, clock, SessionPolicy(), MemorySessionLog())
    created = await manager.create(
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator="bob",
        method="handle_form_login",
        path="form",
        address=ADDRESS,
        bind=True,
    )
    token = created.session.security_token
    clock.advance(manager.policy.touch_interval + 1)
    store.locked = True
    session = await manager.resolve([created.cookie_value], Service.CPANEL, token, ADDRESS)
    # FT-5: it works, but the idle clock is not extended
    assert session.last_seen == created.session.last_seen
    stored = await store.get_session(created.session.session_id)
    assert stored is not None and stored.last_seen == created.session.last_seen
    store.locked = False
    session = await manager.resolve([created.cookie_value], Service.CPANEL, token, ADDRESS)
    assert session.last_seen == clock.now()


@pytest.mark.parametrize(
    ("user", "password", "service"),
    [("bob", BOB_PASSWORD, Service.CPANEL), ("info@bob.example", MAIL_PASSWORD, Service.WEBMAIL)],
)
@pytest.mark.usefixtures("population", "mailbox")
async def test_a_rehash_that_cannot_be_written_keeps_the_old_hash(
    store: WriteLocked, cache: CredentialCache, user: str, password: str, service: Service
) -> None:
    stronger = HashingPool(PasswordHasher(STRONGER), threads=1)
    try:
        authenticator = BasicAuthenticator(store, stronger, cache)
        assert await authenticator.authenticate(attempt(user, password, service)) is not None
    finally:
        stronger.close()
    account = await store.get_account("bob")
    assert account is not None and "$m=256,t=1,p=1$" in account.password_hash
