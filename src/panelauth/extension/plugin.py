"""`Plugin`: what a plugin package offers, declared with decorators (docs/extending.md).

A declaration is data only: the functions with their requirements, the event handlers, the
certificate source and the storage migrations. Nothing runs until panelauth loads the plugin
(extension/loading.py) and binds it to a worker (extension/assembly.py).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from panelauth.api.registry import Api
from panelauth.core.acls import ACL_NAMES
from panelauth.core.events import EVENT_TYPES, Event
from panelauth.extension.context import PluginContext, PluginServices
from panelauth.extension.storage import MigrationStep
from panelauth.protocol.params import Params

# `async def fn(ctx, args) -> data`: data is anything JSON can carry
PluginHandler = Callable[[PluginContext, Params], Awaitable[Any]]
# `async def on_created(event, services) -> None`
EventHandler = Callable[[Any, PluginServices], Awaitable[None]]
# (certificate chain PEM, private key PEM) to serve for a TLS server name
CertificatePair = tuple[str, str]
# `async def certificate_for(server_name, services) -> CertificatePair | None`
CertificateProvider = Callable[[str, PluginServices], Awaitable[CertificatePair | None]]

F = TypeVar("F", bound=PluginHandler)
H = TypeVar("H", bound=EventHandler)
C = TypeVar("C", bound=CertificateProvider)
M = TypeVar("M", bound=MigrationStep)

_PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True, slots=True)
class PluginFunction:
    """One API function a plugin serves, with the rights a caller needs."""

    api: Api
    module: str  # "" for WHM API 1
    name: str
    handler: PluginHandler
    changes_state: bool
    acl: str | None = None  # WHM API 1: the ACL a WHM user needs ("all": root only)
    feature: str | None = None  # UAPI, API 2: the feature the account's list must grant
    webmail_safe: bool = False  # UAPI, API 2: also callable by a mailbox on Webmail
    sets_password: bool | None = None  # UAPI, API 2: a restricted WHM token then needs passwd


class Plugin:
    """A plugin: its name (also its storage namespace), version and what it offers."""

    def __init__(self, name: str, version: str) -> None:
        if not _PLUGIN_NAME.fullmatch(name):
            raise ValueError(f"plugin name {name!r}: lowercase letters, digits, _ and -")
        self.name = name
        self.version = version
        self.functions: list[PluginFunction] = []
        self.event_handlers: list[tuple[type[Event], EventHandler]] = []
        self.certificate_provider: CertificateProvider | None = None
        self.migrations: list[tuple[int, MigrationStep]] = []

    def whm1(self, name: str, *, changes_state: bool, acl: str | None = None) -> Callable[[F], F]:
        """A WHM API 1 function (`/json-api/<name>`, WHM ports only). `acl`: the WHM ACL a
        reseller (or a narrowed token) needs; None lets every WHM user call it."""
        if acl is not None and acl not in ACL_NAMES:
            raise ValueError(f"{self.name}: {name}: unknown WHM ACL {acl!r}")
        return self._declare(Api.WHM1, "", name, changes_state=changes_state, acl=acl)

    def uapi(
        self,
        module: str,
        name: str,
        *,
        changes_state: bool,
        sets_password: bool,
        feature: str | None = None,
        webmail_safe: bool = False,
    ) -> Callable[[F], F]:
        """A UAPI function (cPanel ports, WHM acting as an account, Webmail if safe)."""
        return self._declare(
            Api.UAPI,
            module,
            name,
            changes_state=changes_state,
            sets_password=sets_password,
            feature=feature,
            webmail_safe=webmail_safe,
        )

    def api2(
        self,
        module: str,
        name: str,
        *,
        changes_state: bool,
        sets_password: bool,
        feature: str | None = None,
        webmail_safe: bool = False,
    ) -> Callable[[F], F]:
        """A cPanel API 2 function (`cpanel_jsonapi_apiversion=2`), served like UAPI."""
        return self._declare(
            Api.API2,
            module,
            name,
            changes_state=changes_state,
            sets_password=sets_password,
            feature=feature,
            webmail_safe=webmail_safe,
        )

    def on(self, event_type: type[Event]) -> Callable[[H], H]:
        """An event handler: `async def handler(event, services) -> None`."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"{self.name}: {event_type!r} is not a panelauth event")

        def register(handler: H) -> H:
            self.event_handlers.append((event_type, handler))
            return handler

        return register

    def certificates(self, provider: C) -> C:
        """The certificate source: `async def certificate_for(server_name, services)` answers
        (chain PEM, key PEM) for a TLS server name it has a certificate for, else None."""
        if self.certificate_provider is not None:
            raise ValueError(f"{self.name}: one certificate source per plugin")
        self.certificate_provider = provider
        return provider

    def migration(self, version: int) -> Callable[[M], M]:
        """A storage migration: run once, in version order, by `serve` and `panelauth migrate`
        while the plugin's storage is below `version`."""
        if version < 1 or any(known == version for known, _ in self.migrations):
            raise ValueError(f"{self.name}: migration {version}: versions are unique, from 1")

        def register(step: M) -> M:
            self.migrations.append((version, step))
            self.migrations.sort(key=lambda migration: migration[0])
            return step

        return register

    def _declare(self, api: Api, module: str, name: str, **requirements: Any) -> Callable[[F], F]:
        for part in (module, name) if module else (name,):
            if not _IDENTIFIER.fullmatch(part):
                raise ValueError(f"{self.name}: {part!r} is not a module or function name")

        def register(handler: F) -> F:
            self.functions.append(PluginFunction(api, module, name, handler, **requirements))
            return handler

        return register
