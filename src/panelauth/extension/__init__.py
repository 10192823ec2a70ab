"""panelauth's extension API: API functions, event handlers and certificates from plugins.

A plugin package declares a `Plugin` and names it in the entry point group
`panelauth.functions`; a server serves it only when `plugins:` in panelauth.yaml lists that
name. docs/extending.md is the guide; this module is everything a plugin imports.
"""

from panelauth.api.registry import Api
from panelauth.clock import Clock
from panelauth.core.events import (
    AccountCreated,
    AccountRemoved,
    AccountSuspended,
    AccountUnsuspended,
    DomainAdded,
    DomainRemoved,
    Event,
)
from panelauth.core.models import Account
from panelauth.errors import FunctionFailed, InvalidArgument, NotFound, PermissionDenied
from panelauth.extension.context import PluginContext, PluginServices
from panelauth.extension.hooks import CertificateSource
from panelauth.extension.loading import ENTRY_POINT_GROUP
from panelauth.extension.plugin import (
    CertificatePair,
    CertificateProvider,
    EventHandler,
    Plugin,
    PluginFunction,
    PluginHandler,
)
from panelauth.extension.reply import Reply, UapiStatus
from panelauth.extension.storage import MigrationStep, PluginStorage, PluginTable
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service

__all__ = [
    "ENTRY_POINT_GROUP",
    "Account",
    "AccountCreated",
    "AccountRemoved",
    "AccountSuspended",
    "AccountUnsuspended",
    "Api",
    "CertificatePair",
    "CertificateProvider",
    "CertificateSource",
    "Clock",
    "DomainAdded",
    "DomainRemoved",
    "Event",
    "EventHandler",
    "FunctionFailed",
    "InvalidArgument",
    "MigrationStep",
    "NotFound",
    "Params",
    "PermissionDenied",
    "Plugin",
    "PluginContext",
    "PluginFunction",
    "PluginHandler",
    "PluginServices",
    "PluginStorage",
    "PluginTable",
    "Reply",
    "Service",
    "UapiStatus",
]
