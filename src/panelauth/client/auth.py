"""How the client authenticates: header credentials (w§2) and the session login (w§3, w§9).

Header credentials are stateless: each request carries them. `SessionLogin` logs in once with
`POST /login/?login_only=1`, then sends the session cookie and the `/cpsessNNNNNNNNNN` security
token; the sans-I/O core (`client/core.py`) drives it and logs in again when the session ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyotp

from panelauth.protocol.authorization import format_basic
from panelauth.secret import Secret

_WHITESPACE = re.compile(r"\s+")
Now = Callable[[], float]


def _secret(value: str | Secret | None) -> Secret | None:
    return value if isinstance(value, Secret) or value is None else Secret(value)


@dataclass(frozen=True)
class Totp:
    """A TOTP secret (base32, as shown at enrolment) and the time its codes are made for."""

    secret: Secret
    now: Now = time.time

    def code(self) -> str:
        """The current 6-digit code (RFC 6238, 30-second steps, SHA-1: w§13.3)."""
        return pyotp.TOTP(self.secret.reveal()).at(self.now())


def _totp(secret: str | Secret | None, now: Now) -> Totp | None:
    wrapped = _secret(secret)
    return None if wrapped is None else Totp(wrapped, now)


class HeaderAuth:
    """Credentials sent on every request as headers."""

    user: str

    def headers(self) -> dict[str, str]:
        raise NotImplementedError


@dataclass(frozen=True, init=False)
class _UserPassword:
    """A user, a password and, with `otp_secret`, the TOTP secret that answers two-factor."""

    user: str
    password: Secret
    totp: Totp | None = field(default=None)

    def __init__(
        self,
        user: str,
        password: str | Secret,
        *,
        otp_secret: str | Secret | None = None,
        otp_clock: Now = time.time,
    ) -> None:
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "password", _secret(password))
        object.__setattr__(self, "totp", _totp(otp_secret, otp_clock))


@dataclass(frozen=True, init=False)
class Password(_UserPassword, HeaderAuth):
    """`Authorization: Basic` (w§2.1); with `otp_secret`, `X-CPANEL-OTP` on each request (w§2.6)."""

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": format_basic(self.user, self.password.reveal())}
        if self.totp is not None:
            headers["X-CPANEL-OTP"] = self.totp.code()
        return headers


@dataclass(frozen=True, init=False)
class _Token(HeaderAuth):
    user: str
    token: Secret
    scheme = ""

    def __init__(self, user: str, token: str | Secret) -> None:
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "token", _secret(token))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {self.user}:{self.token.reveal()}"}


class WhmToken(_Token):
    """`Authorization: whm user:TOKEN`, a WHM API token of root or a reseller (w§2.3)."""

    scheme = "whm"


class CpanelToken(_Token):
    """`Authorization: cpanel user:TOKEN`, for UAPI and API 2 on a cPanel port (w§2.4)."""

    scheme = "cpanel"


@dataclass(frozen=True, init=False)
class AccessHash(HeaderAuth):
    """`Authorization: WHM root:HASH` (w§2.2); the file's newlines and spaces are removed."""

    user: str
    hash: Secret

    def __init__(self, hash: str | Secret, user: str = "root") -> None:
        text = hash.reveal() if isinstance(hash, Secret) else hash
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "hash", Secret(_WHITESPACE.sub("", text)))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"WHM {self.user}:{self.hash.reveal()}"}


@dataclass(frozen=True, init=False)
class SessionLogin(_UserPassword):
    """A session: `user`/`pass` (and `tfa_token` from `otp_secret`) to the login endpoint."""

    def form(self) -> list[tuple[str, str]]:
        """The login form's fields (w§3.1)."""
        fields = [("user", self.user), ("pass", self.password.reveal())]
        if self.totp is not None:
            fields.append(("tfa_token", self.totp.code()))
        return fields


@dataclass(frozen=True, init=False)
class SessionUrl:
    """A single-use login URL, such as `create_user_session`'s `url` (w§10.1, w§10.3).

    The client opens it once (`GET`, without following the redirect), keeps the session cookie
    of the answer and the `/cpsessNNNNNNNNNN` security token of the URL, and makes its calls with
    them. It cannot log in again: once that session ends, calls fail. `base_url` is the URL's
    origin, the address the client's calls go to.
    """

    url: Secret
    base_url: str

    def __init__(self, url: str | Secret) -> None:
        text = url.reveal() if isinstance(url, Secret) else url
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http") or not parts.netloc or "session=" not in text:
            raise ValueError("not a session URL (https://host:port/cpsessN/login/?session=...)")
        object.__setattr__(self, "url", Secret(text))
        object.__setattr__(self, "base_url", f"{parts.scheme}://{parts.netloc}")


Auth = HeaderAuth | SessionLogin | SessionUrl
