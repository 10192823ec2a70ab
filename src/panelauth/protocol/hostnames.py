"""Host names as TLS server names and certificate installs give them: LDH labels (and `_`,
which panelauth's domains allow) of 63 characters at most, two labels or more, 253 characters
in all; compared without case and without a final dot."""

from __future__ import annotations

import re
from typing import Final

MAX_NAME_CHARS: Final = 253
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


def normalized(name: str) -> str:
    """`name` lowercased, without surrounding blanks or a final dot."""
    return name.strip().lower().removesuffix(".")


def host_name(text: str | None) -> str | None:
    """The host name `text` names (normalized), or None when it is not one (a wildcard is
    not)."""
    if not text:
        return None
    name = normalized(text)
    if len(name) > MAX_NAME_CHARS or not _HOST.fullmatch(name):
        return None
    return name
