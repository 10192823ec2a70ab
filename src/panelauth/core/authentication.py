"""The authenticator chain: the request's facts become an Identity, or an error.

Each authenticator returns an Identity, None ("not mine, ask the next") or raises ("mine, and
it failed"), like Starlette's AuthenticationBackend. The chain (design: token -> access hash ->
session cookie + security token -> Basic password + OTP) is total: every request ends with an
identity or an error. The `detail` of a failure names the factor for the login log (w§14.2);
the client always gets the same "Access denied" (w§2.0, PW-4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from panelauth.core.bruteforce import BruteForceGuard, Gate
from panelauth.core.credential_cache import CredentialCache
from panelauth.core.hulk import Method
from panelauth.core.identities import Refusal, decide_identity
from panelauth.core.models import CredentialKind, Identity
from panelauth.core.passwords import HashingPool
from panelauth.core.session_manager import SessionManager
from panelauth.core.sessions import Session
from panelauth.core.stores import AccountStore, MailboxStore
from panelauth.core.two_factor import TwoFactor
from panelauth.core.verified_headers import HeaderAttempt, Ticket, VerifiedHeaders
from panelauth.errors import AuthenticationFailed, StoreUnavailable
from panelauth.protocol.authorization import BasicCredentials, Credentials, MalformedCredentials
from panelauth.protocol.services import Service
from panelauth.secret import Secret


class AuthFacts(HeaderAttempt, Protocol):
    """What authentication reads of a request, gathered once by the server (RequestFacts): the
    service, address, parsed Authorization header, cookies and /cpsess token the memo of
    verified credentials reads (core/verified_headers.py), and these."""

    @property
    def malformed(self) -> MalformedCredentials | None: ...  # a header that carries none
    @property
    def otp(self) -> str | None: ...  # X-CPANEL-OTP (w§2.6)
    # False for a form login, whose caller handles the second factor itself (D5)
    @property
    def check_second_factor(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class AuthAttempt:
    """Facts built by hand: a login form, the command line, tests."""

    credentials: Credentials | None
    service: Service
    client_address: str
    otp: str | None = None
    check_second_factor: bool = True
    cookies: Sequence[str] = ()
    security_token: str | None = None
    malformed: MalformedCredentials | None = None


class Authenticator(Protocol):
    async def authenticate(self, attempt: AuthFacts, gate: Gate | None = None) -> Identity | None:
        """`gate`: the attempt's passage through brute-force protection (None: unguarded); a
        verification that yields (a password hash) reserves first (core/bruteforce.py)."""
        ...


class AuthenticatorChain:
    def __init__(
        self,
        authenticators: Sequence[Authenticator],
        guard: BruteForceGuard | None = None,
        *,
        verified: VerifiedHeaders | None = None,
    ) -> None:
        """`verified`: the memo of request credentials (headers, session cookies) that passed
        every check (None: each request is decided in full); it needs the guard, whose gate
        tells how long a success stands."""
        self._authenticators = tuple(authenticators)
        self._guard = guard
        self._verified = verified if guard is not None else None

    async def authenticate(self, attempt: AuthFacts) -> Identity:
        # 0. the same credential from the same address, proven while nothing it was decided
        # from has changed (core/verified_headers.py); a code is spent once, so never with one,
        # and a malformed header fails below, never falling back to a remembered cookie
        ticket: Ticket | None = None
        verified = self._verified
        if (
            verified is not None
            and attempt.malformed is None
            and attempt.otp is None
            and attempt.check_second_factor
        ):
            remembered = verified.lookup(attempt)
            if isinstance(remembered, Ticket):
                ticket = remembered
            elif remembered is not None:
                return remembered
        identity, gate = await self.first_factor(attempt)
        if gate is not None and self._guard is not None:
            await self._guard.succeed(gate)  # the attempt is complete: its pair is cleared
            if ticket is not None and verified is not None:
                verified.remember(ticket, identity, gate.proven_until)
        return identity

    async def first_factor(self, attempt: AuthFacts) -> tuple[Identity, Gate | None]:
        """The identity, and the attempt's gate still open: a login form that checks a second
        factor next settles it (BruteForceGuard.succeed, fail or release), so that right
        passwords with wrong codes add up (BF-1). None: unguarded. A session's gate has
        nothing to settle; it says only how long the session stands (`proven_until`)."""
        # 1. a header that cannot carry a credential fails, and never falls back (w§2.0)
        malformed = attempt.malformed
        if malformed is not None:
            raise AuthenticationFailed(malformed.reason, claimed_user=malformed.claimed_user)
        guard = self._guard
        if guard is None:
            return await self._decide(attempt, None), None
        # 2. brute-force protection admits the attempt before any credential is looked at,
        # and hears how it failed (BF-1, BF-2)
        credentials = attempt.credentials
        if credentials is None:
            # no credential to count: the gate only hears how long the session stands
            proof = Gate(None, None, attempt.service.value, Method.SESSION)
            identity = await self._decide(attempt, proof)
            await guard.admit_session(attempt.client_address, identity)
            return identity, proof
        user = credentials.user
        basic = isinstance(credentials, BasicCredentials)
        method = Method.PASSWORD if basic else Method.API_TOKEN
        gate = await guard.enter(attempt.client_address, user, attempt.service.value, method)
        try:
            identity = await self._decide(attempt, gate)
        except Exception as error:
            await guard.fail(gate, error)
            raise
        return identity, gate

    async def _decide(self, attempt: AuthFacts, gate: Gate | None) -> Identity:
        # 3. the first authenticator that claims the facts decides
        for authenticator in self._authenticators:
            identity = await authenticator.authenticate(attempt, gate)
            if identity is not None:
                return identity
        credentials = attempt.credentials
        user = credentials.user if credentials is not None else ""
        raise AuthenticationFailed("api token incorrect", claimed_user=user)


class SessionAuthenticator:
    """A session cookie and its `/cpsess` security token (w§4, §6, §8); only without a header."""

    def __init__(self, sessions: SessionManager) -> None:
        self._sessions = sessions

    async def authenticate(self, attempt: AuthFacts, gate: Gate | None = None) -> Identity | None:
        if attempt.credentials is not None:
            return None  # an Authorization header: cookies are not consulted (w§2.0)
        session, identity = await self.resolve(
            attempt.cookies, attempt.service, attempt.security_token, attempt.client_address
        )
        if gate is not None:  # it stands until it would expire or its last use is due a write
            gate.proven_until = min(gate.proven_until, self._sessions.stands_until(session))
        return identity

    async def resolve(
        self, cookies: Sequence[str], service: Service, token: str | None, address: str
    ) -> tuple[Session, Identity]:
        """The session and the identity it acts as, or SessionRefused (pages use it too)."""
        session = await self._sessions.resolve(cookies, service, token, address)
        return session, await self._sessions.identity(session, address=address)


class PasswordStore(AccountStore, MailboxStore, Protocol):
    pass


@dataclass(frozen=True, slots=True)
class _PasswordPrincipal:
    identity: Identity | Refusal
    password_hash: str
    mailbox: bool  # the hash belongs to a mailbox record, not an account
    record_key: str  # the account user or mailbox address the hash is stored under


class BasicAuthenticator:
    """`Authorization: Basic` with the identities each service admits (w§2.1)."""

    def __init__(
        self,
        store: PasswordStore,
        pool: HashingPool,
        cache: CredentialCache,
        two_factor: TwoFactor | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._cache = cache
        self._two_factor = two_factor

    async def authenticate(self, attempt: AuthFacts, gate: Gate | None = None) -> Identity | None:
        credentials = attempt.credentials
        if not isinstance(credentials, BasicCredentials):
            return None
        user, password = credentials.user, credentials.password
        principal = await self._resolve(user, attempt.service)
        # 1. a user who is no identity on this service costs a hash all the same (PW-4), and
        # is counted like any other (BF-8)
        if principal is None or principal.identity is Refusal.NOT_HERE:
            if gate is not None:
                await gate.reserve()
            await self._pool.verify(None, password)
            raise AuthenticationFailed("user name not provided or invalid user", claimed_user=user)
        # 2. the password (a verified one is cached, PW-8), rehashed when parameters moved on
        key = principal.record_key
        if not self._cache.contains(key, password, principal.password_hash):
            if gate is not None:  # the hash yields: parallel guesses must not all pass (BF-4)
                await gate.reserve()
            verified = await self._pool.verify(principal.password_hash, password)
            if not verified.ok:
                raise AuthenticationFailed("user password incorrect", claimed_user=user)
            self._cache.add(key, password, principal.password_hash)
            if verified.needs_rehash:
                await self._rehash(principal, password)
        # 3. suspension is revealed only to the right password
        identity = principal.identity
        if identity is Refusal.SUSPENDED:
            raise AuthenticationFailed("account suspended", claimed_user=user, counted=False)
        # 4. w§2.6 (D6): a 2FA user also needs X-CPANEL-OTP, every time
        if (
            attempt.check_second_factor
            and self._two_factor is not None
            and await self._two_factor.required(identity.user)
        ):
            await self._two_factor.check(
                identity.user, attempt.otp, context="header", address=attempt.client_address
            )
        return identity

    async def _rehash(self, principal: _PasswordPrincipal, password: Secret) -> None:
        """Store the hash with today's parameters; best effort: a store that cannot write now
        (locked, full) leaves the old hash, which still verifies, for the next login."""
        new_hash = await self._pool.hash(password)
        key = principal.record_key
        try:
            if principal.mailbox:
                await self._store.set_mailbox_password_hash(key, new_hash, rotate=False)
            else:
                await self._store.set_password_hash(key, new_hash, rotate=False)
        except StoreUnavailable:
            return

    async def _resolve(self, user: str, service: Service) -> _PasswordPrincipal | None:
        """The record whose hash the password must match, and the identity it would give."""
        if service is Service.WEBMAIL and "@" in user:
            mailbox = await self._store.get_mailbox(user.lower())
            if mailbox is None:
                return None
            owner = await self._store.get_account(mailbox.account)
            identity = decide_identity(
                owner,
                service,
                CredentialKind.PASSWORD,
                mailbox=mailbox.address,
                mailbox_suspended=mailbox.suspended_login,
            )
            return _PasswordPrincipal(identity, mailbox.password_hash, True, mailbox.address)
        account = await self._store.get_account(user)
        if account is None:
            return None
        identity = decide_identity(account, service, CredentialKind.PASSWORD)
        return _PasswordPrincipal(identity, account.password_hash, False, account.user)
