"""WHM API 1: `export_zone_files` (zones as BIND text) and `dns_zones_set_defaults` (what new
zones are made with)."""

from __future__ import annotations

import ipaddress
from typing import Any

from panelauth.extension import InvalidArgument, Params, PluginContext

from .access import zone_for
from .bind import zone_text
from .plugin import plugin
from .records import parse_ttl
from .uapi import b64
from .zone_store import SETTINGS, settings

MAX_EXPORT_ZONES = 100


@plugin.whm1("export_zone_files", acl="edit-dns", changes_state=False)
async def export_zone_files(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """`zone` (repeated, or `zone-N`): each the caller's (root: any account's)."""
    names = args.get_list("zone")
    if not names:
        raise InvalidArgument("The “zone” parameter is required.")
    if len(names) > MAX_EXPORT_ZONES:
        raise InvalidArgument(f"Export at most {MAX_EXPORT_ZONES} zones at once.")
    payload = []
    for name in names:
        zone = await zone_for(ctx, name)
        payload.append({"zone": zone["domain"], "text_b64": b64(zone_text(zone))})
    return {"payload": payload}


@plugin.whm1("dns_zones_set_defaults", acl="all", changes_state=True)
async def set_defaults(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """`address` (IPv4) and `ttl` for zones made from now on; none given: the current ones."""
    current = await settings(ctx.storage)
    if address := args.get("address", ""):
        try:
            current["address"] = str(ipaddress.IPv4Address(address.strip()))
        except ValueError:
            raise InvalidArgument(f"“{address[:45]}” is not an IPv4 address.") from None
    if ttl := args.get("ttl", ""):
        current["ttl"] = parse_ttl(ttl)
    await ctx.storage.put(SETTINGS, current)
    return current
