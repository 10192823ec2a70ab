"""The per-user session cap (SE-13) and the live-session listing (SE-9) of SessionManager."""

from __future__ import annotations

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.audit import MemorySessionLog
from panelauth.core.models import Account
from panelauth.core.session_manager import LIMIT, Created, SessionManager
from panelauth.core.sessions import SessionKind, SessionPolicy, SessionState
from panelauth.core.settings import ConfigError, Settings, settings_from_mapping
from panelauth.protocol.services import Service
from panelauth.server.state import session_policy

ADDRESS = "192.0.2.10"


@pytest.fixture
def log() -> MemorySessionLog:
    return MemorySessionLog()


def capped(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, cap: int
) -> SessionManager:
    return SessionManager(store, clock, SessionPolicy(max_per_user=cap), log)


async def open_session(
    manager: SessionManager,
    user: str = "bob",
    *,
    state: SessionState = SessionState.ACTIVE,
    kind: SessionKind = SessionKind.PASSWORD,
    service: Service = Service.CPANEL,
) -> Created:
    return await manager.create(
        user=user,
        account="bob",
        service=service,
        kind=kind,
        state=state,
        creator=user,
        method="handle_form_login",
        path="form",
        address=ADDRESS,
        bind=state is not SessionState.UNUSED,
    )


def limit_purges(log: MemorySessionLog) -> list[str]:
    return [sid for event, sid, reason in log.events if event == "PURGE" and reason == LIMIT]


async def test_past_the_cap_a_login_ends_the_oldest_with_limit(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    manager = capped(store, clock, log, 2)
    first = await open_session(manager)
    clock.advance(10)
    second = await open_session(manager)
    clock.advance(10)
    third = await open_session(manager)
    assert limit_purges(log) == [first.session.session_id]
    assert await store.get_session(first.session.session_id) is None
    live = [s.session_id for s in await manager.live_sessions("bob", exact=True)]
    assert live == [second.session.session_id, third.session.session_id]


async def test_no_cap_by_default(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    manager = capped(store, clock, log, 0)
    for _ in range(4):
        await open_session(manager)
    assert limit_purges(log) == []
    assert len(await manager.live_sessions("bob")) == 4


async def test_pending_and_unused_sessions_neither_count_nor_end_others(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    manager = capped(store, clock, log, 1)
    active = await open_session(manager)
    await open_session(manager, state=SessionState.PENDING_2FA)
    await open_session(manager, state=SessionState.UNUSED, kind=SessionKind.SSO)
    assert limit_purges(log) == []
    # another identity of the account (a mailbox) has its own count
    await open_session(manager, "info@bob.example", service=Service.WEBMAIL)
    assert limit_purges(log) == []
    assert await store.get_session(active.session.session_id) is not None


async def test_a_successor_does_not_end_the_session_it_replaces(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    manager = capped(store, clock, log, 1)
    previous = await open_session(manager)
    successor = await manager.successor(
        previous.session, method="handle_form_login", path="form", address=ADDRESS
    )
    assert limit_purges(log) == []
    assert await store.get_session(successor.session.session_id) is not None


async def test_using_a_handoff_counts_against_the_cap(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    manager = capped(store, clock, log, 1)
    active = await open_session(manager)
    clock.advance(1)
    handoff = await open_session(manager, state=SessionState.UNUSED, kind=SessionKind.SSO)
    used = await manager.consume_handoff(
        handoff.cookie_value, Service.CPANEL, handoff.session.security_token, ADDRESS
    )
    assert used is not None
    assert limit_purges(log) == [active.session.session_id]


async def test_live_sessions_leave_out_expired_ones_and_other_identities_when_exact(
    store: SqliteStore, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    manager = capped(store, clock, log, 0)
    old = await open_session(manager)
    clock.advance(1000)
    mail = await open_session(manager, "info@bob.example", service=Service.WEBMAIL)
    assert [s.session_id for s in await manager.live_sessions("bob")] == [
        old.session.session_id,
        mail.session.session_id,
    ]
    assert [s.session_id for s in await manager.live_sessions("bob", exact=True)] == [
        old.session.session_id
    ]
    clock.advance(1000)  # `old` is now past the 30-minute idle limit
    assert [s.session_id for s in await manager.live_sessions("bob")] == [mail.session.session_id]


def test_the_cap_setting_reaches_the_policy_and_refuses_negative_values() -> None:
    assert Settings().max_sessions_per_user == 0
    settings = settings_from_mapping({"max_sessions_per_user": 3})
    assert session_policy(settings).max_per_user == 3
    with pytest.raises(ConfigError, match="max_sessions_per_user"):
        settings_from_mapping({"max_sessions_per_user": -1})
