"""Line layouts of access_log and login_log (w§14.2-14.4), and their escaping.

Every value that may come from a request goes through `escape`, so one event is always one line
(RX-5): bytes outside printable ASCII, and `"`/`\\` inside quoted fields, become `\\xNN`. That
covers every character `str.splitlines()` breaks at (LF, CR, VT, FF, U+001C-U+001E, NEL, U+2028,
U+2029), C0 and C1 controls and DEL. JSON log lines (`json_line`) hold the same rule.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson

REDACTED_PARAMETERS = frozenset(
    {"pass", "password", "session", "tfa_token", "secret", "token", "key", "crt", "cabundle"}
)
MAX_REQUEST_LINE_LOGGED = 2048


_MAYBE_SECRET = re.compile(r"pass|session|tfa_token|secret|token|key|crt|cabundle", re.IGNORECASE)


def escape(value: str, *, quoted: bool = False) -> str:
    """Escape a value for a log line (w§14.4)."""
    # the common case, nothing to escape: printable ASCII is exactly U+0020-U+007E
    # (`isascii` is O(1); `isprintable` a C loop, ~4x faster than a regex search)
    if (
        value.isascii()
        and value.isprintable()
        and (not quoted or ('"' not in value and "\\" not in value))
    ):
        return value
    try:  # bytes smuggled in by surrogateescape come back as themselves
        raw = value.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # any other lone surrogate: its UTF-8 form, escaped
        raw = value.encode("utf-8", errors="surrogatepass")
    out = []
    for byte in raw:
        if byte < 0x20 or byte >= 0x7F or (quoted and byte in (0x22, 0x5C)):
            out.append(f"\\x{byte:02x}")
        else:
            out.append(chr(byte))
    return "".join(out)


def json_line(document: Mapping[str, Any]) -> str:
    """One JSON document as one line of printable ASCII (w§14.4).

    JSON encoders escape C0 controls but leave DEL, C1 controls (NEL among them) and U+2028/
    U+2029 raw, and some readers break lines there; those documents are written with every
    non-ASCII character as `\\uXXXX`, which `json.loads` turns back into the same text.
    """
    return _serialised(document)[0]


def _serialised(document: Mapping[str, Any]) -> tuple[str, bool]:
    """`json_line`'s text, and whether it took the ASCII fallback (json.dumps, not orjson)."""
    try:
        text = orjson.dumps(document).decode()
    except TypeError:  # orjson refuses lone surrogates (JSONEncodeError is a TypeError)
        text = ""
    if text and text.isascii() and "\x7f" not in text:
        return text, False  # the common case: orjson's output is already printable ASCII
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")), True


@dataclass(frozen=True, slots=True)
class JsonFields:
    """A document's members as `json_line` writes them, to follow a `time` member written per
    record (`timed_json_line`): a record whose other fields repeat is serialised once."""

    text: str  # the members and the closing brace
    fallback: bool  # written by json.dumps: the time must be too, as json_line would

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> JsonFields:
        if not document:
            raise ValueError("a time needs at least one member beside it")
        text, fallback = _serialised(document)
        return cls(text[1:], fallback)


def timed_json_line(at: float, fields: JsonFields) -> str:
    """`json_line({"time": at, **document})` for the `document` of `fields`, byte for byte."""
    time_text = json.dumps(at) if fields.fallback else orjson.dumps(at).decode()
    return f'{{"time":{time_text},{fields.text}'


def redact_target(target: str) -> str:
    """The request target with secret-bearing query values replaced by `***` (w§14.3)."""
    path, question, query = target.partition("?")
    if not question or not query:
        return target
    if "%" not in query and "+" not in query and not _MAYBE_SECRET.search(query):
        return target  # no secret-bearing name, even encoded: nothing to redact
    pairs = parse_qsl(query, keep_blank_values=True, errors="replace")
    if not any(key.lower() in REDACTED_PARAMETERS for key, _ in pairs):
        return target
    parts = []
    for key, value in pairs:
        shown = "***" if key.lower() in REDACTED_PARAMETERS else value
        parts.append(f"{quote(key, safe='')}={quote(shown, safe='*')}")
    return f"{path}?{'&'.join(parts)}"


def _user_field(user: str) -> str:
    """An unquoted user field: escaped, and a space escaped too so the line still parses."""
    return escape(user).replace(" ", "\\x20") if user else "-"


# the same request is logged again and again: each distinct line is built once, but a target
# that carries a secret is never kept (the memo would hold it in memory), nor are more than
# REQUEST_LINE_MEMO_ENTRIES lines (attacker-chosen targets)
REQUEST_LINE_MEMO_ENTRIES = 1024
_request_lines: dict[tuple[str, str, str], str] = {}


def request_line(method: str, target: str, version: str) -> str:
    key = (method, target, version)
    line = _request_lines.get(key)
    if line is None:
        redacted = redact_target(target)
        line = f"{method} {redacted} {version}"[:MAX_REQUEST_LINE_LOGGED]
        if redacted is target:  # nothing redacted: nothing secret to keep
            if len(_request_lines) >= REQUEST_LINE_MEMO_ENTRIES:
                _request_lines.clear()
            _request_lines[key] = line
    return line


@lru_cache(maxsize=8)
def _cpsrvd_second(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(second))


@lru_cache(maxsize=8)
def _access_second(second: int) -> str:
    return time.strftime("%m/%d/%Y:%H:%M:%S -0000", time.gmtime(second))


def access_line(
    *,
    at: float,
    address: str,
    user: str | None,
    request: str,
    status: int,
    size: int,
    user_agent: str | None,
    port: int,
) -> str:
    """`ADDR - USER [TIME] "REQUEST" STATUS SIZE "-" "UA" "-" "-" PORT` (w§14.3)."""
    # the time formatted once per second, not once per line
    return (
        f"{escape(address)} - {_user_field(user) if user else '-'} [{_access_second(int(at))}] "
        f'"{escape(request, quoted=True)}" {status} {size} "-" '
        f'"{escape(user_agent, quoted=True) if user_agent else "-"}" "-" "-" {port}'
    )


def login_success_line(
    *, at: float, address: str, user: str, service: str, possessor: str | None = None
) -> str:
    return f"[{_cpsrvd_second(int(at))}] {_login_success_tail(address, user, service, possessor)}"


# a header-authenticated request writes this line each time (w§14.2): the part after the time
# is built once per who-and-where; it holds no secret, and an entry is made only after a success
@lru_cache(maxsize=1024)
def _login_success_tail(address: str, user: str, service: str, possessor: str | None) -> str:
    who = _user_field(user)
    if possessor:
        who += f" (possessor: {_user_field(possessor)})"
    return f"info [cpsrvd] {escape(address)} - {who} - SUCCESS LOGIN {service}"


def login_failure_line(
    *, at: float, address: str, claimed_user: str, request: str, service: str, reason: str
) -> str:
    return (
        f"[{_cpsrvd_second(int(at))}] info [cpsrvd] {escape(address)} - "
        f'{_user_field(claimed_user)} "{escape(request, quoted=True)}" '
        f"FAILED LOGIN {service}: {escape(reason)}"
    )


_LOGIN_LINE = re.compile(
    r"^\[(?P<time>[^\]]+)\] info \[cpsrvd\] (?P<address>\S+) - (?P<user>\S+)"
    r'(?: \(possessor: (?P<possessor>\S+)\))? (?:- |"(?P<request>[^"]*)" )'
    r"(?P<outcome>SUCCESS|FAILED) LOGIN (?P<service>\w+)(?:: (?P<reason>.*))?$"
)


def parse_login_line(line: str) -> dict[str, str | None] | None:
    """Fields of a login_log line, or None if it is not one (for tools and tests)."""
    match = _LOGIN_LINE.match(line)
    return match.groupdict() if match else None


def accounting_line(*, at: float, action: str, fields: list[str]) -> str:
    """`<ctime>:<ACTION>:<field>:...`, the layout of cPanel's accounting.log; `:` is escaped."""
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(at))
    return ":".join([stamp, action, *(escape(f).replace(":", "\\x3a") for f in fields)])
