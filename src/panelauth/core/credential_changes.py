"""Changing credentials: a password, a second factor, an API token (w§9, w§11, PW-9, TF-9).

One place for what each change does besides the change itself: which sessions end, and what the
accounting log records. API functions call these after their own authorisation, pages after
that and a re-authentication (core.reauthentication); both decide and record alike (AZ-1).
"""

from __future__ import annotations

from dataclasses import dataclass

from panelauth.clock import Clock
from panelauth.core.accounts import Accounts
from panelauth.core.audit import AccountingLog
from panelauth.core.passwords import HashingPool
from panelauth.core.session_manager import SessionManager
from panelauth.core.stores import Store
from panelauth.core.tokens import ApiToken, TokenKind, digest, generate_token, validate_token_name
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import AlreadyExists
from panelauth.secret import Secret

KILL = "kill"  # the session_log purge reason of a two-factor change (w§14.1)
PASSWORD_CHANGE = "password_change"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: ApiToken
    plain: str  # shown once, never stored (TK-1)


class CredentialChanges:
    def __init__(
        self,
        store: Store,
        passwords: HashingPool,
        clock: Clock,
        sessions: SessionManager,
        two_factor: TwoFactor,
        accounting: AccountingLog,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock
        self._sessions = sessions
        self._two_factor = two_factor
        self._accounting = accounting

    async def change_password(self, user: str, password: Secret | str, *, keep: str | None) -> None:
        """Set the password of an account, or of a mailbox (`user` has an `@`).

        Every other session of `user` ends; `keep` (the caller's own session) stays (PW-9).
        """
        accounts = Accounts(self._store, self._passwords, self._clock)
        if "@" in user:
            plain = password.reveal() if isinstance(password, Secret) else password
            await accounts.change_mailbox_password(user, plain)
        else:
            await accounts.change_password(user, password)
        await self._sessions.purge_user(user, PASSWORD_CHANGE, keep=keep)

    async def remove_two_factor(
        self, user: str, *, actor: str, keep: str | None, address: str
    ) -> bool:
        """Remove `user`'s second factor; its other sessions end (w§9). False: there was none."""
        if not await self._two_factor.remove(user):
            return False
        # only that identity: the account's mailboxes have second factors of their own
        await self._sessions.purge_identity(user, KILL, keep=keep, address=address)
        self._accounting.record("TWOFACTORAUTH_REMOVE", actor, user)
        return True

    async def create_token(
        self,
        *,
        actor: str,
        owner: str,
        kind: TokenKind,
        name: str,
        expires_at: int | None = None,
        acls: frozenset[str] | None = None,
        whitelist: tuple[str, ...] | None = None,
    ) -> IssuedToken:
        """A new token of `owner`; only its digest is stored (TK-1)."""
        name = validate_token_name(name)
        if await self._store.get_token(owner, kind, name) is not None:
            raise AlreadyExists(f"An API token named “{name}” already exists.")
        plain = generate_token()
        now = int(self._clock.now())
        token = ApiToken(owner, kind, name, digest(plain), now, expires_at, acls, whitelist)
        await self._store.insert_token(token)
        self._accounting.record("API_TOKEN_CREATE", actor, owner, kind.value, name)
        return IssuedToken(token, plain)
