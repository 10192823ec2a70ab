"""A zone record: its type's data checked and put in canonical form.

A record is a dict kept as JSON in the plugin's storage:
`{"line": 4, "name": "www.example.com.", "type": "A", "ttl": 14400, "data": ["192.0.2.1"]}`.
`data` holds the record's fields in zone-file order, as UAPI's `DNS::parse_zone` lists them:
A/AAAA `[address]`, CNAME `[target]`, NS `[host]`, MX `[preference, exchange]`, TXT the
character strings, SRV `[priority, weight, port, target]`, CAA `[flag, tag, value]`, SOA
`[mname, rname, serial, refresh, retry, expire, minimum]`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any

from panelauth.extension import InvalidArgument

from .names import host_name

Record = dict[str, Any]

MIN_TTL = 1
MAX_TTL = 2_147_483_647  # RFC 2181 §8: the top bit stays clear
MAX_CHARACTER_STRING = 255  # bytes in one TXT character string (RFC 1035 §3.3)
MAX_TXT_BYTES = 4096  # all of a TXT record's strings together
MAX_CAA_VALUE = 1024
EDITABLE_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
_CAA_TAG = re.compile(r"[a-z0-9]{1,15}")


def parse_ttl(value: object) -> int:
    """A TTL in seconds, within MIN_TTL..MAX_TTL."""
    text = str(value).strip()
    if not text.isdigit() or not MIN_TTL <= int(text) <= MAX_TTL:
        raise InvalidArgument(
            f"The TTL “{text[:20]}” must be a whole number from {MIN_TTL} to {MAX_TTL}."
        )
    return int(text)


def record_type(value: str) -> str:
    kind = value.strip().upper()
    if kind not in EDITABLE_TYPES:
        raise InvalidArgument(
            f"The record type “{value[:20]}” is not supported; use one of "
            f"{', '.join(EDITABLE_TYPES)}."
        )
    return kind


def _number(value: str, what: str, top: int) -> str:
    text = value.strip()
    if not text.isdigit() or int(text) > top:
        raise InvalidArgument(f"The {what} “{text[:20]}” must be a whole number from 0 to {top}.")
    return str(int(text))


def _text(value: str, what: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise InvalidArgument(f"The {what} must not contain control characters or line breaks.")
    return value


def _ipv4(fields: Sequence[str]) -> list[str]:
    try:
        return [str(ipaddress.IPv4Address(fields[0].strip()))]
    except ValueError:
        raise InvalidArgument(f"“{fields[0][:45]}” is not an IPv4 address.") from None


def _ipv6(fields: Sequence[str]) -> list[str]:
    try:
        return [ipaddress.IPv6Address(fields[0].strip()).compressed]
    except ValueError:
        raise InvalidArgument(f"“{fields[0][:45]}” is not an IPv6 address.") from None


def _mx(fields: Sequence[str]) -> list[str]:
    return [_number(fields[0], "preference", 65535), host_name(fields[1], "exchange")]


def _srv(fields: Sequence[str]) -> list[str]:
    numbers = [
        _number(value, what, 65535)
        for value, what in zip(fields[:3], ("priority", "weight", "port"), strict=True)
    ]
    return [*numbers, host_name(fields[3], "target")]


def _caa(fields: Sequence[str]) -> list[str]:
    tag = fields[1].strip().lower()
    if not _CAA_TAG.fullmatch(tag):
        raise InvalidArgument(f"The CAA tag “{tag[:20]}” must be 1 to 15 letters or digits.")
    value = _text(fields[2], "CAA value")
    if len(value.encode()) > MAX_CAA_VALUE:
        raise InvalidArgument(f"A CAA value has at most {MAX_CAA_VALUE} bytes.")
    return [_number(fields[0], "flag", 255), tag, value]


def txt_strings(strings: Sequence[str]) -> list[str]:
    """TXT data as character strings of at most 255 bytes: a longer value is split, as a zone
    file must hold it (clients join them back)."""
    if not strings or not "".join(strings):
        raise InvalidArgument("The TXT record needs text (“txtdata”).")
    chunks: list[str] = []
    for string in strings:
        _text(string, "TXT data")
        chunk = ""
        for char in string:
            if len((chunk + char).encode()) > MAX_CHARACTER_STRING:
                chunks.append(chunk)
                chunk = ""
            chunk += char
        chunks.append(chunk)
    if sum(len(chunk.encode()) for chunk in chunks) > MAX_TXT_BYTES:
        raise InvalidArgument(f"TXT data has at most {MAX_TXT_BYTES} bytes.")
    return chunks


# the number of fields each type takes, and how they are checked
_FIELDS: dict[str, tuple[int, Callable[[Sequence[str]], list[str]]]] = {
    "A": (1, _ipv4),
    "AAAA": (1, _ipv6),
    "CNAME": (1, lambda fields: [host_name(fields[0], "cname")]),
    "NS": (1, lambda fields: [host_name(fields[0], "nsdname")]),
    "MX": (2, _mx),
    "SRV": (4, _srv),
    "CAA": (3, _caa),
}


def record_data(kind: str, fields: Sequence[str]) -> list[str]:
    """The canonical data of a record of type `kind` from its fields in zone-file order."""
    if kind == "TXT":
        return txt_strings(fields)
    count, check = _FIELDS[kind]
    if len(fields) != count or any(not isinstance(field, str) for field in fields):
        raise InvalidArgument(f"A {kind} record's data has {count} field(s) (strings).")
    return check(fields)


def record(line: int, name: str, kind: str, ttl: int, data: list[str]) -> Record:
    return {"line": line, "name": name, "type": kind, "ttl": ttl, "data": data}
