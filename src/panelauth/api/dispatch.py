"""Routing and authorisation of function calls, identical for HTTP, the CLI and tests.

Order (w§1.4, after authentication): find the function (404 if unknown), check the rights it
declares (403), run it (200, with result 0 on a functional failure). Every surface of a cPanel
function (UAPI, API 2, through WHM, each port) passes through `cpanel`, so a decision is
the same everywhere (AZ-1); that includes the extra ACLs a restricted WHM token needs there
(`Function.whm_token_acls`, w§16.7).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from panelauth.api.context import CallContext, Runtime
from panelauth.api.outcome import Outcome
from panelauth.api.registry import Api, Function, Registry
from panelauth.core.features import feature_enabled
from panelauth.core.models import Identity, IdentityKind
from panelauth.errors import (
    FunctionNotFound,
    InvalidArgument,
    PanelauthError,
    PermissionDenied,
)
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service

log = logging.getLogger(__name__)


class Dispatcher:
    """Runs functions; returns an Outcome, never an envelope (api/answers renders it)."""

    def __init__(self, runtime: Runtime, registry: Registry) -> None:
        self.runtime = runtime
        self.registry = registry

    async def whm1(
        self,
        identity: Identity,
        name: str,
        params: Params,
        *,
        client_address: str,
        host: str | None = None,
        port_offset: int = 0,
    ) -> Outcome:
        """A WHM API 1 call by a WHM identity (`host`, `port_offset`: see CallContext)."""
        function = self.registry.get(Api.WHM1, "", name)
        try:
            if function is None:
                raise FunctionNotFound()
            if function.acl is not None and not identity.has_acl(function.acl):
                raise PermissionDenied(f"This function requires the “{function.acl}” privilege.")
            context = CallContext(
                self.runtime,
                identity,
                Service.WHM,
                client_address,
                host=host,
                port_offset=port_offset,
            )
            outcome = _outcome(await function.handler(context, params))
        except PanelauthError as error:
            outcome = Outcome(error=error)
        if function is not None and function.changes_accounts and outcome.raw_output is None:
            outcome.raw_output = ""  # account-changing functions always say it (w§15.1)
        return outcome

    def permits_whm1(self, identity: Identity, name: str) -> bool:
        """Whether `identity` may call WHM API 1 `name`: the check `whm1` makes (pages use it
        to show only what a user may do)."""
        function = self.registry.get(Api.WHM1, "", name)
        return function is not None and (function.acl is None or identity.has_acl(function.acl))

    async def permits_cpanel(
        self, api: Api, identity: Identity, service: Service, module: str, name: str
    ) -> bool:
        """Whether `identity` may call a cPanel function on `service` as itself: the checks
        `cpanel` makes before it runs the function."""
        function = self.registry.get(api, module, name)
        if function is None or identity.is_whm_user:
            return False
        try:
            context = await self._cpanel_context(identity, service, "", None, None, 0)
            await self._authorise_cpanel(function, context)
        except PanelauthError:
            return False
        return True

    async def cpanel(
        self,
        api: Api,
        identity: Identity,
        service: Service,
        module: str,
        name: str,
        params: Params,
        *,
        client_address: str,
        acting_user: str | None = None,
        host: str | None = None,
        port_offset: int = 0,
    ) -> Outcome:
        """A UAPI or API 2 call: on a cPanel or Webmail port, or through WHM for `acting_user`."""
        try:
            context = await self._cpanel_context(
                identity, service, client_address, acting_user, host, port_offset
            )
            function = self.registry.get(api, module, name)
            if function is None:
                raise FunctionNotFound()
            await self._authorise_cpanel(function, context)
            return _outcome(await function.handler(context, params))
        except PanelauthError as error:
            return Outcome(error=error)

    async def _cpanel_context(
        self,
        identity: Identity,
        service: Service,
        client_address: str,
        acting_user: str | None,
        host: str | None,
        port_offset: int,
    ) -> CallContext:
        store = self.runtime.store
        if identity.is_whm_user:
            # through WHM (w§16.7): the named account must be one the caller owns
            if not acting_user:
                raise InvalidArgument("You must specify the cPanel user.")
            target = await store.get_account(acting_user)
            probe = CallContext(
                self.runtime, identity, service, client_address, host=host, port_offset=port_offset
            )
            if target is None or target.is_root or not probe.may_manage(target):
                raise PermissionDenied()  # the same answer for absent and foreign (no enumeration)
            return dataclasses.replace(probe, account=target)
        if acting_user and acting_user != identity.account:
            raise PermissionDenied()
        account = await store.get_account(identity.account or "")
        if account is None:
            raise PermissionDenied()
        mailbox = identity.user if identity.kind is IdentityKind.MAIL else None
        if service is Service.WEBMAIL and mailbox is None:
            mailbox = account.user  # the account's default mailbox
        return CallContext(
            self.runtime,
            identity,
            service,
            client_address,
            account,
            mailbox,
            host=host,
            port_offset=port_offset,
        )

    async def _authorise_cpanel(self, function: Function, context: CallContext) -> None:
        account = context.acting_account()
        if context.identity.restricted_token:
            # a WHM token narrower than its owner: the ACLs the function declares (w§16.7)
            for acl in function.whm_token_acls:
                if not context.identity.has_acl(acl):
                    raise PermissionDenied(f"This function requires the “{acl}” privilege.")
        if context.mailbox is not None and not function.webmail_safe:
            raise PermissionDenied("This function is not available in Webmail.")
        if function.feature is not None:
            settings = await self.runtime.store.get_feature_list(account.feature_list)
            if not feature_enabled(settings, function.feature):
                raise PermissionDenied(f"This function requires the “{function.feature}” feature.")


def _outcome(result: Any) -> Outcome:
    return result if isinstance(result, Outcome) else Outcome(result)
