"""WHM API 1 feature lists (root only): what the Feature Manager edits (w§16.5)."""

from __future__ import annotations

from typing import Any

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry
from panelauth.core.features import FEATURES, feature_enabled
from panelauth.core.validation import validate_feature_list_name
from panelauth.errors import AlreadyExists, InvalidArgument, NotFound
from panelauth.protocol.params import Params

registry = Registry()
# The list every account starts with; it cannot be deleted.
BUILTIN_LISTS = frozenset({"default"})


def _settings_from(args: Params) -> tuple[dict[str, bool], list[str]]:
    """Feature settings `<feature>=0|1` from the arguments, and the names not recognised."""
    settings: dict[str, bool] = {}
    invalid: list[str] = []
    for key, value in args.items():
        if key in ("featurelist", "api.version"):
            continue
        if key not in FEATURES or value not in ("0", "1"):
            invalid.append(key)
        else:
            settings[key] = value == "1"
    return settings, invalid


async def _existing(ctx: CallContext, args: Params) -> tuple[str, dict[str, bool]]:
    name = validate_feature_list_name(args.require("featurelist"))
    settings = await ctx.store.get_feature_list(name)
    if settings is None:
        raise NotFound(f'Specified featurelist does not exist: "{name}"')
    return name, settings


@registry.whm1("get_featurelists", acl="all")
async def get_featurelists(ctx: CallContext, args: Params) -> dict[str, Any]:
    return {"featurelists": await ctx.store.list_feature_lists()}


@registry.whm1("get_featurelist_data", acl="all")
async def get_featurelist_data(ctx: CallContext, args: Params) -> dict[str, Any]:
    name, settings = await _existing(ctx, args)
    features = [
        {
            "id": feature,
            "name": label,
            "value": int(feature_enabled(settings, feature)),
            "is_disabled": int(not feature_enabled(settings, feature)),
        }
        for feature, label in sorted(FEATURES.items())
    ]
    return {"featurelist": name, "features": features}


@registry.whm1("create_featurelist", acl="all")
async def create_featurelist(ctx: CallContext, args: Params) -> dict[str, Any]:
    name = validate_feature_list_name(args.require("featurelist"))
    if await ctx.store.get_feature_list(name) is not None:
        raise AlreadyExists(f'Featurelist by that name already exists: "{name}"')
    settings, invalid = _settings_from(args)
    if invalid:
        raise InvalidArgument(f"Unknown features or values: {', '.join(sorted(invalid))}.")
    await ctx.store.save_feature_list(name, settings)
    return {"featurelist": name}


@registry.whm1("update_featurelist", acl="all")
async def update_featurelist(ctx: CallContext, args: Params) -> dict[str, Any]:
    name, _ = await _existing(ctx, args)
    settings, invalid = _settings_from(args)
    await ctx.store.save_feature_list(name, settings)
    updated = {feature: int(enabled) for feature, enabled in sorted(settings.items())}
    return {"featurelist": name, "updated_features": updated, "invalid_features": sorted(invalid)}


@registry.whm1("delete_featurelist", acl="all")
async def delete_featurelist(ctx: CallContext, args: Params) -> dict[str, Any]:
    name, _ = await _existing(ctx, args)
    if name in BUILTIN_LISTS:
        raise InvalidArgument(f"The “{name}” feature list cannot be deleted.")
    if any(a.feature_list == name for a in await ctx.store.list_accounts()):
        raise InvalidArgument(f"Accounts still use the “{name}” feature list.")
    await ctx.store.delete_feature_list(name)
    return {"deleted_featurelist": name}
