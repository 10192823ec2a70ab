"""UAPI `DNS::parse_zone` and `DNS::mass_edit_zone` (docs/dns-zones.md has the shapes)."""

from __future__ import annotations

import base64
import json
from typing import Any

from panelauth.extension import FunctionFailed, InvalidArgument, Params, PluginContext

from . import zone as zones
from .access import save, zone_for
from .bind import ttl_line
from .names import owner_name
from .plugin import FEATURE, plugin
from .records import Record, parse_ttl, record, record_data, record_type

MAX_ITEM_CHARS = 16_384  # one `add` or `edit` JSON object


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def parsed(found: Record) -> dict[str, Any]:
    return {
        "line_index": found["line"] - 1,
        "type": "record",
        "dname_b64": b64(found["name"]),
        "record_type": found["type"],
        "ttl": found["ttl"],
        "data_b64": [b64(field) for field in found["data"]],
    }


@plugin.uapi("DNS", "parse_zone", changes_state=False, sets_password=False, feature=FEATURE)
async def parse_zone(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    zone = await zone_for(ctx, args.require("zone"))
    control = {"line_index": 0, "type": "control", "text_b64": b64(ttl_line(zone))}
    return [control, *(parsed(r) for r in sorted(zone["records"], key=lambda r: r["line"]))]


def _item(text: str, what: str) -> dict[str, Any]:
    if len(text) > MAX_ITEM_CHARS:
        raise InvalidArgument(f"An “{what}” item has at most {MAX_ITEM_CHARS} characters.")
    try:
        item = json.loads(text)
    except ValueError:
        raise InvalidArgument(f"An “{what}” item is not JSON: “{text[:60]}”.") from None
    if not isinstance(item, dict):
        raise InvalidArgument(f"An “{what}” item must be a JSON object.")
    return item


def _record(zone: zones.Zone, item: dict[str, Any]) -> Record:
    kind = record_type(str(item.get("record_type", "")))
    data = item.get("data")
    if not isinstance(data, list) or not all(isinstance(field, str) for field in data):
        raise InvalidArgument("A record's “data” must be a list of strings.")
    name = item.get("dname")
    if not isinstance(name, str):
        raise InvalidArgument("A record's “dname” must be a string.")
    ttl = parse_ttl(item.get("ttl", zones.DEFAULT_TTL))
    return record(0, owner_name(name, zone["domain"]), kind, ttl, record_data(kind, data))


def _line_index(value: Any) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit():
        raise InvalidArgument(f"“{text[:20]}” is not a line index.")
    return int(text) + 1


def _serial(args: Params, zone: zones.Zone) -> None:
    given = args.require("serial").strip()
    current = zones.serial_of(zone)
    if not given.isdigit() or int(given) != current:
        raise FunctionFailed(
            f"The given serial number ({given[:20]}) does not match the DNS zone's serial number "
            f"({current}). Refresh your view of the DNS zone, then resubmit."
        )


@plugin.uapi("DNS", "mass_edit_zone", changes_state=True, sets_password=False, feature=FEATURE)
async def mass_edit_zone(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """Remove, then edit, then add, all or nothing, when `serial` is the zone's serial."""
    zone = await zone_for(ctx, args.require("zone"))
    _serial(args, zone)
    adds = [_item(text, "add") for text in args.get_list("add")]
    edits = [_item(text, "edit") for text in args.get_list("edit")]
    removes = [_line_index(text) for text in args.get_list("remove")]
    if not (adds or edits or removes):
        raise InvalidArgument("Give at least one record to “add”, “edit” or “remove”.")
    edited = [_line_index(item.get("line_index")) for item in edits]
    touched = edited + removes
    if len(set(touched)) != len(touched):
        raise InvalidArgument("Each line may be edited or removed once in one call.")
    for line in touched:
        zones.editable(zone, line)  # every line exists before anything changes
    for line in removes:
        zones.remove(zone, line)
    for line, item in zip(edited, edits, strict=True):
        zones.replace(zone, line, _record(zone, item))
    for item in adds:
        zones.add(zone, _record(zone, item))
    serial = zones.bump_serial(zone, ctx.clock.now())
    await save(ctx, zone)
    return {"new_serial": str(serial)}
