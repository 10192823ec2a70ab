"""SessionManager: identities per service, purges that race, hand-offs that are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.audit import MemorySessionLog
from panelauth.core.models import Account, CredentialKind, Identity, IdentityKind, Mailbox
from panelauth.core.session_manager import Created, SessionManager, handoff_kind
from panelauth.core.sessions import Session, SessionKind, SessionPolicy, SessionState
from panelauth.errors import SessionRefused
from panelauth.protocol.cookies import encode_cookie_value
from panelauth.protocol.services import Service
from tests.conftest import migrated

ADDRESS = "192.0.2.10"


@pytest.fixture
def log() -> MemorySessionLog:
    return MemorySessionLog()


@pytest.fixture
def manager(store: SqliteStore, clock: FrozenClock, log: MemorySessionLog) -> SessionManager:
    return SessionManager(store, clock, SessionPolicy(), log)


async def login(
    manager: SessionManager,
    user: str,
    service: Service,
    *,
    account: str | None,
    state: SessionState = SessionState.ACTIVE,
    kind: SessionKind = SessionKind.PASSWORD,
) -> Created:
    return await manager.create(
        user=user,
        account=account,
        service=service,
        kind=kind,
        state=state,
        creator=user if kind is SessionKind.PASSWORD else "root",
        possessor=None if kind is SessionKind.PASSWORD else "root",
        method="handle_form_login",
        path="form",
        address=ADDRESS,
        bind=kind is SessionKind.PASSWORD,
    )


async def handoff(manager: SessionManager, user: str = "bob") -> Created:
    return await login(
        manager,
        user,
        Service.CPANEL,
        account=user,
        state=SessionState.UNUSED,
        kind=SessionKind.SSO,
    )


def purges(log: MemorySessionLog) -> list[str]:
    return [event[1] for event in log.events if event[0] == "PURGE"]


# -- identities ---------------------------------------------------------------------------------


async def test_root_whm_session_acts_as_root_with_every_right(
    manager: SessionManager, root: Account
) -> None:
    created = await login(manager, "root", Service.WHM, account=None)
    identity = await manager.identity(created.session)
    assert identity == Identity(
        "root",
        IdentityKind.ROOT,
        CredentialKind.SESSION,
        None,
        frozenset({"all"}),
        session_id=created.session.session_id,
    )


async def test_reseller_whm_session_carries_the_resellers_current_acls(
    manager: SessionManager, accounts: Accounts, reseller: Account
) -> None:
    created = await login(manager, "res", Service.WHM, account="res")
    await accounts.set_acls("res", frozenset({"list-accts"}))
    identity = await manager.identity(created.session)
    assert (identity.kind, identity.account, identity.acls) == (
        IdentityKind.RESELLER,
        "res",
        frozenset({"list-accts"}),
    )


async def test_a_whm_session_of_a_plain_cpanel_account_has_no_identity(
    manager: SessionManager, accounts: Accounts, reseller: Account
) -> None:
    created = await login(manager, "res", Service.WHM, account="res")
    # AZ-3: rights are read at each request, so losing reseller status ends WHM access
    await accounts.unmake_reseller("res")
    with pytest.raises(SessionRefused) as refused:
        await manager.identity(created.session)
    assert refused.value.code == "invalid_session"


@pytest.mark.parametrize("service", [Service.CPANEL, Service.WEBMAIL])
async def test_root_has_no_cpanel_or_webmail_session_identity(
    manager: SessionManager, root: Account, service: Service
) -> None:
    created = await login(manager, "root", service, account=None)
    with pytest.raises(SessionRefused) as refused:
        await manager.identity(created.session)
    assert refused.value.code == "invalid_session"


async def test_webmail_session_of_a_mailbox_acts_as_the_mailbox(
    manager: SessionManager, accounts: Accounts, bob: Account
) -> None:
    mailbox: Mailbox = await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="mail-Passw0rd!", quota_mb=0
    )
    created = await login(manager, mailbox.address, Service.WEBMAIL, account="bob")
    identity = await manager.identity(created.session)
    assert (identity.user, identity.kind, identity.account) == (
        "info@bob.example",
        IdentityKind.MAIL,
        "bob",
    )


async def test_a_session_of_a_deleted_account_has_no_identity(
    manager: SessionManager, store: SqliteStore, bob: Account
) -> None:
    created = await login(manager, "bob", Service.CPANEL, account="bob")
    await store.delete_account("bob")
    with pytest.raises(SessionRefused):
        await manager.identity(created.session)


# -- purges -------------------------------------------------------------------------------------


async def test_purging_an_unknown_session_is_false_and_not_logged(
    manager: SessionManager, log: MemorySessionLog, bob: Account
) -> None:
    created = await login(manager, "bob", Service.CPANEL, account="bob")
    assert await manager.purge(created.session.session_id, "logout", ADDRESS)
    assert not await manager.purge(created.session.session_id, "logout", ADDRESS)
    assert not await manager.purge("bob:AAAAAAAAAAAAAAAA", "logout", ADDRESS)
    assert purges(log) == [created.session.session_id]


async def test_purge_identity_spares_the_accounts_mailboxes_and_the_kept_session(
    manager: SessionManager, accounts: Accounts, log: MemorySessionLog, bob: Account
) -> None:
    await accounts.add_mailbox(
        bob, local_part="info", domain="bob.example", password="mail-Passw0rd!", quota_mb=0
    )
    first = await login(manager, "bob", Service.CPANEL, account="bob")
    kept = await login(manager, "bob", Service.CPANEL, account="bob")
    mail = await login(manager, "info@bob.example", Service.WEBMAIL, account="bob")
    count = await manager.purge_identity("bob", "password_change", keep=kept.session.session_id)
    assert count == 1
    assert purges(log) == [first.session.session_id]
    assert mail.session.session_id not in purges(log)


class LogoutDuringListing(SqliteStore):
    """Another request logs out the first listed session right after `sessions_of` answers."""

    async def sessions_of(self, user: str) -> list[Session]:
        found = await super().sessions_of(user)
        if found:
            await self.delete_session(found[0].session_id)
        return found


@pytest.fixture
async def racy_store(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[LogoutDuringListing]:
    db = await migrated(LogoutDuringListing(tmp_path / "racy.db", clock=clock, create=True))
    yield db
    await db.aclose()


async def test_purge_identity_counts_and_logs_only_what_it_ended(
    racy_store: LogoutDuringListing, clock: FrozenClock, log: MemorySessionLog
) -> None:
    manager = SessionManager(racy_store, clock, SessionPolicy(), log)
    sessions = [await login(manager, "dan", Service.CPANEL, account="dan") for _ in range(3)]
    ended = await manager.purge_identity("dan", "password_change", address=ADDRESS)
    assert ended == 2  # one of the three was already gone
    assert len(purges(log)) == 2
    for created in sessions:
        assert await racy_store.get_session(created.session.session_id) is None


async def test_purge_user_counts_only_what_it_ended(
    racy_store: LogoutDuringListing, clock: FrozenClock, log: MemorySessionLog
) -> None:
    manager = SessionManager(racy_store, clock, SessionPolicy(), log)
    for _ in range(3):
        await login(manager, "dan", Service.CPANEL, account="dan")
    assert await manager.purge_user("dan", "suspended") == 2
    assert len(purges(log)) == 2


# -- hand-offs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "/cpsess0000000000", "cpsess"])
async def test_a_handoff_with_a_wrong_or_missing_token_is_not_consumed(
    manager: SessionManager, bob: Account, token: str | None
) -> None:
    created = await handoff(manager)
    if token == created.session.security_token:
        token = "/cpsess9999999999"
    assert (
        await manager.consume_handoff(created.cookie_value, Service.CPANEL, token, ADDRESS) is None
    )
    # the URL is still good for the browser it was meant for
    consumed = await manager.consume_handoff(
        created.cookie_value, Service.CPANEL, created.session.security_token, ADDRESS
    )
    assert consumed is not None and consumed.state is SessionState.ACTIVE


async def test_a_handoff_with_a_wrong_secret_is_not_consumed(
    manager: SessionManager, bob: Account
) -> None:
    created = await handoff(manager)
    forged = encode_cookie_value(created.session.session_id, "0" * 32)
    token = created.session.security_token
    assert await manager.consume_handoff(forged, Service.CPANEL, token, ADDRESS) is None


async def test_an_expired_handoff_is_purged_not_consumed(
    manager: SessionManager, clock: FrozenClock, log: MemorySessionLog, bob: Account
) -> None:
    created = await handoff(manager)
    clock.advance(SessionPolicy().unused)
    token = created.session.security_token
    assert (
        await manager.consume_handoff(created.cookie_value, Service.CPANEL, token, ADDRESS) is None
    )
    assert purges(log) == [created.session.session_id]


async def test_an_active_session_is_not_a_handoff(manager: SessionManager, bob: Account) -> None:
    created = await login(manager, "bob", Service.CPANEL, account="bob")
    token = created.session.security_token
    assert (
        await manager.consume_handoff(created.cookie_value, Service.CPANEL, token, ADDRESS) is None
    )


class RivalActivatesFirst(SqliteStore):
    """Another worker activates the hand-off between our read and our write (SS-2)."""

    async def activate_session(self, session_id: str, bound_address: str, now: float) -> bool:
        await super().activate_session(session_id, "198.51.100.99", now)
        return await super().activate_session(session_id, bound_address, now)


async def test_a_handoff_consumed_by_a_rival_first_is_refused(
    tmp_path: Path, clock: FrozenClock, log: MemorySessionLog
) -> None:
    store = await migrated(RivalActivatesFirst(tmp_path / "rival.db", clock=clock, create=True))
    try:
        manager = SessionManager(store, clock, SessionPolicy(), log)
        created = await handoff(manager, "dan")
        token = created.session.security_token
        assert (
            await manager.consume_handoff(created.cookie_value, Service.CPANEL, token, ADDRESS)
            is None
        )
        stored = await store.get_session(created.session.session_id)
        assert stored is not None
        assert (stored.state, stored.bound_address) == (SessionState.ACTIVE, "198.51.100.99")
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("service", "kind"),
    [
        (Service.WEBMAIL, SessionKind.WEBMAIL_HANDOFF),
        (Service.CPANEL, SessionKind.TRANSFER),
        (Service.WHM, SessionKind.TRANSFER),
    ],
)
def test_handoff_kind_per_service(service: Service, kind: SessionKind) -> None:
    assert handoff_kind(service) is kind


async def test_a_cookie_with_a_non_utf8_escape_is_an_invalid_session(
    manager: SessionManager, bob: Account
) -> None:
    created = await login(manager, "bob", Service.CPANEL, account="bob")
    token = created.session.security_token
    with pytest.raises(SessionRefused) as refused:
        await manager.resolve([created.cookie_value + "%ff"], Service.CPANEL, token, ADDRESS)
    assert refused.value.code == "invalid_session"


async def test_a_handoff_bound_at_creation_is_used_only_from_that_address(
    manager: SessionManager, bob: Account
) -> None:
    """w§10.2 `remote_address`: the URL is bound before its first use."""
    created = await manager.create(
        user="bob",
        account="bob",
        service=Service.WEBMAIL,
        kind=SessionKind.SSO,
        state=SessionState.UNUSED,
        creator="bob",
        method="create_webmail_session",
        path="api",
        address="192.0.2.99",
        bind=True,
    )
    value, token = created.cookie_value, created.session.security_token
    assert await manager.consume_handoff(value, Service.WEBMAIL, token, ADDRESS) is None
    consumed = await manager.consume_handoff(value, Service.WEBMAIL, token, "192.0.2.99")
    assert consumed is not None and consumed.bound_address == "192.0.2.99"
