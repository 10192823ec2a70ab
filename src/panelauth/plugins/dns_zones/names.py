"""Domain names in a zone: owner names (relative or absolute, always inside the zone) and the
host names record data points at (absolute, anywhere)."""

from __future__ import annotations

import re

from panelauth.extension import InvalidArgument

MAX_NAME = 253
# letters, digits, hyphens; `_` for service labels (_acme-challenge, _sip._tcp); no edge hyphen
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def _check_labels(name: str, shown: str, *, wildcard: bool) -> None:
    if len(name) > MAX_NAME:
        raise InvalidArgument(
            f"The name “{shown[:MAX_NAME]}…” is longer than {MAX_NAME} characters."
        )
    labels = name.split(".")
    for index, label in enumerate(labels):
        if wildcard and index == 0 and label == "*":
            continue
        if not _LABEL.fullmatch(label):
            raise InvalidArgument(f"“{shown[:MAX_NAME]}” is not a valid DNS name.")


def owner_name(name: str, zone: str) -> str:
    """The absolute name (`www.example.com.`) of a record named `name` in `zone`.

    `@` or empty is the zone itself; a name ending in a dot is absolute; a name without one is
    relative, unless it already ends with the zone's name (`www.example.com` in `example.com`),
    which clients send meaning the absolute name. An absolute name outside the zone is refused.
    """
    text = name.strip().lower()
    if text in ("", "@", f"{zone}."):
        return f"{zone}."
    if text.endswith("."):
        absolute = text[:-1]
    elif text == zone or text.endswith(f".{zone}"):
        absolute = text
    else:
        absolute = f"{text}.{zone}"
    if absolute != zone and not absolute.endswith(f".{zone}"):
        raise InvalidArgument(f"The name “{name[:MAX_NAME]}” is outside the zone “{zone}”.")
    _check_labels(absolute, name, wildcard=True)
    return f"{absolute}."


def host_name(name: str, what: str) -> str:
    """An absolute host name a record points at (`mail.example.com.`); the final dot optional."""
    text = name.strip().lower().removesuffix(".")
    if not text:
        raise InvalidArgument(f"The “{what}” parameter is required.")
    _check_labels(text, name, wildcard=False)
    return f"{text}."
