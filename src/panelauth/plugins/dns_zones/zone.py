"""A zone: its records by line, the SOA's serial, and the rules every change keeps.

A zone is one dict in storage: `{"domain", "user", "records": [...], "next_line"}`. Line 1 is
the zone's `$TTL` line, so records start at line 2; a record keeps its line until it is
removed (removing one never moves another) and a new record takes the next line after the
last. Only when that would pass MAX_LINE are the lines renumbered 2, 3, ... (a long-lived zone
with much churn); clients find lines again by fetching the zone, as cPanel's do.
"""

from __future__ import annotations

import json
import time
from typing import Any

from panelauth.extension import InvalidArgument, NotFound

from .records import Record, record

Zone = dict[str, Any]

MAX_RECORDS = 1000
MAX_LINE = 4 * MAX_RECORDS
MAX_ZONE_BYTES = 900_000  # the stored JSON; the store takes at most 1 MiB a value
FIRST_RECORD_LINE = 2  # line 1 is `$TTL`
SOA_TIMERS = ("3600", "1800", "1209600", "86400")  # refresh, retry, expire, minimum
DEFAULT_ADDRESS = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never routed
DEFAULT_TTL = 14400


def serial_of(zone: Zone) -> int:
    return int(soa(zone)["data"][2])


def soa(zone: Zone) -> Record:
    return next(r for r in zone["records"] if r["type"] == "SOA")


def bump_serial(zone: Zone, now: float) -> int:
    """The SOA serial moved on: YYYYMMDDnn of today (UTC), or one more than before when that
    is not higher (a serial never goes back)."""
    today = int(time.strftime("%Y%m%d", time.gmtime(now))) * 100
    serial = max(today, serial_of(zone) + 1)
    soa(zone)["data"][2] = str(serial)
    return serial


def default_zone(domain: str, user: str, settings: dict[str, Any], now: float) -> Zone:
    """A new zone as an account's domain gets it: SOA, two NS with their addresses, A records
    for the domain, `www`, `mail` and the name servers, an MX to `mail`, an SPF TXT."""
    apex = f"{domain}."
    address = str(settings.get("address", DEFAULT_ADDRESS))
    ttl = int(settings.get("ttl", DEFAULT_TTL))
    nameservers = [f"ns1.{apex}", f"ns2.{apex}"]
    today = int(time.strftime("%Y%m%d", time.gmtime(now))) * 100
    soa_data = [nameservers[0], f"hostmaster.{apex}", str(today), *SOA_TIMERS]
    rows: list[tuple[str, str, list[str]]] = [
        (apex, "SOA", soa_data),
        *((apex, "NS", [ns]) for ns in nameservers),
        (apex, "A", [address]),
        *((f"{label}.{apex}", "A", [address]) for label in ("www", "mail", "ns1", "ns2")),
        (apex, "MX", ["0", f"mail.{apex}"]),
        (apex, "TXT", [f"v=spf1 +a +mx ip4:{address} ~all"]),
    ]
    records = [
        record(FIRST_RECORD_LINE + index, name, kind, ttl, data)
        for index, (name, kind, data) in enumerate(rows)
    ]
    return {
        "domain": domain,
        "user": user,
        "records": records,
        "next_line": FIRST_RECORD_LINE + len(records),
    }


def find(zone: Zone, line: int) -> Record:
    records: list[Record] = zone["records"]
    for found in records:
        if found["line"] == line:
            return found
    raise NotFound(f"The zone “{zone['domain']}” has no record on line {line}.")


def editable(zone: Zone, line: int) -> Record:
    found = find(zone, line)
    if found["type"] == "SOA":
        raise InvalidArgument("The SOA record is kept by the server and cannot be changed.")
    return found


def add(zone: Zone, new: Record) -> int:
    """Append `new` (its line is set here); the line it took."""
    if len(zone["records"]) >= MAX_RECORDS:
        raise InvalidArgument(f"A zone holds at most {MAX_RECORDS} records.")
    if zone["next_line"] > MAX_LINE:
        _renumber(zone)
    new["line"] = zone["next_line"]
    zone["next_line"] += 1
    _check_cname(zone, new)
    zone["records"].append(new)
    return int(new["line"])


def replace(zone: Zone, line: int, new: Record) -> None:
    old = editable(zone, line)
    new["line"] = line
    _check_cname(zone, new, ignore=line)
    zone["records"][zone["records"].index(old)] = new


def remove(zone: Zone, line: int) -> None:
    zone["records"].remove(editable(zone, line))


def check_size(zone: Zone) -> None:
    if len(json.dumps(zone, separators=(",", ":")).encode()) > MAX_ZONE_BYTES:
        raise InvalidArgument(f"The zone would be larger than {MAX_ZONE_BYTES} bytes.")


def _check_cname(zone: Zone, new: Record, ignore: int | None = None) -> None:
    """A CNAME owns its name alone (RFC 1034 §3.6.2), and never the zone's apex."""
    if new["type"] == "CNAME" and new["name"] == f"{zone['domain']}.":
        raise InvalidArgument("A CNAME record cannot be at the zone's own name.")
    for other in zone["records"]:
        if other["line"] == ignore or other["name"] != new["name"]:
            continue
        if "CNAME" in (other["type"], new["type"]):
            raise InvalidArgument(
                f"“{new['name']}” cannot have a CNAME record and other records (line "
                f"{other['line']})."
            )


def _renumber(zone: Zone) -> None:
    records = sorted(zone["records"], key=lambda r: r["line"])
    for index, found in enumerate(records):
        found["line"] = FIRST_RECORD_LINE + index
    zone["records"] = records
    zone["next_line"] = FIRST_RECORD_LINE + len(records)
