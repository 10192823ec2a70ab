"""Server-rendered pages (Jinja2, autoescaped): login, Token Denied, landing (RX-2, RX-3)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2

from panelauth.protocol.services import Service

SERVICE_NAMES = {Service.CPANEL: "cPanel", Service.WHM: "WHM", Service.WEBMAIL: "Webmail"}

# w§3.4: fixed texts chosen by code; request text is never echoed (RX-3)
MESSAGES = {
    "invalid_login": "The login is invalid.",
    "expired_session": "Your session has expired. Please log in again.",
    "invalid_session": "Your session is not valid. Please log in again.",
    "token_missing": "Your security token is missing. Please log in again.",
    "token_incorrect": "Your security token is not valid. Please log in again.",
    "changed_ip": "Your IP address has changed. Please log in again.",
    "prevented_xfer": "The session could not be transferred over an insecure connection.",
    "logout": "You have logged out.",
}

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("panelauth.server", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Link:
    id: str
    href: str
    label: str


def render(template: str, service: Service, **values: Any) -> str:
    title = f"{SERVICE_NAMES[service]} - panelauth"
    return _ENVIRONMENT.get_template(template).render(
        title=title,
        heading=values.pop("heading", SERVICE_NAMES[service]),
        service_class=service.value,
        **values,
    )


def login_page(service: Service, code: str | None, *, goto_uri: str | None = None) -> str:
    return render(
        "login.html",
        service,
        heading=f"{SERVICE_NAMES[service]} Login",
        message=MESSAGES.get(code or ""),
        user_label="Email Address" if service is Service.WEBMAIL else "Username",
        webmail=service is Service.WEBMAIL,
        goto_uri=goto_uri,
    )


def token_denied_page(service: Service) -> str:
    return render(
        "token_denied.html",
        service,
        heading="Token Denied",
        user_label="Email Address" if service is Service.WEBMAIL else "Username",
    )


def unavailable_page(service: Service, reason: str) -> str:
    """A 503 page: the fixed plain reason only, never the cause (w§15.5, FT-4)."""
    return render("unavailable.html", service, heading="Try Again", reason=reason)


def static_file(name: str) -> tuple[bytes, str] | None:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in STATIC_TYPES or "/" in name or name.startswith("."):
        return None
    resource = resources.files("panelauth.server").joinpath("static", name)
    if not resource.is_file():
        return None
    return resource.read_bytes(), STATIC_TYPES[suffix]
