"""Changing credentials: a password, a second factor, an API token (w§9, w§11, PW-9, TF-9).

The one path for each change, whoever asks (WHM API 1, UAPI, pages, the command line): the
change itself, the sessions it ends and its accounting record, written here and nowhere else.
Callers authorise first (API functions by their declarations, pages also by re-authentication,
core.reauthentication), then call one method; they never purge or record themselves (AZ-1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from panelauth.clock import Clock
from panelauth.core.access_hash import write_access_hash_file
from panelauth.core.accounts import Accounts
from panelauth.core.audit import AccountingLog
from panelauth.core.events import (
    AccountRemoved,
    AccountSuspended,
    AccountUnsuspended,
    DomainRemoved,
    EventBus,
)
from panelauth.core.models import Account
from panelauth.core.passwords import HashingPool
from panelauth.core.session_manager import PASSWORD_CHANGE, Created, SessionManager
from panelauth.core.stores import Store
from panelauth.core.tokens import (
    ApiToken,
    TokenKind,
    digest,
    generate_access_hash,
    generate_token,
    validate_token_name,
)
from panelauth.core.totp import generate_secret
from panelauth.core.two_factor import SYSTEM_ISSUER_KEY, TwoFactor
from panelauth.errors import AlreadyExists, FunctionFailed, NotFound
from panelauth.secret import Secret

KILL = "kill"  # the session_log purge reason of a two-factor change (w§14.1)
POLICY_DISABLED = "Two-factor authentication is disabled on this server."


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: ApiToken
    plain: str  # shown once, never stored (TK-1)


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """What a password change leaves for the server: the caller's successor session, when the
    caller changed its own password from a session (PW-9); the server sends its cookie."""

    rotated: Created | None = None


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A generated two-factor secret and its otpauth URI; nothing stored or enabled yet."""

    secret: str
    otpauth_uri: str


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

    # -- passwords (PW-9, CV-9) -------------------------------------------------------------

    async def change_password(
        self,
        user: str,
        password: Secret | str,
        *,
        actor: str,
        caller_session: str | None,
        address: str | None,
        path: str = "form",
    ) -> PasswordChanged:
        """Set the password of an account, or of a mailbox (`user` has an `@`).

        Every session of `user` ends (`password_change`). When `caller_session` is a session of
        `user` itself, it is replaced by a successor (new id, secret and security token) that
        the result carries; another caller's session is not touched.
        """
        accounts = Accounts(self._store, self._passwords, self._clock)
        if "@" in user:
            plain = password.reveal() if isinstance(password, Secret) else password
            await accounts.change_mailbox_password(user, plain)
        else:
            await accounts.change_password(user, password)
        self._accounting.record("PASSWD", actor, user)
        rotated = None
        previous = await self._store.get_session(caller_session) if caller_session else None
        if previous is not None and previous.user == user:
            rotated = await self._sessions.successor(
                previous,
                method=previous.method,
                path=path,
                address=address or previous.bound_address or "",
                user_agent=previous.user_agent,
                credential_version=await self._sessions.current_credential_version(user),
            )
        keep = rotated.session.session_id if rotated is not None else caller_session
        # the caller's previous session, when rotated, ends here with the others
        await self._sessions.purge_user(user, PASSWORD_CHANGE, keep=keep, address=address)
        return PasswordChanged(rotated)

    # -- two-factor (w§9, w§13, TF-9) -------------------------------------------------------

    async def require_two_factor_policy(self) -> None:
        """Two-factor is neither offered nor enforced while root has switched it off."""
        if not await self._two_factor.policy_enabled():
            raise FunctionFailed(POLICY_DISABLED)

    async def new_two_factor_secret(self, user: str, account: Account | None) -> NewSecret:
        """A fresh secret for `user` and its otpauth URI; nothing is stored (w§13.3)."""
        await self.require_two_factor_policy()
        secret = generate_secret()
        return NewSecret(secret, await self._two_factor.uri(account, user, secret))

    async def enrol_two_factor(
        self,
        user: str,
        secret: str,
        code: str,
        *,
        actor: str,
        keep: str | None,
        address: str,
    ) -> None:
        """Enable `user`'s second factor with a code of `secret`, which is then spent; the
        user's other sessions end (`kill`), `keep` (the caller's own session) stays."""
        await self.require_two_factor_policy()
        await self._two_factor.enrol(user, secret, code, address=address)
        # only that identity: the account's mailboxes have second factors of their own
        await self._sessions.purge_identity(user, KILL, keep=keep, address=address)
        self._accounting.record("TWOFACTORAUTH_SET", actor, user)

    async def remove_two_factor(
        self, user: str, *, actor: str, keep: str | None, address: str | None
    ) -> bool:
        """Remove `user`'s second factor; its other sessions end (w§9). False: there was none."""
        if not await self._two_factor.remove(user):
            return False
        await self._sessions.purge_identity(user, KILL, keep=keep, address=address)
        self._accounting.record("TWOFACTORAUTH_REMOVE", actor, user)
        return True

    async def set_two_factor_policy(self, *, actor: str, enabled: bool) -> None:
        await self._two_factor.set_policy(enabled)
        self._accounting.record("TWOFACTORAUTH_POLICY", actor, "enabled" if enabled else "disabled")

    async def set_two_factor_issuer(self, *, actor: str, owner: str | None, issuer: str) -> None:
        """The issuer of `owner`'s accounts (a reseller), or the system-wide one (None)."""
        if owner is None:
            await self._store.set_setting(SYSTEM_ISSUER_KEY, issuer)
        else:
            await self._store.set_issuer(owner, issuer)
        self._accounting.record("TWOFACTORAUTH_ISSUER", actor, issuer)

    # -- API tokens and the access hash (w§11, w§12, TK-8) ----------------------------------

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

    async def revoke_token(self, *, actor: str, owner: str, kind: TokenKind, name: str) -> bool:
        """Delete `owner`'s token `name`; False if there was none (nothing recorded)."""
        if not await self._store.delete_token(owner, kind, name):
            return False
        self._accounting.record("API_TOKEN_REVOKE", actor, owner, kind.value, name)
        return True

    async def update_token(self, *, actor: str, old_name: str, token: ApiToken) -> None:
        """Rewrite the token now named `old_name` (name, expiry, ACLs, IP list)."""
        await self._store.replace_token(old_name, token)
        action = "API_TOKEN_UPDATE" if token.kind is TokenKind.WHM else "API_TOKEN_RENAME"
        self._accounting.record(action, actor, token.owner, token.kind.value, old_name)

    async def generate_access_hash(self, *, actor: str, user: str, path: Path) -> str:
        """A new access hash in `path` (0600); the old one stops working at once (TK-9)."""
        text = generate_access_hash()
        temporary = write_access_hash_file(path, text)
        try:
            await self._store.set_access_hash_digest(user, digest(text), int(self._clock.now()))
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, path)
        self._accounting.record("ACCESSHASH_GENERATE", actor, user)
        return text

    async def convert_access_hash(self, *, actor: str, user: str) -> str:
        """Import `user`'s access hash digest as a WHM token `accesshash-<epoch>` (w§12)."""
        hash_digest = await self._store.get_access_hash_digest(user)
        if hash_digest is None:
            raise NotFound(
                f"{user} has no access hash; make one with "
                "`panelauth whmapi1 accesshash generate=1`, then convert it."
            )
        now = int(self._clock.now())
        base = f"accesshash-{now}"
        token = ApiToken(user, TokenKind.WHM, base, hash_digest, now)
        for suffix in range(100):
            name = base if suffix == 0 else f"{base}-{suffix}"
            try:
                await self._store.insert_token(replace(token, name=name))
            except AlreadyExists:
                if await self._store.find_token(user, TokenKind.WHM, hash_digest) is not None:
                    raise AlreadyExists("This access hash was converted already.") from None
                continue
            self._accounting.record("ACCESSHASH_CONVERT", actor, user, "whm", name)
            return name
        raise AlreadyExists("No free token name.")


class AccountChanges:
    """Suspension and removal: the account's sessions end here (PW-8), with the record and
    the event."""

    def __init__(
        self,
        store: Store,
        sessions: SessionManager,
        two_factor: TwoFactor,
        accounting: AccountingLog,
        events: EventBus | None = None,  # None: nobody listens
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._two_factor = two_factor
        self._accounting = accounting
        self._events = events or EventBus()

    async def suspend(self, user: str, reason: str, *, actor: str, address: str | None) -> None:
        """Every credential of `user` is refused from now on; its sessions end (`suspend`)."""
        if not await self._store.set_suspended(user, True, reason):
            raise NotFound(f"The account “{user}” does not exist.")
        await self._sessions.purge_user(user, "suspend", address=address)
        self._accounting.record("SUSPEND", actor, user, reason)
        await self._events.publish(AccountSuspended(user, reason))

    async def unsuspend(self, user: str, *, actor: str) -> None:
        """Nothing else changes: the sessions ended at suspension stay ended."""
        if not await self._store.set_suspended(user, False, ""):
            raise NotFound(f"The account “{user}” does not exist.")
        self._accounting.record("UNSUSPEND", actor, user)
        await self._events.publish(AccountUnsuspended(user))

    async def remove_account(self, user: str, *, actor: str, address: str | None) -> None:
        """Remove the account with its mailboxes and tokens (the store cascades), its and its
        mailboxes' second factors, and end their sessions (`killacct`)."""
        account = await self._store.get_account(user)  # its domain and owner, for the events
        mailboxes = await self._store.list_mailboxes(user)
        if account is None or not await self._store.delete_account(user):
            raise NotFound(f"The account “{user}” does not exist.")
        for identity in [user, *(mailbox.address for mailbox in mailboxes)]:
            await self._two_factor.remove(identity)
        await self._sessions.purge_user(user, "killacct", address=address)
        self._accounting.record("REMOVE", actor, user)
        await self._events.publish(
            DomainRemoved(user, account.domain), AccountRemoved(user, account.domain, account.owner)
        )

    async def remove_mailbox(self, address: str, *, actor: str, client: str | None) -> None:
        """Remove a mailbox, its second factor and its Webmail sessions (`kill`)."""
        if not await self._store.delete_mailbox(address):
            raise NotFound(f"The email account “{address}” does not exist.")
        await self._two_factor.remove(address)
        await self._sessions.purge_user(address, KILL, address=client)
        self._accounting.record("DELPOP", actor, address)
