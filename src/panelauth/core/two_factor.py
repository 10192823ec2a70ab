"""Two-factor authentication: enrolment, the check at every password path, the policy (w§9, §13).

* TF-2: a code's step is recorded atomically when it is accepted; see TwoFactorStore.
* TF-4: wrong codes are counted; 5 in 15 minutes lock the account's second factor for 15.
* TF-6: state lives only here and in the store; nothing from a request can set it.
* TF-7: an enrolled user whose secret cannot be read cannot log in with a password.
* FT-9: codes are checked against `totp_clock`, the system clock (authenticator apps follow
  real time); the lock and every recorded time follow `clock`, the effective time.
"""

from __future__ import annotations

from typing import Protocol

from panelauth.clock import Clock
from panelauth.core.models import Account
from panelauth.core.secretbox import SecretBox, SecretUnreadable
from panelauth.core.shared_settings import SharedSource
from panelauth.core.stores import AccountStore, SettingStore, TwoFactorStore
from panelauth.core.totp import VerifiedTotp, otpauth_uri, validate_secret, verify_totp
from panelauth.errors import InvalidArgument, PanelauthError, TwoFactorFailed

POLICY_KEY = "twofactorauth_policy"
SYSTEM_ISSUER_KEY = "twofactorauth_issuer"
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60


class TwoFactorAllStore(AccountStore, TwoFactorStore, SettingStore, Protocol):
    pass


class TwoFactor:
    def __init__(
        self,
        store: TwoFactorAllStore,
        box: SecretBox,
        clock: Clock,
        *,
        hostname: str,
        window: int | SharedSource = 1,
        totp_clock: Clock | None = None,
    ) -> None:
        """`window`: accepted steps either side of now; fixed, or the shared settings in force
        (the server's view, core/shared_settings.py: `panelauth_tfa_window_steps`)."""
        self._store = store
        self._box = box
        self._clock = clock
        self._totp_clock = totp_clock or clock
        self._hostname = hostname
        self._fixed_window = window if isinstance(window, int) else None
        self._shared = None if isinstance(window, int) else window

    @property
    def _window(self) -> int:
        """The TOTP window in force now."""
        if self._shared is not None:
            return self._shared.value.tfa_window_steps
        assert self._fixed_window is not None
        return self._fixed_window

    async def policy_enabled(self) -> bool:
        """On unless root switched it off; unreadable counts as on (w§13.3, TF-7)."""
        try:
            return await self._store.get_setting(POLICY_KEY) != "0"
        except PanelauthError:
            return True

    async def set_policy(self, enabled: bool) -> None:
        await self._store.set_setting(POLICY_KEY, "1" if enabled else "0")

    async def required(self, user: str) -> bool:
        """Whether `user` must give a code: enrolled while the policy is on."""
        if await self._store.get_tfa_secret(user) is None:
            return False  # checked first: most users are not enrolled, one lookup for them
        return await self.policy_enabled()

    async def enrolled(self, user: str) -> bool:
        return await self._store.get_tfa_secret(user) is not None

    async def check(self, user: str, code: str | None, *, context: str, address: str) -> None:
        """Accept `code` for `user` once (per the replay rules), or raise TwoFactorFailed.

        For a header request: the step is spent here. A session login instead calls `verify`
        and spends the step in the transaction that creates the session (TF-2).
        """
        verified = await self.verify(user, code)
        now = self._clock.now()
        # spent atomically: a replay elsewhere fails here (TF-2)
        if not await self._store.use_totp_step(user, verified.step, context, address, now):
            raise TwoFactorFailed("2fa code reused", counted=True)

    async def verify(self, user: str, code: str | None) -> VerifiedTotp:
        """Check `code` without spending it; the caller must spend `step` atomically."""
        if not code:
            raise TwoFactorFailed("2fa code missing", counted=False)
        now = self._clock.now()
        # 1. locked after too many wrong codes (TF-4)
        if await self._store.tfa_failures_since(user, now - FAILURE_WINDOW_SECONDS) >= MAX_FAILURES:
            raise TwoFactorFailed("2fa locked after too many wrong codes", counted=True)
        # 2. the secret must be readable, or nobody gets in with a password (TF-7)
        sealed = await self._store.get_tfa_secret(user)
        if sealed is None:
            raise TwoFactorFailed("2fa not configured", counted=False)
        try:
            secret = self._box.open(sealed, owner=user)
        except SecretUnreadable:
            raise TwoFactorFailed("2fa secret unreadable", counted=False) from None
        # 3. a valid code, newer than the newest used one (TF-2, TF-3)
        last = await self._store.last_totp_step(user)
        verified = verify_totp(
            code=code, secret=secret, at=self._totp_clock.now(), last_step=last, window=self._window
        )
        if verified is None:
            await self._store.record_tfa_failure(user, now)
            raise TwoFactorFailed("2fa code incorrect", counted=True)
        return verified

    async def enrol(self, user: str, secret: str, code: str, *, address: str) -> None:
        """Enable two-factor with `secret`, proven by `code`, which is then spent (TF-9)."""
        secret = validate_secret(secret)
        now = self._clock.now()
        verified = verify_totp(
            code=code,
            secret=secret,
            at=self._totp_clock.now(),
            last_step=await self._store.last_totp_step(user),
            window=self._window,
        )
        if verified is None:
            raise InvalidArgument("The security code is invalid.")
        sealed = self._box.seal(secret, owner=user)
        if not await self._store.set_tfa_secret(
            user, sealed, step=verified.step, address=address, now=now
        ):
            raise InvalidArgument("The security code was used already; wait for the next one.")

    async def remove(self, user: str) -> bool:
        return await self._store.delete_tfa_secret(user)

    async def issuer_for(self, account: Account | None) -> str:
        """The reseller's own issuer, else its owner's, else the system's, else the hostname."""
        if account is not None:
            for owner in (account.user, account.owner):
                issuer = await self._store.get_issuer(owner)
                if issuer:
                    return issuer
        return await self._store.get_setting(SYSTEM_ISSUER_KEY) or self._hostname

    async def uri(self, account: Account | None, label: str, secret: str) -> str:
        return otpauth_uri(await self.issuer_for(account), label, secret)
