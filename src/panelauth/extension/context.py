"""What a plugin's code gets: its services, and for a function call the caller as well."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from panelauth.api.context import CallContext
from panelauth.clock import Clock
from panelauth.core.features import FEATURES, feature_enabled
from panelauth.core.models import Account, IdentityKind
from panelauth.errors import InvalidArgument, NotFound, PermissionDenied
from panelauth.extension.storage import PluginStorage
from panelauth.protocol.services import Service

_MAX_DOMAIN = 253


@dataclass(frozen=True, slots=True)
class PluginServices:
    """A plugin's own parts on one worker: its storage namespace, the clock and its logger
    (`panelauth.plugin.<name>`, written to logs/panelauth.log)."""

    name: str
    storage: PluginStorage
    clock: Clock
    log: logging.Logger


class PluginContext:
    """One call of a plugin function: who calls, from where, on what, and the plugin's parts.

    Only the checks the function declared have run (ACL, feature, Webmail); whether a named
    account or domain is the caller's is the function's to ask: `require_account`,
    `require_domain`.
    """

    __slots__ = ("_call", "_services")

    def __init__(self, call: CallContext, services: PluginServices) -> None:
        self._call = call
        self._services = services

    @property
    def user(self) -> str:
        """Who authenticated: root, a reseller, a cPanel account or (Webmail) a mailbox."""
        return self._call.identity.user

    @property
    def is_root(self) -> bool:
        return self._call.identity.is_root

    @property
    def is_reseller(self) -> bool:
        """A reseller calling as itself on WHM (a reseller's cPanel login is a cPanel user)."""
        return self._call.identity.kind is IdentityKind.RESELLER

    @property
    def account(self) -> Account | None:
        """The cPanel account a UAPI or API 2 call acts on (through WHM: the one named by
        `cpanel_jsonapi_user`); None in a WHM API 1 call."""
        return self._call.account

    @property
    def mailbox(self) -> str | None:
        """On Webmail: the one mailbox the call may touch."""
        return self._call.mailbox

    @property
    def service(self) -> Service:
        return self._call.service

    @property
    def client_address(self) -> str:
        return self._call.client_address

    @property
    def clock(self) -> Clock:
        return self._services.clock

    @property
    def storage(self) -> PluginStorage:
        """The plugin's own namespace in panelauth's store."""
        return self._services.storage

    @property
    def log(self) -> logging.Logger:
        return self._services.log

    def has_acl(self, acl: str) -> bool:
        """Whether the caller holds a WHM ACL (root: every one)."""
        return self._call.identity.has_acl(acl)

    async def require_account(self, user: str) -> Account:
        """The account `user` if it is the caller's, else PermissionDenied.

        WHM API 1: root manages every account, a reseller itself and the accounts it owns.
        UAPI and API 2: only the acting account itself. Anyone but root gets the same refusal
        for an absent account as for someone else's (no enumeration); root learns NotFound.
        """
        account = await self._call.store.get_account(user)
        if account is None and self.is_root and self.account is None:
            raise NotFound(f"The account “{user}” does not exist.")
        if account is None or not self._owns(account):
            raise PermissionDenied()
        return account

    async def owns_account(self, user: str) -> bool:
        """Whether `require_account(user)` would give the account (for filtering lists)."""
        account = await self._call.store.get_account(user)
        return account is not None and self._owns(account)

    async def require_domain(self, domain: str, *, subdomains: bool = False) -> Account:
        """The account owning `domain` if it is the caller's (as `require_account`), else
        PermissionDenied (NotFound for root when no account has it). `subdomains=True`: a name
        under an account's domain counts as that domain (`_acme-challenge.example.com`)."""
        name = domain.strip().lower().removesuffix(".")
        if not name or len(name) > _MAX_DOMAIN or ".." in name or name.startswith("."):
            raise InvalidArgument(f"“{domain[:_MAX_DOMAIN]}” is not a domain name.")
        labels = name.split(".")
        candidates = (
            [".".join(labels[i:]) for i in range(len(labels) - 1)] if subdomains else [name]
        )
        for candidate in candidates:
            owner = await self._call.store.domain_owner(candidate)
            if owner is not None:
                account = await self._call.store.get_account(owner)
                if account is not None and self._owns(account):
                    return account
                raise PermissionDenied()
        if self.is_root and self.account is None:
            raise NotFound(f"No account has the domain “{name}”.")
        raise PermissionDenied()

    async def has_feature(self, name: str) -> bool:
        """Whether the acting account's feature list grants `name`, by the rule the dispatcher
        checks a function's `feature` with (a feature no list names is on). False in WHM API 1
        (no account acts) and for an account whose feature list is missing."""
        account = self.account
        if account is None:
            return False
        settings = await self._call.store.get_feature_list(account.feature_list)
        return feature_enabled(settings, name)

    async def feature_exists(self, name: str) -> bool:
        """Whether this server knows the feature `name`: one panelauth's functions or a served
        plugin function declares, or one the acting account's feature list names."""
        declared = {function.feature for function in self._call.runtime.functions.every()}
        if name in FEATURES or name in declared:
            return True
        account = self.account
        if account is None:
            return False
        settings = await self._call.store.get_feature_list(account.feature_list)
        return name in (settings or {})

    def _owns(self, account: Account) -> bool:
        acting = self.account
        if acting is not None:  # a cPanel call: the dispatcher already vetted the acting account
            return account.user == acting.user
        return self._call.may_manage(account)
