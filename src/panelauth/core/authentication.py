"""The authenticator chain: credentials become an Identity, or AuthenticationFailed.

Each authenticator returns an Identity, None ("not mine, ask the next") or raises
AuthenticationFailed ("mine, and it failed"), like Starlette's AuthenticationBackend. The
`detail` of a failure names the factor for the login log (w§14.2); the client always gets the
same "Access denied" (w§2.0, PW-4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from panelauth.core.credential_cache import CredentialCache
from panelauth.core.models import ROOT, CredentialKind, Identity, IdentityKind, root_identity
from panelauth.core.passwords import HashingPool
from panelauth.core.stores import AccountStore, MailboxStore
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import AuthenticationFailed, StoreUnavailable
from panelauth.protocol.authorization import BasicCredentials, Credentials
from panelauth.protocol.services import Service
from panelauth.secret import Secret


@dataclass(frozen=True, slots=True)
class AuthAttempt:
    credentials: Credentials
    service: Service
    client_address: str
    # X-CPANEL-OTP for header auth; for a form login the caller handles the second factor
    otp: str | None = None
    check_second_factor: bool = True


class Authenticator(Protocol):
    async def authenticate(self, attempt: AuthAttempt) -> Identity | None: ...


class AuthenticatorChain:
    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._authenticators = tuple(authenticators)

    async def authenticate(self, attempt: AuthAttempt) -> Identity:
        for authenticator in self._authenticators:
            identity = await authenticator.authenticate(attempt)
            if identity is not None:
                return identity
        raise AuthenticationFailed("api token incorrect", claimed_user=attempt.credentials.user)


class PasswordStore(AccountStore, MailboxStore, Protocol):
    pass


@dataclass(frozen=True, slots=True)
class _PasswordPrincipal:
    identity: Identity
    password_hash: str
    suspended: bool
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

    async def authenticate(self, attempt: AuthAttempt) -> Identity | None:
        credentials = attempt.credentials
        if not isinstance(credentials, BasicCredentials):
            return None
        user, password = credentials.user, credentials.password
        principal = await self._resolve(user, attempt.service)
        if principal is None:
            await self._pool.verify(None, password)  # same work as a real user (PW-4)
            raise AuthenticationFailed("user name not provided or invalid user", claimed_user=user)
        key = principal.record_key
        if not self._cache.contains(key, password, principal.password_hash):
            verified = await self._pool.verify(principal.password_hash, password)
            if not verified.ok:
                raise AuthenticationFailed("user password incorrect", claimed_user=user)
            self._cache.add(key, password, principal.password_hash)
            if verified.needs_rehash:
                await self._rehash(principal, password)
        if principal.suspended:
            raise AuthenticationFailed("account suspended", claimed_user=user)
        # w§2.6 (D6): the password was right; a 2FA user also needs X-CPANEL-OTP, every time
        if (
            attempt.check_second_factor
            and self._two_factor is not None
            and await self._two_factor.required(principal.identity.user)
        ):
            await self._two_factor.check(
                principal.identity.user,
                attempt.otp,
                context="header",
                address=attempt.client_address,
            )
        return principal.identity

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
        if service is Service.WEBMAIL and "@" in user:
            mailbox = await self._store.get_mailbox(user.lower())
            if mailbox is None:
                return None
            owner = await self._store.get_account(mailbox.account)
            if owner is None:
                return None
            identity = Identity(
                mailbox.address, IdentityKind.MAIL, CredentialKind.PASSWORD, owner.user
            )
            suspended = owner.suspended or mailbox.suspended_login
            return _PasswordPrincipal(
                identity, mailbox.password_hash, suspended, True, mailbox.address
            )
        account = await self._store.get_account(user)
        if account is None:
            return None
        if service is Service.WHM:
            if account.is_root:
                identity = root_identity(CredentialKind.PASSWORD)
            elif account.is_reseller:
                identity = Identity(
                    user, IdentityKind.RESELLER, CredentialKind.PASSWORD, user, account.acls
                )
            else:
                return None
        elif account.user == ROOT:
            return None  # root is never a cPanel or Webmail identity (w§2.1)
        elif service is Service.CPANEL:
            identity = Identity(user, IdentityKind.CPANEL, CredentialKind.PASSWORD, user)
        else:  # Webmail, the account's default mailbox
            identity = Identity(user, IdentityKind.MAIL, CredentialKind.PASSWORD, user)
        return _PasswordPrincipal(
            identity, account.password_hash, account.suspended, False, account.user
        )
