"""SessionManager: creation, the resolution checklist, hand-offs, purges (w§4-§8, CV-1..CV-8)."""

from __future__ import annotations

import asyncio

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.audit import MemorySessionLog
from panelauth.core.models import Account, IdentityKind
from panelauth.core.session_manager import Created, SessionManager
from panelauth.core.sessions import (
    IpValidation,
    SessionKind,
    SessionPolicy,
    SessionState,
    address_matches,
    hash_secret,
)
from panelauth.errors import SessionRefused
from panelauth.protocol.cookies import parse_cookie_value
from panelauth.protocol.services import Service

ADDRESS = "192.0.2.10"


@pytest.fixture
def log() -> MemorySessionLog:
    return MemorySessionLog()


@pytest.fixture
def manager(store: SqliteStore, clock: FrozenClock, log: MemorySessionLog) -> SessionManager:
    return SessionManager(store, clock, SessionPolicy(), log)


async def password_session(manager: SessionManager, user: str = "bob") -> Created:
    return await manager.create(
        user=user,
        account=user,
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator=user,
        method="handle_form_login",
        path="form",
        address=ADDRESS,
        bind=True,
    )


async def test_only_a_hash_of_the_secret_is_stored(
    manager: SessionManager, store: SqliteStore, bob: Account
) -> None:
    created = await password_session(manager)
    credential = parse_cookie_value(created.cookie_value)
    assert credential is not None
    stored = await store.get_session(credential.session_id)
    assert stored is not None
    assert stored.secret_hash == hash_secret(credential.secret) != credential.secret
    assert credential.secret not in repr(stored)


async def test_resolve_returns_the_session_and_identity(
    manager: SessionManager, bob: Account
) -> None:
    created = await password_session(manager)
    session = await manager.resolve(
        [created.cookie_value], Service.CPANEL, created.session.security_token, ADDRESS
    )
    identity = await manager.identity(session)
    assert (identity.user, identity.kind, identity.session_id) == (
        "bob",
        IdentityKind.CPANEL,
        created.session.session_id,
    )


@pytest.mark.parametrize(
    ("validation", "address", "accepted"),
    [
        (IpValidation.STRICT, "192.0.2.10", True),
        (IpValidation.STRICT, "192.0.2.11", False),
        (IpValidation.LOOSE, "192.0.2.200", True),
        (IpValidation.LOOSE, "192.0.3.10", False),
        (IpValidation.LOOSE, "2001:db8::1", False),
        (IpValidation.DISABLED, "203.0.113.1", True),
    ],
)
def test_address_binding(validation: IpValidation, address: str, accepted: bool) -> None:
    assert address_matches("192.0.2.10", address, validation) is accepted


async def test_a_changed_address_is_refused_but_not_purged(
    manager: SessionManager, store: SqliteStore, bob: Account
) -> None:
    created = await password_session(manager)
    with pytest.raises(SessionRefused) as refused:
        await manager.resolve(
            [created.cookie_value], Service.CPANEL, created.session.security_token, "198.51.100.1"
        )
    assert refused.value.code == "changed_ip"
    assert await store.get_session(created.session.session_id) is not None


async def test_loose_binding_accepts_the_same_slash_24(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    loose = SessionManager(store, clock, SessionPolicy(ip_validation=IpValidation.LOOSE), log)
    created = await password_session(loose)
    session = await loose.resolve(
        [created.cookie_value], Service.CPANEL, created.session.security_token, "192.0.2.99"
    )
    assert session.session_id == created.session.session_id


async def test_a_handoff_is_consumed_once_even_in_parallel(
    manager: SessionManager, bob: Account
) -> None:
    created = await manager.create(
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.SSO,
        state=SessionState.UNUSED,
        creator="root",
        possessor="root",
        method="create_user_session",
        path="api",
        address="203.0.113.5",
        bind=False,
    )
    token = created.session.security_token
    results = await asyncio.gather(
        *(
            manager.consume_handoff(created.cookie_value, Service.CPANEL, token, ADDRESS)
            for _ in range(8)
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].state is SessionState.ACTIVE and winners[0].bound_address == ADDRESS
    wrong_service = await manager.consume_handoff(created.cookie_value, Service.WHM, token, ADDRESS)
    assert wrong_service is None


async def test_an_unused_handoff_cannot_be_used_as_a_cookie(
    manager: SessionManager, bob: Account
) -> None:
    created = await manager.create(
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.TRANSFER,
        state=SessionState.UNUSED,
        creator="root",
        method="handle_auth_transfer",
        path="xfer",
        address=ADDRESS,
        bind=False,
    )
    with pytest.raises(SessionRefused):
        await manager.resolve(
            [created.cookie_value], Service.CPANEL, created.session.security_token, ADDRESS
        )


async def test_pending_sessions_can_only_show_the_code_form(
    manager: SessionManager, bob: Account
) -> None:
    created = await manager.create(
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.PENDING_2FA,
        creator="bob",
        method="handle_form_login",
        path="form",
        address=ADDRESS,
        bind=True,
    )
    with pytest.raises(SessionRefused) as refused:
        await manager.resolve(
            [created.cookie_value], Service.CPANEL, created.session.security_token, ADDRESS
        )
    assert refused.value.pending is not None


async def test_purge_user_keeps_the_named_session_and_logs_each(
    manager: SessionManager, log: MemorySessionLog, bob: Account
) -> None:
    first = await password_session(manager)
    second = await password_session(manager)
    third = await password_session(manager)
    assert await manager.purge_user("bob", "password_change", keep=second.session.session_id) == 2
    purged = [event[1] for event in log.events if event[0] == "PURGE"]
    assert sorted(purged) == sorted([first.session.session_id, third.session.session_id])


async def test_sweep_purges_only_absolutely_expired_sessions(
    manager: SessionManager, clock: FrozenClock, store: SqliteStore, bob: Account
) -> None:
    old = await password_session(manager)
    clock.advance(12 * 3600 - 10)
    young = await password_session(manager)
    clock.advance(20)
    assert await manager.sweep() == 1
    assert await store.get_session(old.session.session_id) is None
    assert await store.get_session(young.session.session_id) is not None


async def test_a_suspended_account_has_no_identity(
    manager: SessionManager, store: SqliteStore, bob: Account
) -> None:
    created = await password_session(manager)
    await store.set_suspended("bob", True, "x")
    with pytest.raises(SessionRefused):
        await manager.identity(created.session)


async def test_the_same_code_sent_twice_in_parallel_succeeds_once(
    two_factor: object, clock: FrozenClock, bob: Account
) -> None:
    import pyotp

    from panelauth.core.two_factor import TwoFactor
    from panelauth.errors import TwoFactorFailed

    assert isinstance(two_factor, TwoFactor)
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    await two_factor.enrol("bob", secret, pyotp.TOTP(secret).at(clock.now()), address=ADDRESS)
    clock.advance(30)
    code = pyotp.TOTP(secret).at(clock.now())
    results = await asyncio.gather(
        *(two_factor.check("bob", code, context="session", address=ADDRESS) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(result is None for result in results) == 1
    assert all(isinstance(r, TwoFactorFailed) for r in results if r is not None)


async def test_a_remote_login_url_moves_its_session_once_and_only_while_unused(
    manager: SessionManager, store: SqliteStore, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """w§18: a fresh, unused password session moves to the first new address that opens its
    URL; an SSO session is never adopted; a lost race is a refusal."""
    created = await password_session(manager)
    token = created.session.security_token
    value = created.cookie_value
    results = await asyncio.gather(
        *(manager.adopt(value, Service.CPANEL, token, f"198.51.100.{n}") for n in range(1, 9))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].bound_address == "198.51.100.1"
    assert await manager.adopt(value, Service.CPANEL, token, "198.51.100.1") is not None
    # a fresh session whose conditional write loses to another adopter
    raced = await password_session(manager)

    async def lost(*_: object) -> bool:
        return False

    monkeypatch.setattr(store, "rebind_session", lost)
    moved = await manager.adopt(
        raced.cookie_value, Service.CPANEL, raced.session.security_token, "198.51.100.9"
    )
    assert moved is None
    monkeypatch.undo()
    sso = await manager.create(
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.SSO,
        state=SessionState.ACTIVE,
        creator="root",
        possessor="root",
        method="create_user_session",
        path="api",
        address=ADDRESS,
        bind=True,
    )
    assert (
        await manager.adopt(sso.cookie_value, Service.CPANEL, sso.session.security_token, ADDRESS)
        is None
    )
    assert await manager.adopt("bob:nothing,0", Service.CPANEL, token, ADDRESS) is None


async def test_an_expired_session_is_purged_not_adopted(
    manager: SessionManager, store: SqliteStore, clock: FrozenClock, bob: Account
) -> None:
    created = await password_session(manager)
    clock.advance(manager.policy.absolute + 1)
    token = created.session.security_token
    assert await manager.adopt(created.cookie_value, Service.CPANEL, token, ADDRESS) is None
    assert await store.get_session(created.session.session_id) is None
