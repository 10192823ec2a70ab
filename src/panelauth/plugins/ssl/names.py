"""The install domain as typed (a host name: protocol/hostnames.py), and whether a
certificate's names cover a host.

Matching follows what browsers apply (RFC 6125 §6.4, the CA/Browser Forum's rules): only the
subject alternative names count (never the subject's common name); names compare without case
and without a final dot; a wildcard is a whole left-most label `*` and covers exactly one label
(`*.example.com` covers `www.example.com`, not `example.com` nor `a.b.example.com`), and it
needs at least two labels after it (`*.com` covers nothing).
"""

from __future__ import annotations

from panelauth.extension import InvalidArgument
from panelauth.protocol.hostnames import MAX_NAME_CHARS, host_name


def require_host_name(text: str) -> str:
    """As `host_name`, or InvalidArgument naming what was given (shortened, printable)."""
    name = host_name(text)
    if name is None:
        shown = "".join(c if c.isprintable() else "?" for c in text[:MAX_NAME_CHARS])
        raise InvalidArgument(f"“{shown}” is not a valid domain name.")
    return name


def covers(pattern: str, host: str) -> bool:
    """Whether the certificate name `pattern` covers the host name `host` (both normalized)."""
    if not pattern.startswith("*."):
        return pattern == host
    suffix = pattern[2:]
    if "*" in suffix or suffix.count(".") < 1:
        return False
    first, dot, rest = host.partition(".")
    return bool(first) and bool(dot) and rest == suffix


def covered_by(names: list[str], host: str) -> bool:
    return any(covers(pattern, host) for pattern in names)
