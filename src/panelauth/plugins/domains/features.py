"""UAPI `Features::has_feature`: whether the account has a feature, in UAPI's status.

cPanel answers with `status` alone and `data: null`: 1 when the account has the feature, 0 with
a message when the feature exists but the account lacks it, `null` when the server does not
know the feature. None of these is a failure, so `errors` stays null.
"""

from __future__ import annotations

import re

from panelauth.extension import InvalidArgument, Params, PluginContext, Reply
from panelauth.plugins.domains.plugin import plugin

_FEATURE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@plugin.uapi("Features", "has_feature", changes_state=False, sets_password=False)
async def has_feature(ctx: PluginContext, args: Params) -> Reply:
    name = args.require("name")
    if not _FEATURE_NAME.fullmatch(name):
        raise InvalidArgument(
            "The “name” parameter is a feature name: up to 128 letters, digits, _ . and -."
        )
    if not await ctx.feature_exists(name):
        return Reply(None, status=None)
    if await ctx.has_feature(name):
        return Reply(None)
    return Reply(None, status=0, messages=(f"The feature “{name}” exists but is not enabled.",))
