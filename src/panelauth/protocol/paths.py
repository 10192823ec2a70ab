"""Request paths: normalisation and the `/cpsessNNNNNNNNNN` security-token segment (w§1.6, w§6)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote_to_bytes

_CPSESS_SEGMENT = re.compile(r"^cpsess[A-Za-z0-9_]*$")
SECURITY_TOKEN = re.compile(r"^/cpsess[0-9]{10}$")
_FORBIDDEN_IN_SEGMENT = re.compile(r"[/\\\x00-\x1f\x7f]")


class BadPath(ValueError):
    """The path cannot be served (400)."""


@dataclass(frozen=True, slots=True)
class RequestPath:
    segments: tuple[str, ...]
    security_token: str | None  # "/cpsess..." as supplied, or None

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)


_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)+/?")


# a client repeats its paths: each distinct one is parsed once (a path that fails is not kept)
@lru_cache(maxsize=1024)
def parse_path(raw_path: str) -> RequestPath:
    """Split, remove dot-segments (RFC 3986 §5.2.4), decode each segment once (w§1.6)."""
    if _PLAIN_PATH.fullmatch(raw_path):
        # the common case: nothing to decode or remove, so splitting is all there is to do
        plain = raw_path[1:].split("/")
        first_token = "/" + plain.pop(0) if _CPSESS_SEGMENT.match(plain[0]) else None
        return RequestPath(tuple(plain), first_token)
    if not raw_path.startswith("/"):
        raise BadPath("path must be absolute")
    output: list[str] = []
    raw_segments = raw_path[1:].split("/")
    for index, raw in enumerate(raw_segments):
        if raw == ".":
            continue
        if raw == "..":
            if output:
                output.pop()
            continue
        if raw == "" and index != len(raw_segments) - 1:
            continue  # collapse empty segments ("//"), keep a trailing slash's empty one
        try:
            segment = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise BadPath("path is not UTF-8") from None
        if _FORBIDDEN_IN_SEGMENT.search(segment):
            raise BadPath("forbidden character in path segment")
        output.append(segment)
    token = None
    if output and _CPSESS_SEGMENT.match(output[0]):
        token = "/" + output.pop(0)
    return RequestPath(tuple(output), token)


def safe_goto(uri: str | None) -> str | None:
    """`goto_uri` if it is a same-origin relative path (w§3.3, RX-1), else None."""
    if not uri or not uri.startswith("/") or uri.startswith("//") or len(uri) > 2048:
        return None
    try:
        decoded = unquote_to_bytes(uri).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\\" in decoded or decoded.startswith("//") or "://" in decoded:
        return None
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        return None
    return uri
