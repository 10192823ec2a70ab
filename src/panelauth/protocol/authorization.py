"""Parsing the Authorization header (w§2): Basic, WHM access hash / token, cPanel token.

The parser is strict and total: it returns a typed credential or raises MalformedCredentials,
which the server answers with the single "Access denied" (w§2.0, TR-5). No lookup happens here.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass

from panelauth.secret import Secret

MAX_USER_BYTES = 255
MAX_PASSWORD_BYTES = 4096
MAX_HEADER_CREDENTIAL_CHARS = 8192

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


class MalformedCredentials(ValueError):
    """The header cannot carry a valid credential; `reason` goes to the login log only."""

    def __init__(self, reason: str, claimed_user: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.claimed_user = claimed_user


class Scheme(enum.Enum):
    BASIC = "basic"
    WHM = "whm"
    CPANEL = "cpanel"


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    user: str
    password: Secret


@dataclass(frozen=True, slots=True)
class HeaderSecretCredentials:
    """`whm user:SECRET` (token or access hash) or `cpanel user:TOKEN`; whitespace removed."""

    scheme: Scheme
    user: str
    secret: Secret


Credentials = BasicCredentials | HeaderSecretCredentials
_SCHEMES = {scheme.value: scheme for scheme in Scheme}


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def header_scheme(value: str) -> Scheme | None:
    """The scheme an Authorization value names (case-insensitive), without reading the
    credentials; None for any other scheme (w§2.0, w§2.4)."""
    return _SCHEMES.get(value.strip(" \t\r\n").partition(" ")[0].lower())


def parse_authorization(value: str) -> Credentials:
    """Parse one Authorization header value (w§2.0-2.5)."""
    # Trailing whitespace, including stray CR/LF fragments some clients append, is ignored (w§2.0)
    value = value.rstrip(" \t\r\n")
    scheme_text, separator, rest = value.partition(" ")
    if not separator:
        raise MalformedCredentials("authorization header without credentials")
    rest = rest.lstrip(" ")
    if len(rest) > MAX_HEADER_CREDENTIAL_CHARS:
        raise MalformedCredentials("authorization header too long")
    scheme_name = scheme_text.lower()  # RFC 7235 §2.1: schemes are case-insensitive
    if scheme_name == "basic":
        return _parse_basic(rest)
    if scheme_name in ("whm", "cpanel"):
        # the dict, not Scheme(scheme_name): an enum lookup by value costs ~20x more
        return _parse_header_secret(_SCHEMES[scheme_name], rest)
    raise MalformedCredentials("unsupported authorization scheme")


def _parse_basic(encoded: str) -> BasicCredentials:
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise MalformedCredentials("basic credentials are not valid base64 UTF-8") from None
    # RFC 7617 §2: split at the first colon; a user name cannot contain one
    user, colon, password = decoded.partition(":")
    if not colon:
        raise MalformedCredentials("basic credentials without a colon")
    _check_user(user)
    if has_control_characters(password):
        raise MalformedCredentials("control character in password", claimed_user=user)
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise MalformedCredentials("password too long", claimed_user=user)
    return BasicCredentials(user, Secret(password))


def form_credentials(user: str, password: str) -> BasicCredentials:
    """Credentials from a login form, held to the same rules as a Basic header (CV-4)."""
    _check_user(user)
    if has_control_characters(password):
        raise MalformedCredentials("control character in password", claimed_user=user)
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise MalformedCredentials("password too long", claimed_user=user)
    return BasicCredentials(user, Secret(password))


def _parse_header_secret(scheme: Scheme, rest: str) -> HeaderSecretCredentials:
    user, colon, secret = rest.partition(":")
    if not colon:
        raise MalformedCredentials("credentials without a colon")
    _check_user(user)
    # the common case, a token: ASCII letters and digits have nothing to remove or refuse
    if not (secret.isascii() and secret.isalnum()):
        # w§2.2: all whitespace, CR and LF inside the sent value are removed before comparison
        secret = _WHITESPACE.sub("", secret)
        if has_control_characters(secret):
            raise MalformedCredentials("control character in credentials", claimed_user=user)
    if not secret:
        raise MalformedCredentials("empty secret", claimed_user=user)
    return HeaderSecretCredentials(scheme, user, Secret(secret))


def _check_user(user: str) -> None:
    if not user:
        raise MalformedCredentials("user name not provided")
    if user.isascii() and user.isalnum() and len(user) <= MAX_USER_BYTES:
        return  # the common case: nothing to refuse (ASCII: one byte a character)
    if has_control_characters(user) or user != user.strip():
        raise MalformedCredentials("invalid character in user name")
    if len(user.encode("utf-8")) > MAX_USER_BYTES:
        raise MalformedCredentials("user name too long")


def format_basic(user: str, password: str) -> str:
    """The header value a client sends for Basic authentication."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"
