"""Session cookies (w§4): names, values `<id>,<secret>` URL-encoded, parsing and Set-Cookie."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from panelauth.protocol.services import Service

COOKIE_NAMES = {
    Service.CPANEL: "cpsession",
    Service.WHM: "whostmgrsession",
    Service.WEBMAIL: "webmailsession",
}
SESSION_ID = re.compile(r"[^,:\s]{1,255}:[A-Za-z0-9_]{16}(?::[A-Za-z_]{1,64})?")
SECRET = re.compile(r"[0-9a-f]{32}")
MAX_COOKIE_VALUE = 1024


@dataclass(frozen=True, slots=True)
class CookieCredential:
    session_id: str
    secret: str


def cookie_values(header: str | None, name: str) -> list[str]:
    """Every value of cookie `name`; names match exactly, no trimming inside names (SE-10)."""
    if not header:
        return []
    values = []
    for part in header.split(";"):
        key, equals, value = part.lstrip(" ").partition("=")
        if equals and key == name:
            values.append(value.strip(" "))
    return values


def parse_cookie_value(raw: str) -> CookieCredential | None:
    """`<id>,<secret>` (URL-encoded); without the secret it is refused (w§4, CV-5)."""
    if len(raw) > MAX_COOKIE_VALUE:
        return None
    try:
        value = unquote(raw, errors="strict") if "%" in raw else raw
    except UnicodeDecodeError:
        return None  # escapes that are not UTF-8: not a cookie of ours
    session_id, comma, secret = value.rpartition(",")
    if not comma or not SESSION_ID.fullmatch(session_id) or not SECRET.fullmatch(secret):
        return None
    return CookieCredential(session_id, secret)


def encode_cookie_value(session_id: str, secret: str) -> str:
    # lowercase escapes as cPanel writes them: %3a, %2c, %40
    encoded = quote(f"{session_id},{secret}", safe="_-.")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)


def set_cookie_header(service: Service, value: str, *, secure: bool = True) -> str:
    """No Domain, no Expires/Max-Age: a browser-session cookie (w§4, SE-2)."""
    flags = "; Secure" if secure else ""
    return f"{COOKIE_NAMES[service]}={value}; HttpOnly; Path=/{flags}; SameSite=Lax"


def clear_cookie_header(service: Service, *, secure: bool = True) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE_NAMES[service]}=; Path=/; Max-Age=0; HttpOnly{flags}; SameSite=Lax"
