"""WHM API 1 `api_token_*` (w§11.2) and `accesshash` (w§12).

Callers manage only their own tokens. A token may create or widen tokens only within its own
effective ACLs (TK-4), because `ctx.identity.acls` already holds the effective set.
"""

from __future__ import annotations

import hmac
from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry
from panelauth.core.access_hash import access_hash_path, read_access_hash_file
from panelauth.core.acls import ACL_NAMES
from panelauth.core.tokens import (
    ApiToken,
    TokenKind,
    digest,
    effective_acls,
    parse_expires_at,
    parse_whitelist,
    validate_token_name,
)
from panelauth.errors import AlreadyExists, InvalidArgument, NotFound
from panelauth.protocol.params import Params

registry = Registry()
KIND = TokenKind.WHM


def _requested_acls(ctx: CallContext, args: Params) -> frozenset[str] | None:
    """The `acl`/`acl-N` list, each one the caller holds; None (the owner's rights) if none
    was sent, except from a restricted token, whose new tokens get its own narrower set (TK-4)."""
    requested = [acl for acl in args.get_list("acl") if acl]
    if not requested:
        return ctx.identity.acls if ctx.identity.restricted_token else None
    for acl in requested:
        if (
            acl not in ACL_NAMES
            or not ctx.identity.has_acl(acl)
            or (acl == "all" and "all" not in ctx.identity.acls)
        ):
            raise InvalidArgument(f"Invalid or unauthorized ACL: {acl[:64]}")
    return frozenset(requested)


async def _owner_acls(ctx: CallContext) -> frozenset[str]:
    if ctx.identity.is_root:
        return frozenset({"all"})
    owner = await ctx.store.get_account(ctx.identity.user)
    return owner.acls if owner is not None else frozenset()


def _entry(token: ApiToken, owner_acls: frozenset[str]) -> dict[str, Any]:
    granted = effective_acls(owner_acls, token.acls)
    return {
        "name": token.name,
        "create_time": token.created_at,
        "expires_at": token.expires_at,
        "whitelist_ips": list(token.whitelist_ips) if token.whitelist_ips else None,
        "acls": {acl: int("all" in granted or acl in granted) for acl in sorted(ACL_NAMES)},
    }


async def _existing(ctx: CallContext, name: str) -> ApiToken:
    token = await ctx.store.get_token(ctx.identity.user, KIND, name)
    if token is None:
        raise NotFound(f"The API token “{name[:64]}” does not exist.")
    return token


@registry.whm1("api_token_create", acl="manage-api-tokens")
async def api_token_create(ctx: CallContext, args: Params) -> dict[str, Any]:
    name = validate_token_name(args.require("token_name"))
    acls = _requested_acls(ctx, args)
    expires_at = parse_expires_at(args.get("expires_at", ""), ctx.clock.now())
    whitelist = parse_whitelist([ip for ip in args.get_list("whitelist_ip") if ip])
    issued = await ctx.runtime.credential_changes().create_token(
        actor=ctx.identity.user,
        owner=ctx.identity.user,
        kind=KIND,
        name=name,
        expires_at=expires_at,
        acls=acls,
        whitelist=whitelist,
    )
    data: dict[str, Any] = {
        "token": issued.plain,
        "name": name,
        "create_time": issued.token.created_at,
    }
    if acls is not None:
        data["acls"] = args.get_list("acl") or sorted(acls)
    if expires_at is not None:
        data["expires_at"] = expires_at
    if whitelist is not None:
        data["whitelist_ips"] = list(whitelist)
    return data


@registry.whm1("api_token_list", acl="manage-api-tokens")
async def api_token_list(ctx: CallContext, args: Params) -> dict[str, Any]:
    owner_acls = await _owner_acls(ctx)
    tokens = await ctx.store.list_tokens(ctx.identity.user, KIND)
    return {"tokens": {token.name: _entry(token, owner_acls) for token in tokens}}


@registry.whm1("api_token_update", acl="manage-api-tokens")
async def api_token_update(ctx: CallContext, args: Params) -> dict[str, Any]:
    old_name = args.require("token_name")
    token = await _existing(ctx, old_name)
    changes: dict[str, Any] = {}
    if args.get("new_name"):
        changes["name"] = validate_token_name(args["new_name"])
        if changes["name"] != old_name and await ctx.store.get_token(
            token.owner, KIND, changes["name"]
        ):
            raise AlreadyExists(f"An API token named “{changes['name']}” already exists.")
    if args.get_list("acl"):
        changes["acls"] = _requested_acls(ctx, args)
    if "expires_at" in args:
        changes["expires_at"] = parse_expires_at(args["expires_at"], ctx.clock.now())
    whitelist = args.get_list("whitelist_ip")
    if whitelist:
        changes["whitelist_ips"] = None if whitelist == ["any"] else parse_whitelist(whitelist)
    if not changes:
        raise InvalidArgument(
            "Specify at least one change: new_name, acl, expires_at, whitelist_ip."
        )
    updated = ApiToken(
        token.owner,
        KIND,
        changes.get("name", token.name),
        token.digest,
        token.created_at,
        changes.get("expires_at", token.expires_at),
        changes.get("acls", token.acls),
        changes.get("whitelist_ips", token.whitelist_ips),
    )
    await ctx.runtime.credential_changes().update_token(
        actor=ctx.identity.user, old_name=old_name, token=updated
    )
    return _entry(updated, await _owner_acls(ctx))


@registry.whm1("api_token_revoke", acl="manage-api-tokens")
async def api_token_revoke(ctx: CallContext, args: Params) -> None:
    names = [name for name in args.get_list("token_name") if name]
    if not names:
        raise InvalidArgument("The “token_name” parameter is required.")
    for name in names:
        await _existing(ctx, name)  # all or nothing: refuse before revoking any
    changes = ctx.runtime.credential_changes()
    for name in names:
        await changes.revoke_token(
            actor=ctx.identity.user, owner=ctx.identity.user, kind=KIND, name=name
        )


@registry.whm1("api_token_get_details", acl="manage-api-tokens")
async def api_token_get_details(ctx: CallContext, args: Params) -> dict[str, Any]:
    token = await ctx.store.find_token(ctx.identity.user, KIND, digest(args.require("token")))
    if token is None:
        raise NotFound("The API token is not recognised.")
    return _entry(token, await _owner_acls(ctx))


@registry.whm1("accesshash", acl="all")
async def accesshash(ctx: CallContext, args: Params) -> dict[str, Any]:
    user = args.get("user", "") or "root"
    if user != "root":
        raise InvalidArgument("Only root has an access hash.")
    path = access_hash_path(ctx.runtime.home_root, user)
    if args.get_bool("generate"):
        text = await ctx.runtime.credential_changes().generate_access_hash(
            actor=ctx.identity.user, user=user, path=path
        )
    else:
        text = read_access_hash_file(path) or ""
        stored = await ctx.store.get_access_hash_digest(user)
        if not text or stored is None or not hmac.compare_digest(stored, digest(text)):
            raise NotFound("No access hash exists; call with generate=1 to create one.")
    return {"accesshash": text.replace("\n", "")}
