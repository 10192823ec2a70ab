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

from panelauth.core.credential_cache import CredentialCache
from panelauth.core.identities import Refusal, decide_identity
from panelauth.core.models import CredentialKind, Identity
from panelauth.core.passwords import HashingPool
from panelauth.core.session_manager import SessionManager
from panelauth.core.sessions import Session
from panelauth.core.stores import AccountStore, MailboxStore
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import AuthenticationFailed, StoreUnavailable
from panelauth.protocol.authorization import BasicCredentials, Credentials, MalformedCredentials
from panelauth.protocol.services import Service
from panelauth.secret import Secret


class AuthFacts(Protocol):
    """What authentication reads of a request, gathered once by the server (RequestFacts)."""

    @property
    def service(self) -> Service: ...
    @property
    def client_address(self) -> str: ...
    # the Authorization header, parsed once: credentials, malformed, or neither (no header)
    @property
    def credentials(self) -> Credentials | None: ...
    @property
    def malformed(self) -> MalformedCredentials | None: ...
    @property
    def otp(self) -> str | None: ...  # X-CPANEL-OTP (w§2.6)
    @property
    def cookies(self) -> Sequence[str]: ...  # this service's session cookie values
    @property
    def security_token(self) -> str | None: ...  # the supplied /cpsess segment (w§6)
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
    async def authenticate(self, attempt: AuthFacts) -> Identity | None: ...


class AuthenticatorChain:
    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._authenticators = tuple(authenticators)

    async def authenticate(self, attempt: AuthFacts) -> Identity:
        # 1. a header that cannot carry a credential fails, and never falls back (w§2.0)
        malformed = attempt.malformed
        if malformed is not None:
            raise AuthenticationFailed(malformed.reason, claimed_user=malformed.claimed_user)
        # 2. the first authenticator that claims the facts decides
        for authenticator in self._authenticators:
            identity = await authenticator.authenticate(attempt)
            if identity is not None:
                return identity
        credentials = attempt.credentials
        user = credentials.user if credentials is not None else ""
        raise AuthenticationFailed("api token incorrect", claimed_user=user)


class SessionAuthenticator:
    """A session cookie and its `/cpsess` security token (w§4, §6, §8); only without a header."""

    def __init__(self, sessions: SessionManager) -> None:
        self._sessions = sessions

    async def authenticate(self, attempt: AuthFacts) -> Identity | None:
        if attempt.credentials is not None:
            return None  # an Authorization header: cookies are not consulted (w§2.0)
        _, identity = await self.resolve(
            attempt.cookies, attempt.service, attempt.security_token, attempt.client_address
        )
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

    async def authenticate(self, attempt: AuthFacts) -> Identity | None:
        credentials = attempt.credentials
        if not isinstance(credentials, BasicCredentials):
            return None
        user, password = credentials.user, credentials.password
        principal = await self._resolve(user, attempt.service)
        # 1. a user who is no identity on this service costs a hash all the same (PW-4)
        if principal is None or principal.identity is Refusal.NOT_HERE:
            await self._pool.verify(None, password)
            raise AuthenticationFailed("user name not provided or invalid user", claimed_user=user)
        # 2. the password (a verified one is cached, PW-8), rehashed when parameters moved on
        key = principal.record_key
        if not self._cache.contains(key, password, principal.password_hash):
            verified = await self._pool.verify(principal.password_hash, password)
            if not verified.ok:
                raise AuthenticationFailed("user password incorrect", claimed_user=user)
            self._cache.add(key, password, principal.password_hash)
            if verified.needs_rehash:
                await self._rehash(principal, password)
        # 3. suspension is revealed only to the right password
        identity = principal.identity
        if identity is Refusal.SUSPENDED:
            raise AuthenticationFailed("account suspended", claimed_user=user)
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
