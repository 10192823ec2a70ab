"""The exception tree; each error carries how it reaches the wire.

::

    PanelauthError                 (form: how server/render.py answers it)
     +-- AuthenticationFailed     403 "Access denied", the fixed body (ACCESS_DENIED, w§15.6)
     +-- TwoFactorFailed          403 "TwoFactorAuth check failed", the fixed body (w§2.6)
     +-- SessionRefused           the cookie does not authenticate (SESSION): on API paths
     |                            "Access denied" (or Token Denied, or the 2FA body); on pages
     |                            a redirect to the login page, or the Token Denied page (w§6)
     +-- SslRequired              403 "SSL is required ..." in the API's envelope (w§1.2)
     +-- FunctionNotFound         404 "Function not found" (w§1.3)
     +-- PermissionDenied         403 "Permission denied" (w§1.3, w§16)
     |    +-- CrossSiteRefused    a cross-site browser request (CROSS_SITE, w§6)
     |    +-- TransferDenied      a session transfer this identity may not make (PAGE, w§17)
     +-- TokenScopeDenied         403, a cPanel token outside UAPI/API 2 (TOKEN_SCOPE, w§2.4)
     +-- FunctionFailed           200 with result/status 0 and a reason (w§15)
     |    +-- InvalidArgument     a parameter is missing or malformed
     |    +-- AlreadyExists       the named object exists already
     |    +-- NotFound            the named object does not exist (where naming it is allowed)
     |    +-- MailboxPasswordIncorrect  a wrong mailbox password (a failed login, w§10.2)
     +-- BadRequest               400 (malformed request, duplicate Authorization, bad path)
     +-- PayloadTooLarge          413
     +-- RequestTimeout           408 (the body did not arrive in time; the connection closes)
     +-- ServiceUnavailable       503 with Retry-After; a dependency failed, never grants access
          +-- StoreUnavailable    the store is locked, full or unreachable
          |    +-- SchemaOutdated the schema is behind: run `panelauth migrate`
          +-- Overloaded          the password-hashing queue is full

Each class names its `form`; `server/render.error_response` is the one function that turns
any of them into a response (the API's envelope by default). Code raising them never builds
HTTP. Inside an API function every error is answered in the API's envelope (w§15.6).
"""

from __future__ import annotations

import enum
from typing import ClassVar


class Form(enum.Enum):
    """The shape of an error's answer; server/render.py maps each to its response."""

    ENVELOPE = "envelope"  # the called API's envelope; plain text on a page (w§15.6)
    ACCESS_DENIED = "access denied"  # the single answer for every rejected credential (w§2.0)
    TWO_FACTOR = "two factor"  # the fixed TwoFactorAuth body (w§15.6)
    SESSION = "session"  # a refused cookie: see SessionRefused
    CROSS_SITE = "cross site"  # API: Permission denied; page: 403 Token Denied page (w§6)
    TOKEN_SCOPE = "token scope"  # w§2.4: cpanelresult on /json-api/cpanel, else plain text
    PAGE = "page"  # an HTML page whose heading is the reason


class PanelauthError(Exception):
    """Base of every error panelauth raises on purpose."""

    status = 500
    reason = "Internal error"
    form: ClassVar[Form] = Form.ENVELOPE

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.reason)
        self.message = message or self.reason


class AuthenticationFailed(PanelauthError):
    """A credential was rejected; `detail` is for the login log only, never the client."""

    status = 403
    reason = "Access denied"
    form = Form.ACCESS_DENIED

    def __init__(
        self,
        detail: str = "user password incorrect",
        *,
        claimed_user: str = "",
        counted: bool = True,
    ) -> None:
        super().__init__(self.reason)
        self.detail = detail
        self.claimed_user = claimed_user
        # whether brute-force protection still has to count it: not for what is no credential
        # failure (a suspended account, a token from a wrong address, BF-7), nor for an attempt
        # it refused or already counted itself (core/bruteforce.py)
        self.counted = counted


class TwoFactorFailed(PanelauthError):
    """The second factor is missing or wrong; `detail` is for the login log only."""

    status = 403
    reason = "TwoFactorAuth check failed"
    form = Form.TWO_FACTOR

    def __init__(self, detail: str, *, counted: bool) -> None:
        super().__init__(self.reason)
        self.detail = detail
        self.counted = counted  # a wrong code counts as a failed login; a missing one does not


class SessionRefused(PanelauthError):
    """The cookie does not authenticate; `code` is the login page's msg_code (w§3.4).

    `token_denied`: answered with the Token Denied page (w§6). `pending`: the session waits
    for its second factor (w§9); an API request gets the TwoFactorAuth body, a page the code
    form (core.sessions.Session; typed loosely here, below the domain).
    """

    status = 403
    reason = "Access denied"
    form = Form.SESSION

    def __init__(
        self, code: str, *, token_denied: bool = False, pending: object | None = None
    ) -> None:
        super().__init__(self.reason)
        self.code = code
        self.token_denied = token_denied
        self.pending = pending


class SslRequired(PanelauthError):
    status = 403
    reason = "SSL is required for this request."


class FunctionNotFound(PanelauthError):
    status = 404
    reason = "Function not found"


class PermissionDenied(PanelauthError):
    status = 403
    reason = "Permission denied"


class CrossSiteRefused(PermissionDenied):
    """A browser's cross-site request: Basic, or a cookie without a top-level GET (w§6)."""

    form = Form.CROSS_SITE


class TransferDenied(PermissionDenied):
    """A session transfer to an identity the session may not enter (w§17)."""

    form = Form.PAGE


class TokenScopeDenied(PanelauthError):
    """A cPanel API token outside UAPI and API 2 (w§2.4, TK-5)."""

    status = 403
    reason = "Token authentication allows access to UAPI or API 2 calls only."
    form = Form.TOKEN_SCOPE


class FunctionFailed(PanelauthError):
    """The function ran and failed; HTTP 200 with result 0 and this message."""

    status = 200
    reason = "The function failed."


class InvalidArgument(FunctionFailed):
    reason = "Invalid argument."


class AlreadyExists(FunctionFailed):
    reason = "The object already exists."


class NotFound(FunctionFailed):
    reason = "The object does not exist."


class MailboxPasswordIncorrect(FunctionFailed):
    """A `check_password` function was given a wrong mailbox password (w§10.2): result 0,
    and the edge records a failed login for `mailbox`."""

    reason = "The password is not correct."
    counted = True  # a failed login for brute-force protection

    def __init__(self, mailbox: str, detail: str = "user password incorrect") -> None:
        super().__init__()
        self.mailbox = mailbox
        self.detail = detail  # for the login log


class BadRequest(PanelauthError):
    status = 400
    reason = "Bad Request"


class PayloadTooLarge(PanelauthError):
    status = 413
    reason = "Request Entity Too Large"


class RequestTimeout(PanelauthError):
    status = 408
    reason = "Request Timeout"


class ServiceUnavailable(PanelauthError):
    status = 503
    reason = "Service temporarily unavailable"
    retry_after_seconds = 5


class StoreUnavailable(ServiceUnavailable):
    """The store failed (locked, full, unreachable): 503 with the plain reason (w§15.5, FT-4).

    The client only ever sees `reason`; the backend's own text (e.g. SQLite's "database is
    locked") is kept in `cause`, for the app log and the operator's command line.
    """

    reason = "The data store is busy; try again."

    def __init__(self, cause: str = "") -> None:
        super().__init__()
        self.cause = cause

    def __str__(self) -> str:
        return f"{self.reason} ({self.cause})" if self.cause else self.reason


class SchemaOutdated(StoreUnavailable):
    """The store's schema is not the version this panelauth needs (opening never migrates)."""

    def __init__(self, current: int, needed: int) -> None:
        super().__init__(f"schema version {current}, needed {needed}")
        self.current, self.needed = current, needed
        if current < needed:
            self.message = (
                f"The store's schema is at version {current}; this panelauth needs version "
                f"{needed}: run `panelauth migrate`."
            )
        else:
            self.message = (
                f"The store's schema is at version {current}, newer than this panelauth knows "
                f"({needed}): run the panelauth that migrated it."
            )

    def __str__(self) -> str:
        return self.message


class Overloaded(ServiceUnavailable):
    reason = "Too many logins are being verified; try again shortly"
    retry_after_seconds = 2
