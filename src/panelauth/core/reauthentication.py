"""Re-authentication before a sensitive change made from a page (ASVS 5.0 7.5.1, TF-9).

Removing two-factor, changing a password and creating an API token from a browser page need,
in the same form, the current password or a current TOTP code of the *principal*: the
possessor of a session that root or a reseller opened into an account (w§16.8), else the
session's own user. A code spent here is spent for good, recorded like a login's (w§13.3: never
shared, unlike a header request's code), and a wrong code counts towards the lock (TF-4).

API functions are not affected: a script authenticates each call with its own credential.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from panelauth.core.bruteforce import BruteForceGuard, Gate
from panelauth.core.hulk import Method
from panelauth.core.models import Identity
from panelauth.core.passwords import HashingPool
from panelauth.core.stores import AccountStore, MailboxStore
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import AuthenticationFailed, TwoFactorFailed
from panelauth.secret import Secret

# the replay context of a spent code (w§13.3): a login's, accepted once anywhere
CONTEXT = "session"


class ReauthFactor(enum.Enum):
    PASSWORD = "password"
    TOTP = "totp"


@dataclass(frozen=True, slots=True)
class Reauthentication:
    """The outcome of one re-authentication; `detail` is for the login log only."""

    principal: str  # who had to prove themselves
    factor: ReauthFactor | None  # None: neither a password nor a code was given
    accepted: bool
    detail: str = ""


def principal_of(identity: Identity) -> str:
    """The possessor re-authenticates as itself; anyone else as the session's user."""
    return identity.possessor or identity.user


class PasswordRecords(AccountStore, MailboxStore, Protocol):
    pass


class Reauthenticator:
    def __init__(
        self,
        store: PasswordRecords,
        pool: HashingPool,
        two_factor: TwoFactor,
        guard: BruteForceGuard | None = None,
    ) -> None:
        self._store = store
        self._pool = pool
        self._two_factor = two_factor
        self._guard = guard  # a re-entered password or code is regulated like a login's (BF-1)

    async def verify(
        self, identity: Identity, *, password: Secret, code: str, address: str, service: str = ""
    ) -> Reauthentication:
        """Check a current code if one is given, else the current password."""
        principal = principal_of(identity)
        if not code and not password:
            return Reauthentication(principal, None, False, "reauthentication missing")
        factor = ReauthFactor.TOTP if code else ReauthFactor.PASSWORD
        try:
            if self._guard is None:
                await self._check(principal, password, code, address, None)
            else:
                method = Method.OTP if code else Method.PASSWORD
                async with self._guard.attempt(address, principal, service, method) as gate:
                    await self._check(principal, password, code, address, gate)
        except (AuthenticationFailed, TwoFactorFailed) as failed:
            return Reauthentication(principal, factor, False, failed.detail)
        return Reauthentication(principal, factor, True)

    async def _check(
        self, principal: str, password: Secret, code: str, address: str, gate: Gate | None
    ) -> None:
        if code:
            await self._two_factor.check(principal, code, context=CONTEXT, address=address)
            return
        stored, suspended = await self._password_record(principal)
        if gate is not None:
            await gate.reserve()
        verified = await self._pool.verify(stored, password)  # unknown: the dummy hash (PW-4)
        if not verified.ok:
            raise AuthenticationFailed("user password incorrect", claimed_user=principal)
        if suspended:
            raise AuthenticationFailed("account suspended", claimed_user=principal, counted=False)

    async def _password_record(self, principal: str) -> tuple[str | None, bool]:
        """The stored hash of an account or mailbox, and whether its login is suspended."""
        if "@" in principal:
            mailbox = await self._store.get_mailbox(principal)
            if mailbox is None:
                return None, False
            return mailbox.password_hash, mailbox.suspended_login
        account = await self._store.get_account(principal)
        if account is None:
            return None, False
        return account.password_hash, account.suspended
