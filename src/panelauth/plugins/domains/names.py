"""What a subdomain's name and document root may be, checked before anything is stored."""

from __future__ import annotations

import re
from posixpath import normpath

from panelauth.extension import InvalidArgument

MAX_DOMAIN = 253  # a DNS name, dots included
MAX_LABEL = 63
MAX_DIR = 255
WEB_ROOT = "/public_html"  # document roots stay under it, as cPanel's default tweak setting asks

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PATH_CHARS = re.compile(r"[A-Za-z0-9._/@+-]*")  # no spaces, quotes, controls or shell specials


def subdomain_label(value: str, *, disallowdot: bool) -> str:
    """The subdomain part (`blog`, or `a.b` for a deeper name), lowercased; `disallowdot`
    removes its dots as cPanel's parameter of that name does."""
    text = value.strip().lower().removesuffix(".")
    if disallowdot:
        text = text.replace(".", "")
    quoted = shown(value, MAX_LABEL)
    if not text:
        raise InvalidArgument("The “domain” parameter is required.")
    for label in text.split("."):
        if not _LABEL.fullmatch(label):
            raise InvalidArgument(
                f"“{quoted}” is not a valid subdomain: each label has 1 to {MAX_LABEL} letters, "
                "digits or hyphens, and neither begins nor ends with a hyphen."
            )
    return text


def full_name(label: str, rootdomain: str) -> str:
    name = f"{label}.{rootdomain}"
    if len(name) > MAX_DOMAIN:
        raise InvalidArgument(f"A domain name has at most {MAX_DOMAIN} characters.")
    return name


def document_root(value: str | None, label: str) -> str:
    """The document root relative to the home directory, as `/public_html/...`; by default
    `/public_html/<label>`."""
    if value is None or not value.strip():
        return f"{WEB_ROOT}/{label}"
    text = value.strip()
    if len(text) > MAX_DIR or not _PATH_CHARS.fullmatch(text):
        raise InvalidArgument(
            f"The “dir” parameter is a path of at most {MAX_DIR} letters, digits and . _ / @ + -."
        )
    if ".." in text.split("/"):
        raise InvalidArgument("The “dir” parameter may not contain “..”.")
    path = normpath("/" + text.lstrip("/"))
    if path != WEB_ROOT and not path.startswith(WEB_ROOT + "/"):
        raise InvalidArgument(f"The document root must be inside “{WEB_ROOT.lstrip('/')}”.")
    return path


def shown(value: str, limit: int = MAX_DOMAIN) -> str:
    """`value` fit to quote in an error: shortened, control characters replaced."""
    return "".join(char if char.isprintable() else "?" for char in value[:limit])
