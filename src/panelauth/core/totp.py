"""TOTP (RFC 6238 with pyotp): secrets, URIs and a pure verifier (w§13.3, TF-2, TF-3, TF-8).

`verify_totp` returns the accepted time step so the caller records it atomically with what
the code authorises; it never looks at a client-supplied time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote

import pyotp

from panelauth.errors import InvalidArgument

STEP_SECONDS = 30
DIGITS = 6
GENERATED_SECRET_CHARS = 32  # 160 bits
MIN_SECRET_CHARS = 26  # 128 bits (RFC 4226 §4)
CODE = re.compile(r"[0-9]{6}")
SECRET = re.compile(r"[A-Z2-7]+")
ISSUER = re.compile(r"[ A-Za-z0-9._-]{1,32}")


@dataclass(frozen=True, slots=True)
class VerifiedTotp:
    step: int  # the RFC 6238 time counter the code belongs to


def generate_secret() -> str:
    return pyotp.random_base32(length=GENERATED_SECRET_CHARS)


def validate_secret(secret: str) -> str:
    """A base32 secret of at least 128 bits (w§13.3); InvalidArgument otherwise."""
    if len(secret) < MIN_SECRET_CHARS or len(secret) > 128 or not SECRET.fullmatch(secret):
        raise InvalidArgument(
            "The secret must be at least 26 base32 characters (A-Z, 2-7), without padding."
        )
    try:
        base64.b32decode(secret + "=" * (-len(secret) % 8))
    except binascii.Error:
        raise InvalidArgument("The secret is not valid base32.") from None
    return secret


def validate_issuer(issuer: str) -> str:
    if not ISSUER.fullmatch(issuer):
        raise InvalidArgument(
            "The issuer must be 1 to 32 letters, digits, spaces, periods, underscores or hyphens."
        )
    return issuer


def otpauth_uri(issuer: str, account: str, secret: str) -> str:
    """`otpauth://totp/<issuer>:<account>?secret=...&issuer=...`, URI-encoded (w§13.3)."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"


def verify_totp(
    *, code: str, secret: str, at: float, last_step: int | None, window: int = 1
) -> VerifiedTotp | None:
    """The step of a valid code within ±`window` steps, not older than `last_step`; else None.

    The same step as `last_step` passes here: whether it may be used again (header requests
    from one address) is the store's replay rule to decide (w§2.6).
    """
    if not CODE.fullmatch(code):
        return None  # spaces, letters, 5 or 7 digits: refused before any work
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(at)
    matched = None
    for offset in range(-window, window + 1):
        candidate = totp.at(at, counter_offset=offset)
        # every candidate is compared, so timing does not tell which step matched
        if hmac.compare_digest(candidate, code) and matched is None:
            matched = current + offset
    if matched is None or (last_step is not None and matched < last_step):
        return None
    return VerifiedTotp(matched)
