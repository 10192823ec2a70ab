"""WHM API 1 cPHulk functions (w§19.3): brute-force protection's switch, configuration,
allow and deny lists, blocks, locks and failed-login history, in cPanel's answer shapes.

Root only. Each function is declared with the `all` ACL (so the dispatcher refuses a caller
without it, root's restricted tokens included) and asks `_admin`, which also refuses a reseller
that holds `all`: cPHulk is the server's, never a reseller's (docs/api.md).

The use cases are core/bruteforce_admin.py; this module reads parameters and shapes answers.
Where panelauth differs from cPanel (no firewall, CIDR instead of ranges, no country lists,
`records` as a JSON string) is written down in docs/api.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry
from panelauth.core.bruteforce_admin import (
    MAX_COMMENT_CHARS,
    MAX_ENTRIES_PER_CALL,
    BruteForceAdmin,
    ListChange,
)
from panelauth.core.hulk import Block, ListName, parse_network, shown_network
from panelauth.errors import InvalidArgument, PermissionDenied
from panelauth.protocol.params import Params

registry = Registry()

ROOT_ONLY: Final = "all"
SERVICE_NAME: Final = "cPHulk"
# parameters every cPHulk function accepts besides its own (skip_enabled_check: panelauth never
# refuses a call because protection is off, so there is nothing to skip)
COMMON_PARAMETERS: Final = frozenset({"api.version", "skip_enabled_check"})
COUNTRY_KEYS: Final = frozenset({"country_whitelist", "country_blacklist"})
NOT_WHITELISTED: Final = "The IP address is not on the white list."
MAX_RECORDS_CHARS: Final = 2_000_000  # `records`: 1000 entries with escaped comments fit
FAILED_SHOWN: Final = 3  # failures named in the reason when nothing at all succeeded


def _admin(ctx: CallContext) -> BruteForceAdmin:
    """The use cases, for root only (a reseller holding `all` included)."""
    if not ctx.identity.is_root:
        raise PermissionDenied("Only root may use the cPHulk functions.")
    return BruteForceAdmin(ctx.store, ctx.clock)


def _check_common(args: Params) -> None:
    if args.get("skip_enabled_check", "") not in ("", "0", "1"):
        raise InvalidArgument("The “skip_enabled_check” parameter must be 1 or 0.")


# -- the switch ---------------------------------------------------------------------------------


@registry.whm1("cphulk_status", acl=ROOT_ONLY)
async def cphulk_status(ctx: CallContext, args: Params) -> dict[str, Any]:
    config = await _admin(ctx).config()
    return {"is_enabled": int(bool(config.is_enabled)), "service": SERVICE_NAME}


@registry.whm1("enable_cphulk", acl=ROOT_ONLY)
async def enable_cphulk(ctx: CallContext, args: Params) -> None:
    await _admin(ctx).set_enabled(True)


@registry.whm1("disable_cphulk", acl=ROOT_ONLY)
async def disable_cphulk(ctx: CallContext, args: Params) -> None:
    await _admin(ctx).set_enabled(False)


# -- the configuration --------------------------------------------------------------------------


@registry.whm1("load_cphulk_config", acl=ROOT_ONLY)
async def load_cphulk_config(ctx: CallContext, args: Params) -> dict[str, Any]:
    config = await _admin(ctx).config()
    return {"cphulk_config": config.for_api()}


@registry.whm1("save_cphulk_config", acl=ROOT_ONLY)
async def save_cphulk_config(ctx: CallContext, args: Params) -> dict[str, Any]:
    """Every given key or none; an unknown parameter is refused, never ignored."""
    admin = _admin(ctx)
    _check_common(args)
    changes: dict[str, object] = {}
    for key, value in args.items():
        if key in COMMON_PARAMETERS:
            continue
        _refuse_country(key)
        changes[key] = value
    if not changes:
        raise InvalidArgument("Give at least one cPHulk configuration key to save.")
    config = await admin.update(changes)
    return {"cphulk_config": config.for_api()}


@registry.whm1("set_cphulk_config_key", acl=ROOT_ONLY)
async def set_cphulk_config_key(ctx: CallContext, args: Params) -> dict[str, Any]:
    admin = _admin(ctx)
    key = args.require("key")
    _refuse_country(key)
    if "value" not in args:
        raise InvalidArgument("The “value” parameter is required.")
    config = await admin.update({key: args["value"]})
    return {"cphulk_config": config.for_api()}


def _refuse_country(key: str) -> None:
    if key in COUNTRY_KEYS:
        raise InvalidArgument(
            f"“{key}” is not supported: panelauth has no country database, so it cannot "
            "allow or deny by country."
        )


# -- allow and deny lists -----------------------------------------------------------------------


@registry.whm1("create_cphulk_record", acl=ROOT_ONLY)
async def create_cphulk_record(ctx: CallContext, args: Params) -> dict[str, Any]:
    admin = _admin(ctx)
    _check_common(args)
    list_name = _list_name(args)
    comment = _comment(args.get("comment", ""), "“comment”")
    ips = _ips(args)
    change = await admin.add(list_name, [(ip, comment) for ip in ips])
    _all_failed(change, "added")
    return {
        "comment": comment,
        "ip_blocks_removed": change.blocks_removed,
        "ips_added": _shown_list(change.done),
        "ips_failed": _shown_failures(change.failed),
        "iptable_bans_removed": 0,  # no firewall
        "list_name": list_name.value,
        **await _requester(ctx, admin),
    }


@registry.whm1("batch_create_cphulk_records", acl=ROOT_ONLY)
async def batch_create_cphulk_records(ctx: CallContext, args: Params) -> dict[str, Any]:
    """`records`: a JSON array of {"ip", "comment"}; `comment` is the default comment."""
    admin = _admin(ctx)
    _check_common(args)
    list_name = _list_name(args)
    default = _comment(args.get("comment", ""), "“comment”")
    entries = _records(args.require("records"), default)
    original: list[str] = []
    for given, _ in entries:
        try:
            parse_network(given)
        except InvalidArgument:
            continue
        original.append(given.strip())
    change = await admin.add(list_name, entries)
    _all_failed(change, "added")
    return {
        "comment": default,
        "ip_blocks_removed": change.blocks_removed,
        "ips_added": _shown_list(change.done),
        "ips_failed": _shown_failures(change.failed),
        "iptable_bans_removed": 0,
        "list_name": list_name.value,
        "original_ips_added": list(dict.fromkeys(original)),
        **await _requester(ctx, admin),
    }


@registry.whm1("read_cphulk_records", acl=ROOT_ONLY)
async def read_cphulk_records(ctx: CallContext, args: Params) -> dict[str, Any]:
    admin = _admin(ctx)
    _check_common(args)
    list_name = _list_name(args)
    entries = await admin.entries(list_name)
    data: dict[str, Any] = {
        "ips_in_list": {shown_network(entry.network): entry.comment for entry in entries},
        "list_name": list_name.value,
        **await _requester(ctx, admin),
    }
    if not data["requester_ip_is_whitelisted"]:
        data["warning_ip"] = NOT_WHITELISTED
    return data


@registry.whm1("delete_cphulk_record", acl=ROOT_ONLY)
async def delete_cphulk_record(ctx: CallContext, args: Params) -> dict[str, Any]:
    admin = _admin(ctx)
    _check_common(args)
    list_name = _list_name(args)
    change = await admin.remove(list_name, _ips(args))
    _all_failed(change, "removed")
    return {
        "ips_failed": _shown_failures(change.failed),
        "ips_removed": _shown_list(change.done),
        "list_name": list_name.value,
        **await _requester(ctx, admin),
    }


def _list_name(args: Params) -> ListName:
    value = args.require("list_name")
    try:
        return ListName(value)
    except ValueError:
        raise InvalidArgument("The “list_name” parameter must be “white” or “black”.") from None


def _ips(args: Params) -> list[str]:
    """`ip`, repeated `ip` and `ip-N`, empty values left out; at most 1000."""
    ips = [ip for ip in args.get_list("ip") if ip.strip()]
    if not ips:
        raise InvalidArgument("The “ip” parameter is required.")
    _bounded(len(ips))
    return ips


def _bounded(count: int) -> None:
    if count > MAX_ENTRIES_PER_CALL:
        raise InvalidArgument(f"At most {MAX_ENTRIES_PER_CALL} entries at once.")


def _comment(comment: str, where: str) -> str:
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidArgument(f"The {where} has more than {MAX_COMMENT_CHARS} characters.")
    if not comment.isprintable():
        raise InvalidArgument(f"The {where} must be one line of printable text.")
    return comment


def _records(text: str, default: str) -> list[tuple[str, str]]:
    """The (ip, comment) pairs of `records`, or InvalidArgument naming what is wrong."""
    if len(text) > MAX_RECORDS_CHARS:
        raise InvalidArgument("The “records” parameter is too long.")
    try:
        records = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidArgument(
            'The “records” parameter must be a JSON array of {"ip": ..., "comment": ...}.'
        ) from None
    if not isinstance(records, list) or not records:
        raise InvalidArgument("The “records” parameter must be a non-empty JSON array.")
    _bounded(len(records))
    entries: list[tuple[str, str]] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("ip"), str):
            raise InvalidArgument(f"Record {number} must be an object with an “ip” string.")
        unknown = sorted(set(record) - {"ip", "comment"})
        if unknown:
            raise InvalidArgument(f"Record {number} has an unknown field: “{unknown[0][:64]}”.")
        comment = record.get("comment", default)
        if not isinstance(comment, str):
            raise InvalidArgument(f"The comment of record {number} must be a string.")
        entries.append((record["ip"], _comment(comment, f"comment of record {number}")))
    return entries


def _all_failed(change: ListChange, done: str) -> None:
    """Nothing succeeded: the call fails, naming the first failures (result 0)."""
    if change.done or not change.failed:
        return
    failures = list(_shown_failures(change.failed).items())
    named = "; ".join(f"{ip}: {why}" for ip, why in failures[:FAILED_SHOWN])
    more = len(failures) - FAILED_SHOWN
    suffix = f" (and {more} more)" if more > 0 else ""
    raise InvalidArgument(f"No IP address was {done}. {named}{suffix}")


async def _requester(ctx: CallContext, admin: BruteForceAdmin) -> dict[str, Any]:
    address = ctx.client_address
    return {
        "requester_ip": address,
        "requester_ip_is_whitelisted": int(await admin.is_allow_listed(address)),
    }


def _shown_list(networks: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(shown_network(network) for network in networks))


def _shown_failures(failed: dict[str, str]) -> dict[str, str]:
    return {shown_network(given): why for given, why in failed.items()}


# -- blocks, locks and history ------------------------------------------------------------------


@registry.whm1("get_cphulk_brutes", acl=ROOT_ONLY)
async def get_cphulk_brutes(ctx: CallContext, args: Params) -> dict[str, Any]:
    blocks = await _admin(ctx).blocks()
    now = ctx.clock.now()
    return {"brutes": [_brute(b, now) for b in blocks if _address(b) and not b.excessive]}


@registry.whm1("get_cphulk_excessive_brutes", acl=ROOT_ONLY)
async def get_cphulk_excessive_brutes(ctx: CallContext, args: Params) -> dict[str, Any]:
    blocks = await _admin(ctx).blocks()
    now = ctx.clock.now()
    return {"excessive_brutes": [_brute(b, now) for b in blocks if _address(b) and b.excessive]}


@registry.whm1("get_cphulk_user_brutes", acl=ROOT_ONLY)
async def get_cphulk_user_brutes(ctx: CallContext, args: Params) -> dict[str, Any]:
    admin = _admin(ctx)
    locks = [block for block in await admin.blocks() if block.kind == "user"]
    # a lock records the account, not the address: the last failure on it names one
    last_address: dict[str, str] = {}
    if locks:
        for failure in await admin.history():
            last_address.setdefault(failure.user_key, failure.address)
    now = ctx.clock.now()
    return {
        "user_brutes": [
            {
                "authservice": lock.method,
                "exptime": _time(lock.until),
                "ip": last_address.get(lock.key, ""),
                "logintime": _time(lock.blocked_at),
                "service": lock.service,
                "timeleft": _minutes_left(lock.until, now),
                "user": lock.shown,
            }
            for lock in sorted(locks, key=lambda lock: (lock.shown, lock.key))
        ]
    }


@registry.whm1("get_cphulk_failed_logins", acl=ROOT_ONLY)
async def get_cphulk_failed_logins(ctx: CallContext, args: Params) -> dict[str, Any]:
    admin = _admin(ctx)
    lookback = (await admin.config()).lookback_period_min * 60.0
    now = ctx.clock.now()
    return {
        "failed_logins": [
            {
                "authservice": failure.method.value,
                "exptime": _time(failure.at + lookback),
                "ip": failure.address,
                "logintime": _time(failure.at),
                "service": failure.service,
                "timeleft": _minutes_left(failure.at + lookback, now),
                "user": failure.user,
            }
            for failure in await admin.history()
        ]
    }


@registry.whm1("flush_cphulk_login_history", acl=ROOT_ONLY)
async def flush_cphulk_login_history(ctx: CallContext, args: Params) -> dict[str, int]:
    return {"records_removed": await _admin(ctx).flush()}


@registry.whm1("flush_cphulk_login_history_for_ips", acl=ROOT_ONLY)
async def flush_cphulk_login_history_for_ips(ctx: CallContext, args: Params) -> dict[str, int]:
    """Forget the failures and lift the blocks of addresses (or CIDRs); all are checked first,
    so a user name is never taken for one."""
    admin = _admin(ctx)
    ips = _ips(args)
    for ip in ips:
        parse_network(ip)  # InvalidArgument names the first that is not an address or CIDR
    return {"iptable_bans_removed": 0, "records_removed": await admin.unblock(ips)}


def _address(block: Block) -> bool:
    return block.kind == "address"


def _brute(block: Block, now: float) -> dict[str, Any]:
    return {
        "exptime": _time(block.until),
        "ip": _blocked_network(block),
        "logintime": _time(block.blocked_at),
        "notes": block.notes,
        "timeleft": _minutes_left(block.until, now),
    }


def _blocked_network(block: Block) -> str:
    """What an address block covers: the IPv4 address, or the IPv6 network it is counted
    under (a /64 by default); the recorded address if its key names neither."""
    kind, _, network = block.key.partition(":")
    if kind in ("ip4", "ip6"):
        return shown_network(network)
    return block.shown


def _time(when: float) -> str:
    """cPanel's "ISO-8601 date time, space separated", in UTC."""
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _minutes_left(until: float, now: float) -> int:
    """Whole minutes until `until`, rounded up: at least 1 while it lasts."""
    return max(1, math.ceil((until - now) / 60.0))
