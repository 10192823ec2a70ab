"""Creating, resolving and ending browser sessions, and the session log that records it.

Resolution is a checklist (py_webauthn style); its only write on an error path is the
wrong-token counter (CV-6, CS-3), and it never reads anything from the request but the cookie,
the `/cpsess` segment and the client address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from panelauth.clock import Clock
from panelauth.core.audit import SessionLogSink
from panelauth.core.identities import Refusal, decide_identity
from panelauth.core.models import Account, CredentialKind, Identity
from panelauth.core.sessions import (
    Session,
    SessionKind,
    SessionPolicy,
    SessionState,
    address_matches,
    new_secrets,
    secret_matches,
    token_matches,
)
from panelauth.core.shared_settings import SharedSource
from panelauth.core.stores import AccountStore, MailboxStore, SessionStore, StepUse
from panelauth.errors import SessionRefused, StoreUnavailable, TwoFactorFailed
from panelauth.protocol.cookies import encode_cookie_value, parse_cookie_value
from panelauth.protocol.services import Service
from panelauth.protocol.sessionlog import Origin

PASSWORD_CHANGE = "password_change"  # the purge reason of a changed credential (w§14.1)
KILL = "kill"  # ended by an administrator or the user (SE-9, w§14.1)
LIMIT = "limit"  # the oldest session, ended when a new one passes the per-user cap (SE-13)
# a remote-login URL moves its session to a new address only this young, and unused (w§18)
ADOPTION_REBIND_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Created:
    session: Session
    cookie_value: str  # "<id>,<secret>" URL-encoded: a credential, never logged


class SessionStoreAll(AccountStore, MailboxStore, SessionStore, Protocol):
    pass


class SessionManager:
    def __init__(
        self,
        store: SessionStoreAll,
        clock: Clock,
        policy: SessionPolicy | SharedSource,
        log: SessionLogSink,
    ) -> None:
        """`policy`: a fixed SessionPolicy, or the shared settings in force (the server's
        per-worker view, core/shared_settings.py), read afresh at every decision."""
        self._store = store
        self._clock = clock
        self._fixed = policy if isinstance(policy, SessionPolicy) else None
        self._shared = None if isinstance(policy, SessionPolicy) else policy
        self._log = log

    @property
    def policy(self) -> SessionPolicy:
        """The lifetimes, address validation and cap in force now."""
        shared = self._shared
        if shared is None:
            assert self._fixed is not None
            return self._fixed
        return shared.value.session_policy

    async def create(
        self,
        *,
        user: str,
        account: str | None,
        service: Service,
        kind: SessionKind,
        state: SessionState,
        creator: str,
        method: str,
        path: str,
        address: str,
        bind: bool,
        possessor: str | None = None,
        tag: str | None = None,
        user_agent: str = "",
        spend: StepUse | None = None,
        credential_version: int | None = None,
        replaces: str | None = None,
    ) -> Created:
        """Create and log a session; with `spend`, the TOTP step that opens it is spent in the
        same transaction, and a replayed step raises TwoFactorFailed (TF-2).

        The session records its identity's credential version (CV-9): `credential_version`,
        else the one stored now. An active session counts against the per-user cap (SE-13):
        past it, the identity's oldest active sessions end (`limit`), never `replaces`."""
        now = self._clock.now()
        if credential_version is None:
            credential_version = await self.current_credential_version(user)
        fresh = new_secrets(user, tag)
        session = Session(
            session_id=fresh.session_id,
            secret_hash=fresh.secret_hash,
            user=user,
            account=account,
            service=service,
            kind=kind,
            state=state,
            security_token=fresh.security_token,
            creator=creator,
            possessor=possessor,
            method=method,
            bound_address=address if bind else None,
            created_at=now,
            last_seen=now,
            expires_at=now + self.policy.absolute,
            credential_version=credential_version,
            user_agent=user_agent[:512],
        )
        if not await self._store.insert_session(session, spend=spend):
            raise TwoFactorFailed("2fa code reused", counted=True)
        self._log.new(
            session.session_id,
            Origin(address, service.value, creator, method, path, possessed=creator != user),
        )
        if state is SessionState.ACTIVE:
            await self._enforce_cap(user, {session.session_id, replaces or ""}, address)
        return Created(session, encode_cookie_value(fresh.session_id, fresh.secret))

    async def successor(
        self,
        previous: Session,
        *,
        method: str,
        path: str,
        address: str,
        user_agent: str = "",
        spend: StepUse | None = None,
        credential_version: int | None = None,
    ) -> Created:
        """A new active session for the same identity (CV-8: a new id, secret and token at
        every privilege step), bound to `address`. The caller ends `previous`.

        It inherits `previous`'s credential version (a change made meanwhile ends it too, CV-9)
        unless the caller names the new one (rotation after a password change)."""
        return await self.create(
            user=previous.user,
            account=previous.account,
            service=previous.service,
            kind=previous.kind,
            state=SessionState.ACTIVE,
            creator=previous.creator,
            possessor=previous.possessor,
            method=method,
            path=path,
            address=address,
            bind=True,
            user_agent=user_agent,
            spend=spend,
            credential_version=(
                previous.credential_version if credential_version is None else credential_version
            ),
            replaces=previous.session_id,
        )

    async def purge(self, session_id: str, reason: str, address: str | None = None) -> bool:
        deleted = await self._store.delete_session(session_id)
        if deleted:
            self._log.purge(session_id, reason, address)
        return deleted

    async def purge_user(
        self, user: str, reason: str, *, keep: str | None = None, address: str | None = None
    ) -> int:
        """End every session of `user` (and of its account's identities) but `keep`."""
        count = 0
        for session in await self._store.sessions_of(user):
            if session.session_id != keep and await self.purge(session.session_id, reason, address):
                count += 1
        return count

    async def purge_identity(
        self, user: str, reason: str, *, keep: str | None = None, address: str | None = None
    ) -> int:
        """End the sessions whose identity is exactly `user` (not its account's mailboxes)."""
        count = 0
        for session in await self._store.sessions_of(user):
            if session.user != user or session.session_id == keep:
                continue
            if await self.purge(session.session_id, reason, address):
                count += 1
        return count

    async def live_sessions(self, user: str, *, exact: bool = False) -> list[Session]:
        """Unexpired sessions of `user` and its account's identities (`exact`: of the identity
        `user` only), oldest first (SE-9)."""
        now, policy = self._clock.now(), self.policy
        return sorted(
            (
                session
                for session in await self._store.sessions_of(user)
                if (not exact or session.user == user) and not session.expired(now, policy)
            ),
            key=lambda session: (session.created_at, session.session_id),
        )

    async def _enforce_cap(self, user: str, keep: set[str], address: str) -> None:
        """SE-13: with a cap, end the identity's oldest active sessions but `keep` so that,
        with the new one, no more than the cap remain."""
        cap = self.policy.max_per_user
        if cap <= 0:
            return
        others = [
            session
            for session in await self.live_sessions(user, exact=True)
            if session.state is SessionState.ACTIVE and session.session_id not in keep
        ]
        for session in others[: max(0, len(others) - cap + 1)]:
            await self.purge(session.session_id, LIMIT, address)

    async def live(
        self, cookie_values: Sequence[str], service: Service
    ) -> list[tuple[Session, str]]:
        """Sessions of this service whose secret matches one of the cookie values."""
        found = []
        for raw in cookie_values[:8]:
            credential = parse_cookie_value(raw)
            if credential is None:
                continue  # CV-5: no secret, no lookup
            session = await self._store.get_session(credential.session_id)
            # SE-3: a session is bound to its service, whatever cookie name carried it
            if (
                session
                and session.service is service
                and secret_matches(session, credential.secret)
            ):
                found.append((session, credential.secret))
        return found

    async def resolve(
        self,
        cookie_values: Sequence[str],
        service: Service,
        supplied_token: str | None,
        address: str,
    ) -> Session:
        """The session this request may act with, or SessionRefused (w§4, §6, §8)."""
        # one reading of the clock and of the policy decides the whole checklist
        now, policy = self._clock.now(), self.policy
        candidates = [session for session, _ in await self.live(cookie_values, service)]
        # 1. a cookie names a live session of this service
        if not candidates:
            raise SessionRefused("invalid_session")
        # 2. several cookies: exactly one live session whose token matches (w§4)
        if len(candidates) > 1:
            matching = [s for s in candidates if token_matches(s, supplied_token)]
            if len(matching) != 1:
                raise SessionRefused("token_incorrect", token_denied=True)
            candidates = matching
        session = candidates[0]
        # 3. not expired (idle, absolute, pending, unused); an expired one is purged
        if session.expired(now, policy):
            await self.purge(session.session_id, "expired", address)
            raise SessionRefused("expired_session")
        # 4. a hand-off is used only through its URL (w§10.3)
        if session.state is SessionState.UNUSED:
            raise SessionRefused("invalid_session")
        # 5. the bound client address (w§8.2): refused, not purged, not counted
        if not address_matches(session.bound_address, address, policy.ip_validation):
            raise SessionRefused("changed_ip")
        # 6. the security token: missing is not counted, wrong is, three wrong purge (w§6)
        if supplied_token is None:
            raise SessionRefused("token_missing", token_denied=True)
        if not token_matches(session, supplied_token):
            if await self._store.count_wrong_token(session.session_id) >= policy.max_wrong_tokens:
                await self.purge(session.session_id, "token_denied", address)
            raise SessionRefused("token_incorrect", token_denied=True)
        # 7. a pending-2FA session may only submit its code or log out (w§9)
        if session.state is SessionState.PENDING_2FA:
            raise SessionRefused("pending_2fa", pending=session)
        # 8. keep it alive without a write on every request; best effort: a store that cannot
        # write (locked, full) does not stop a session it could read, but its idle clock is
        # not extended (FT-5)
        if now - session.last_seen >= policy.touch_interval:
            try:
                await self._store.touch_session(session.session_id, now)
            except StoreUnavailable:
                return session
            session = replace(session, last_seen=now)
        return session

    def stands_until(self, session: Session) -> float:
        """Until when `session`, resolved now, is certain to resolve the same without a write:
        its expiry (idle, absolute), or the moment its last use is due to be recorded."""
        policy = self.policy
        last_seen = session.last_seen
        return min(
            session.expires_at,
            last_seen + session.idle_limit(policy),
            last_seen + policy.touch_interval,
        )

    async def identity(self, session: Session, *, address: str | None = None) -> Identity:
        """The identity a session acts as, with the account's current rights (AZ-3)."""
        account = await self._store.get_account(session.account or session.user)
        webmail = session.service is Service.WEBMAIL
        identity = decide_identity(
            account,
            session.service,
            CredentialKind.SESSION,
            mailbox=session.user if webmail else None,
            session_id=session.session_id,
            possessor=session.possessor,
        )
        if isinstance(identity, Refusal):
            raise SessionRefused("invalid_session")
        assert account is not None  # decide_identity refuses a missing account
        await self._check_credential_version(session, account, address)
        return identity

    async def current_credential_version(self, user: str) -> int:
        """The stored credential version of the identity `user` (a mailbox has its own)."""
        if "@" in user:
            mailbox = await self._store.get_mailbox(user)
            return mailbox.credential_version if mailbox is not None else 0
        account = await self._store.get_account(user)
        return account.credential_version if account is not None else 0

    async def _check_credential_version(
        self, session: Session, account: Account, address: str | None
    ) -> None:
        """CV-9: a session whose identity's credential changed since it was created ends, by
        whatever path the change was made (another worker, the command line, the store)."""
        if "@" in session.user:
            mailbox = await self._store.get_mailbox(session.user)
            if mailbox is None or mailbox.account != account.user or mailbox.suspended_login:
                raise SessionRefused("invalid_session")
            current = mailbox.credential_version
        else:
            current = account.credential_version
        if session.credential_version != current:
            await self.purge(session.session_id, PASSWORD_CHANGE, address)
            raise SessionRefused("invalid_session")

    async def consume_handoff(
        self, cookie_value: str, service: Service, supplied_token: str | None, address: str
    ) -> Session | None:
        """Turn an unused SSO/transfer URL into a session, once (w§10.3, SS-2)."""
        now, policy = self._clock.now(), self.policy
        found = await self.live([cookie_value], service)
        if not found:
            return None
        session = found[0][0]
        if not token_matches(session, supplied_token):
            return None
        if session.expired(now, policy):
            await self.purge(session.session_id, "expired", address)
            return None
        if session.state is not SessionState.UNUSED:
            return None
        # a hand-off created for a named address (w§10.2 `remote_address`) is bound already
        if not address_matches(session.bound_address, address, policy.ip_validation):
            return None
        if not await self._store.activate_session(session.session_id, address, now):
            return None  # someone else consumed it first
        await self._enforce_cap(session.user, {session.session_id}, address)
        return replace(session, state=SessionState.ACTIVE, bound_address=address, last_seen=now)

    async def adopt(
        self, cookie_value: str, service: Service, supplied_token: str | None, address: str
    ) -> Session | None:
        """A live password session presented by its remote-login URL (w§10.3, w§18), or None.

        Usable again and again until logout or expiry, from the address it is bound to. With
        address validation on, it moves to a new address once: while it has no recorded use
        (last_seen still its creation time) and is less than 5 minutes old, so that a URL made
        by a billing system's server opens in the user's browser; atomically, for one adopter.
        """
        now, policy = self._clock.now(), self.policy
        found = await self.live([cookie_value], service)
        if not found:
            return None
        session = found[0][0]
        if session.kind is not SessionKind.PASSWORD or not token_matches(session, supplied_token):
            return None
        if session.expired(now, policy):
            await self.purge(session.session_id, "expired", address)
            return None
        if address_matches(session.bound_address, address, policy.ip_validation):
            return session
        unused = session.last_seen == session.created_at
        if not unused or now - session.created_at >= ADOPTION_REBIND_SECONDS:
            return None
        # the move marks the session used, even at its creation's clock reading
        used_at = max(now, session.created_at + 0.001)
        if not await self._store.rebind_session(
            session.session_id, session.created_at, address, used_at
        ):
            return None  # another adopter was first
        return replace(session, bound_address=address, last_seen=used_at)

    async def sweep(self, limit: int = 500) -> int:
        """Purge sessions past their absolute expiry (the server's periodic cleanup)."""
        ids = await self._store.expired_session_ids(self._clock.now(), limit)
        for session_id in ids:
            await self.purge(session_id, "expired")
        return len(ids)


def handoff_kind(service: Service) -> SessionKind:
    return SessionKind.WEBMAIL_HANDOFF if service is Service.WEBMAIL else SessionKind.TRANSFER
