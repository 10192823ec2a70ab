"""UAPI `SSH::get_port`: the port clients should reach the server's SSH on (a setting)."""

from __future__ import annotations

from panelauth.extension import Params, PluginContext
from panelauth.plugins.domains.plugin import plugin
from panelauth.plugins.domains.settings import load_settings


@plugin.uapi("SSH", "get_port", changes_state=False, sets_password=False)
async def get_port(ctx: PluginContext, args: Params) -> dict[str, int]:
    return {"port": (await load_settings(ctx.storage)).ssh_port}
