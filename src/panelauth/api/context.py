"""What a function gets to work with: who calls, from where, and the runtime's parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from panelauth.api.registry import Registry
from panelauth.clock import Clock
from panelauth.core.accounts import Accounts
from panelauth.core.audit import AccountingLog
from panelauth.core.bruteforce import BruteForceGuard
from panelauth.core.credential_changes import AccountChanges, CredentialChanges
from panelauth.core.events import EventBus
from panelauth.core.models import Account, Identity
from panelauth.core.passwords import HashingPool
from panelauth.core.session_manager import SessionManager
from panelauth.core.settings import Settings
from panelauth.core.shared_settings import SharedSettingsView
from panelauth.core.stores import Store
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import PermissionDenied
from panelauth.protocol.services import Service


@dataclass(frozen=True)
class Runtime:
    """The long-lived parts every call shares (one per worker process)."""

    store: Store
    passwords: HashingPool
    clock: Clock
    settings: Settings
    functions: Registry
    accounting: AccountingLog
    home_root: Path  # users' home directories: <home_root>/<user>
    sessions: SessionManager
    two_factor: TwoFactor
    guard: BruteForceGuard  # brute-force protection, for functions that check a password
    # the shared decision settings this worker decides with (core/shared_settings.py); None:
    # a view of `store` over `settings` is made here (one-shot callers and tests)
    shared_settings: SharedSettingsView | None = None
    # account and domain events, to the plugins that subscribe (core/events.py)
    events: EventBus = field(default_factory=EventBus)

    def __post_init__(self) -> None:
        if self.shared_settings is None:
            view = SharedSettingsView(self.store, self.settings, self.clock)
            object.__setattr__(self, "shared_settings", view)

    @property
    def shared(self) -> SharedSettingsView:
        """The per-worker view of the shared settings (`requiressl`, session lifetimes, ...)."""
        view = self.shared_settings
        assert view is not None  # set by __post_init__
        return view

    def credential_changes(self) -> CredentialChanges:
        """Password, second-factor and token changes, with their session ends and records."""
        return CredentialChanges(
            self.store, self.passwords, self.clock, self.sessions, self.two_factor, self.accounting
        )

    def account_changes(self) -> AccountChanges:
        """Suspension and removal, with their session ends and records."""
        return AccountChanges(
            self.store, self.sessions, self.two_factor, self.accounting, self.events
        )


@dataclass(frozen=True)
class CallContext:
    runtime: Runtime
    identity: Identity
    service: Service
    client_address: str
    # the cPanel account a UAPI/API 2 function acts on (None for WHM API 1)
    account: Account | None = None
    # set in a Webmail context: the only mailbox the call may touch (w§16.6)
    mailbox: str | None = None
    # where the server is reached, for the URLs a function hands out (w§10.1): the request's Host
    # header as sent (checked by `public_host` only when a function asks), and the listener's
    # port offset
    host: str | None = None
    port_offset: int = 0

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def public_host(self) -> str:
        """The request's host if it is a configured server name, else the hostname (SS-8)."""
        return self.runtime.settings.public_host(self.host)

    def accounts(self) -> Accounts:
        """Account lifecycle rules over this call's store, hasher and clock."""
        runtime = self.runtime
        return Accounts(runtime.store, runtime.passwords, runtime.clock, runtime.events)

    def acting_account(self) -> Account:
        if self.account is None:
            raise PermissionDenied()
        return self.account

    def may_manage(self, target: Account) -> bool:
        """Root manages every account, a reseller itself and the accounts it owns (w§16.3)."""
        if self.identity.is_root:
            return not target.is_root
        return self.identity.user in (target.user, target.owner)
