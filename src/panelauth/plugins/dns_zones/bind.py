"""A zone as BIND zone-file text (RFC 1035 §5), one record a line, each on its own `Line`:
line 1 is `$TTL`, and a line whose record was removed is left empty, so line N of the text is
the record API 2 numbers N (and UAPI `line_index` N-1)."""

from __future__ import annotations

from .records import Record
from .zone import DEFAULT_TTL, Zone


def quoted(text: str) -> str:
    """A character string in quotes: `"` and `\\` escaped, bytes past ASCII as `\\DDD`."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def rdata(found: Record) -> str:
    data: list[str] = found["data"]
    if found["type"] == "TXT":
        return " ".join(quoted(string) for string in data)
    if found["type"] == "CAA":
        return f"{data[0]} {data[1]} {quoted(data[2])}"
    return " ".join(data)


def record_line(found: Record) -> str:
    return f"{found['name']}\t{found['ttl']}\tIN\t{found['type']}\t{rdata(found)}"


def ttl_line(zone: Zone) -> str:
    return f"$TTL {zone.get('ttl', DEFAULT_TTL)}"


def zone_lines(zone: Zone) -> list[str]:
    by_line = {found["line"]: found for found in zone["records"]}
    last = max(by_line, default=1)
    lines = [ttl_line(zone)]
    lines.extend(
        record_line(by_line[number]) if number in by_line else "" for number in range(2, last + 1)
    )
    return lines


def zone_text(zone: Zone) -> str:
    return "\n".join(zone_lines(zone)) + "\n"
