"""The session log's NEW and PURGE lines (w§14.1, D9), in both layouts, and their parser."""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass

from panelauth.protocol.logformat import escape

_STRIPPED = re.compile(r"[\r\n=,]")


class SessionLogLayout(enum.Enum):
    SEED = "seed"  # the older layout of cPanel's SSO guide (default)
    CPSRVD = "cpsrvd"  # cPanel's current logger layout, parsed by CSF/LFD and Wazuh


PURGE_REASONS = frozenset(
    [
        "badpass",
        "expired",
        "kill",
        "limit",
        "loadsession",
        "loginsuccess",
        "logout",
        "xfercpanel",
        "xferwebmail",
        "xferwhm",
        "password_change",
        "killacct",
        "suspend",
        "token_denied",
    ]
)


@dataclass(frozen=True, slots=True)
class Origin:
    address: str
    app: str
    creator: str
    method: str
    path: str
    possessed: bool


def _field(text: str) -> str:
    """CR, LF, `=` and `,` stripped (w§14.1); every other byte outside printable ASCII (every
    line separator: U+2028, NEL, VT, ...) and the space become `\\xNN` (w§14.4)."""
    return escape(_STRIPPED.sub("", text)).replace(" ", "\\x20")


def _value(text: str) -> str:
    return _field(text) or "-"


def _session_id(session_id: str) -> str:
    return _field(session_id)


def _stamp(at: float, layout: SessionLogLayout) -> str:
    if layout is SessionLogLayout.SEED:
        return time.strftime("[%m/%d/%Y:%H:%M:%S -0000]", time.gmtime(at))
    return time.strftime("[%Y-%m-%d %H:%M:%S +0000]", time.gmtime(at))


def new_line(*, at: float, session_id: str, origin: Origin, layout: SessionLogLayout) -> str:
    fields = (
        f"address={_value(origin.address)},app={_value(origin.app)},"
        f"creator={_value(origin.creator)},method={_value(origin.method)},"
        f"path={_value(origin.path)},possessed={int(origin.possessed)}"
    )
    body = f"NEW {_session_id(session_id)} {fields}"
    if layout is SessionLogLayout.SEED:
        return f"{_stamp(at, layout)} {body}"
    return f"{_stamp(at, layout)} info [cpsrvd] {_value(origin.address)} {body}"


def purge_line(
    *, at: float, session_id: str, reason: str, address: str | None, layout: SessionLogLayout
) -> str:
    if reason not in PURGE_REASONS:
        raise ValueError(f"unknown purge reason: {reason}")
    body = f"PURGE {_session_id(session_id)} {reason}"
    if layout is SessionLogLayout.SEED:
        return f"{_stamp(at, layout)} {body}"
    host = _value(address) if address else "internal"
    return f"{_stamp(at, layout)} info [cpsrvd] {host} {body}"


@dataclass(frozen=True, slots=True)
class SessionLogEvent:
    event: str  # NEW or PURGE
    session_id: str
    fields: dict[str, str]  # NEW: the origin keys; PURGE: {"reason": ...}
    host: str | None  # cpsrvd layout only


_LINE = re.compile(
    r"^\[(?P<time>[^\]]+)\] (?:info \[cpsrvd\] (?P<host>\S+) )?"
    r"(?P<event>NEW|PURGE) (?P<id>\S+) (?P<rest>\S+)$"
)


def parse_session_log_line(line: str) -> SessionLogEvent | None:
    """One event of either layout, or None if the line is not a session-log line."""
    match = _LINE.match(line.rstrip("\n"))
    if not match:
        return None
    rest = match.group("rest")
    if match.group("event") == "PURGE":
        fields = {"reason": rest}
    else:
        pairs = [item.partition("=") for item in rest.split(",")]
        if any(not sep for _, sep, _ in pairs):
            return None
        fields = {key: value for key, _, value in pairs}
    return SessionLogEvent(match.group("event"), match.group("id"), fields, match.group("host"))
