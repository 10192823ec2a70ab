"""Identities and call shortcuts for API tests."""

from __future__ import annotations

from typing import Any

from panelauth.api.answers import Answer, Endpoint, Envelope, render
from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.core.models import CredentialKind, Identity, IdentityKind, root_identity
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service

ROOT = root_identity(CredentialKind.PASSWORD)
BOB = Identity("bob", IdentityKind.CPANEL, CredentialKind.PASSWORD, "bob")


def reseller_identity(acls: frozenset[str]) -> Identity:
    return Identity("res", IdentityKind.RESELLER, CredentialKind.PASSWORD, "res", acls)


def mail_identity(address: str, account: str) -> Identity:
    return Identity(address, IdentityKind.MAIL, CredentialKind.PASSWORD, account)


async def whm(dispatcher: Dispatcher, identity: Identity, name: str, /, **args: Any) -> Answer:
    """The call's outcome in WHM API 1's envelope, as the gateway answers it."""
    pairs = [(key.replace("__", "-"), str(value)) for key, value in args.items()]
    outcome = await dispatcher.whm1(identity, name, Params(pairs), client_address="192.0.2.1")
    return render(outcome, Endpoint(Envelope.WHM1, "", name), Service.WHM)


async def uapi(
    dispatcher: Dispatcher,
    identity: Identity,
    module: str,
    name: str,
    /,
    *,
    service: Service = Service.CPANEL,
    acting_user: str | None = None,
    api: Api = Api.UAPI,
    **args: Any,
) -> Answer:
    """The call's outcome in the UAPI or API 2 envelope, as the gateway answers it."""
    pairs = [(key.replace("__", "-"), str(value)) for key, value in args.items()]
    outcome = await dispatcher.cpanel(
        api,
        identity,
        service,
        module,
        name,
        Params(pairs),
        client_address="192.0.2.1",
        acting_user=acting_user,
    )
    envelope = Envelope.UAPI if api is Api.UAPI else Envelope.API2
    return render(outcome, Endpoint(envelope, module, name), service)


def metadata(answer: Answer) -> dict[str, Any]:
    result: dict[str, Any] = answer.document["metadata"]
    return result
