"""UAPI `Tokens`: cPanel API tokens, full access only (w§11.3), feature `apitokens`."""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Api, Registry
from panelauth.core.tokens import (
    ApiToken,
    TokenKind,
    parse_expires_at,
    validate_token_name,
)
from panelauth.errors import AlreadyExists, InvalidArgument, NotFound
from panelauth.protocol.params import Params

registry = Registry()
KIND = TokenKind.CPANEL
FEATURE = "apitokens"


def _owner(ctx: CallContext) -> str:
    return ctx.acting_account().user


@registry.cpanel(Api.UAPI, "Tokens", "create_full_access", sets_password=False, feature=FEATURE)
async def create_full_access(ctx: CallContext, args: Params) -> dict[str, Any]:
    name = validate_token_name(args.require("name"))
    expires_at = parse_expires_at(args.get("expires_at", ""), ctx.clock.now())
    issued = await ctx.runtime.credential_changes().create_token(
        actor=ctx.identity.user, owner=_owner(ctx), kind=KIND, name=name, expires_at=expires_at
    )
    data: dict[str, Any] = {"token": issued.plain, "create_time": issued.token.created_at}
    if expires_at is not None:
        data["expires_at"] = expires_at
    return data


@registry.cpanel(Api.UAPI, "Tokens", "list", sets_password=False, feature=FEATURE)
async def list_tokens(ctx: CallContext, args: Params) -> list[dict[str, Any]]:
    entries = []
    for token in await ctx.store.list_tokens(_owner(ctx), KIND):
        entry: dict[str, Any] = {
            "name": token.name,
            "create_time": token.created_at,
            "has_full_access": 1,
        }
        if token.expires_at is not None:
            entry["expires_at"] = token.expires_at
        entries.append(entry)
    return entries


@registry.cpanel(Api.UAPI, "Tokens", "revoke", sets_password=False, feature=FEATURE)
async def revoke(ctx: CallContext, args: Params) -> int:
    owner, name = _owner(ctx), args.require("name")
    revoked = await ctx.runtime.credential_changes().revoke_token(
        actor=ctx.identity.user, owner=owner, kind=KIND, name=name
    )
    return int(revoked)


@registry.cpanel(Api.UAPI, "Tokens", "rename", sets_password=False, feature=FEATURE)
async def rename(ctx: CallContext, args: Params) -> int:
    owner, name = _owner(ctx), args.require("name")
    new_name = validate_token_name(args.require("new_name"))
    if new_name == name:
        raise InvalidArgument("The new name must differ from the old one.")
    token = await ctx.store.get_token(owner, KIND, name)
    if token is None:
        raise NotFound(f"The API token “{name[:64]}” does not exist.")
    if await ctx.store.get_token(owner, KIND, new_name) is not None:
        raise AlreadyExists(f"An API token named “{new_name}” already exists.")
    renamed = ApiToken(
        owner, KIND, new_name, token.digest, token.created_at, token.expires_at, token.acls
    )
    await ctx.runtime.credential_changes().update_token(
        actor=ctx.identity.user, old_name=name, token=renamed
    )
    return 1
