"""cPanel API 2 `ZoneEdit`: fetchzones, fetchzone, fetchzone_records, add_zone_record,
edit_zone_record, remove_zone_record (docs/dns-zones.md has the answers' shapes)."""

from __future__ import annotations

from typing import Any

from panelauth.extension import InvalidArgument, Params, PluginContext

from . import zone as zones
from .access import acting_account, save, zone_for
from .bind import zone_lines
from .names import owner_name
from .plugin import FEATURE, plugin
from .records import Record, parse_ttl, record, record_data, record_type
from .zone_store import ZONES, load

# the API 2 argument names of each type's fields, in zone-file order
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "A": ("address",),
    "AAAA": ("address",),
    "CNAME": ("cname",),
    "NS": ("nsdname",),
    "MX": ("preference", "exchange"),
    "TXT": ("txtdata",),
    "SRV": ("priority", "weight", "port", "target"),
    "CAA": ("flag", "tag", "value"),
    "SOA": ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum"),
}
# the field API 2 also gives as `record`, the record's main value
MAIN_FIELD = {"MX": "exchange", "SRV": "target", "CAA": "value", "SOA": "mname"}
HOST_FIELDS = frozenset({"cname", "nsdname", "exchange", "target", "mname", "rname", "name"})
FILTERS = frozenset(
    {"line", "Line", "name", "type", "class", "ttl", "record"}.union(
        *(set(fields) for fields in TYPE_FIELDS.values())
    )
)


def view(found: Record) -> dict[str, Any]:
    """A record as API 2 shows it: `Line` (and `line`), name, class, ttl, type, `record`, and
    the type's own fields (TXT strings joined into one `txtdata`)."""
    kind = found["type"]
    data = found["data"]
    fields = TYPE_FIELDS[kind]
    values = ["".join(data)] if kind == "TXT" else data
    shown: dict[str, Any] = {
        "Line": found["line"],
        "line": found["line"],
        "Lines": 1,
        "name": found["name"],
        "class": "IN",
        "ttl": found["ttl"],
        "type": kind,
    }
    shown.update(zip(fields, values, strict=True))
    shown["record"] = shown[MAIN_FIELD.get(kind, fields[0])]
    return shown


def _same(key: str, value: Any, wanted: str) -> bool:
    have = str(value).strip()
    if key in HOST_FIELDS:
        return have.lower().removesuffix(".") == wanted.strip().lower().removesuffix(".")
    return have == wanted.strip()


def matching(zone: zones.Zone, args: Params) -> list[dict[str, Any]]:
    """The zone's records as API 2 views, narrowed by every filter argument given: `type` may
    list several (`A,AAAA`); `name` is read as record names are; `customonly=1` leaves out
    the SOA and the apex NS records."""
    wanted = {key: args[key] for key in FILTERS if args.get(key, "") != ""}
    if "name" in wanted:
        try:
            wanted["name"] = owner_name(wanted["name"], zone["domain"])
        except InvalidArgument:
            return []
    types = {kind.strip().upper() for kind in wanted.pop("type", "").split(",") if kind.strip()}
    custom_only = args.get_bool("customonly")
    apex = f"{zone['domain']}."
    shown = []
    for found in sorted(zone["records"], key=lambda r: r["line"]):
        if custom_only and (
            found["type"] == "SOA" or (found["type"] == "NS" and found["name"] == apex)
        ):
            continue
        if types and found["type"] not in types:
            continue
        item = view(found)
        if all(key in item and _same(key, item[key], value) for key, value in wanted.items()):
            shown.append(item)
    return shown


def _status(message: str, serial: int) -> list[dict[str, Any]]:
    return [{"result": {"status": 1, "statusmsg": message, "newserial": str(serial)}}]


def _from_args(zone: zones.Zone, args: Params, old: Record | None) -> Record:
    """A record from add/edit arguments; in an edit, what is not given stays as it was."""
    before = view(old) if old is not None else {}

    def given(key: str) -> str:
        value = args.get(key, "")
        if value == "" and key in before:
            return str(before[key])
        if value == "":
            raise InvalidArgument(f"The “{key}” parameter is required.")
        return value

    if (klass := args.get("class", "IN").upper()) not in ("", "IN"):
        raise InvalidArgument(f"Only the class IN is served, not “{klass[:10]}”.")
    kind = record_type(given("type"))
    if old is not None and kind != old["type"]:
        before = {key: before[key] for key in ("name", "ttl")}  # the old type's data does not carry
    name = owner_name(given("name"), zone["domain"])
    ttl = parse_ttl(args.get("ttl", "") or before.get("ttl", zones.DEFAULT_TTL))
    fields = [given(key) for key in TYPE_FIELDS[kind]]
    return record(0, name, kind, ttl, record_data(kind, fields))


def _line(args: Params) -> int:
    text = args.get("line", "") or args.get("Line", "")
    if not text.strip().isdigit():
        raise InvalidArgument("The “line” parameter must be a record's line number.")
    return int(text)


@plugin.api2("ZoneEdit", "fetchzones", changes_state=False, sets_password=False, feature=FEATURE)
async def fetchzones(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    account = acting_account(ctx)
    await load(ctx.storage, ctx.clock, account, account.domain)  # made on first use
    owned = await ctx.storage.table(ZONES).find(user=account.user)
    return [
        {
            "zones": {domain: zone_lines(zone) for domain, zone in owned.items()},
            "status": 1,
            "statusmsg": "Zones fetched",
        }
    ]


@plugin.api2("ZoneEdit", "fetchzone", changes_state=False, sets_password=False, feature=FEATURE)
async def fetchzone(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    zone = await zone_for(ctx, args.require("domain"))
    return [
        {
            "record": matching(zone, args),
            "serialnum": str(zones.serial_of(zone)),
            "status": 1,
            "statusmsg": "Zone Serialized",
        }
    ]


@plugin.api2(
    "ZoneEdit", "fetchzone_records", changes_state=False, sets_password=False, feature=FEATURE
)
async def fetchzone_records(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    return matching(await zone_for(ctx, args.require("domain")), args)


@plugin.api2(
    "ZoneEdit", "add_zone_record", changes_state=True, sets_password=False, feature=FEATURE
)
async def add_zone_record(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    zone = await zone_for(ctx, args.require("domain"))
    line = zones.add(zone, _from_args(zone, args, None))
    serial = zones.bump_serial(zone, ctx.clock.now())
    await save(ctx, zone)
    return _status(f"Added the record on line {line}.", serial)


@plugin.api2(
    "ZoneEdit", "edit_zone_record", changes_state=True, sets_password=False, feature=FEATURE
)
async def edit_zone_record(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    zone = await zone_for(ctx, args.require("domain"))
    line = _line(args)
    zones.replace(zone, line, _from_args(zone, args, zones.editable(zone, line)))
    serial = zones.bump_serial(zone, ctx.clock.now())
    await save(ctx, zone)
    return _status(f"Changed the record on line {line}.", serial)


@plugin.api2(
    "ZoneEdit", "remove_zone_record", changes_state=True, sets_password=False, feature=FEATURE
)
async def remove_zone_record(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    zone = await zone_for(ctx, args.require("domain"))
    line = _line(args)
    zones.remove(zone, line)
    serial = zones.bump_serial(zone, ctx.clock.now())
    await save(ctx, zone)
    return _status(f"Removed the record on line {line}.", serial)
