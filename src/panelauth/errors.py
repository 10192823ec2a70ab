"""The exception tree; each error carries how it reaches the wire.

::

    PanelauthError
     +-- AuthenticationFailed     403 "Access denied" (one answer for every rejection, w§15.6)
     +-- SslRequired              403 "SSL is required ..." in the API's envelope (w§1.2)
     +-- FunctionNotFound         404 "Function not found" (w§1.3)
     +-- PermissionDenied         403 "Permission denied" (w§1.3, w§16)
     +-- FunctionFailed           200 with result/status 0 and a reason (w§15)
     |    +-- InvalidArgument     a parameter is missing or malformed
     |    +-- AlreadyExists       the named object exists already
     |    +-- NotFound            the named object does not exist (where naming it is allowed)
     +-- BadRequest               400 (malformed request, duplicate Authorization, bad path)
     +-- PayloadTooLarge          413
     +-- RequestTimeout           408 (the body did not arrive in time; the connection closes)
     +-- ServiceUnavailable       503 with Retry-After; a dependency failed, never grants access
          +-- StoreUnavailable    the store is locked, full or unreachable
          +-- Overloaded          the password-hashing queue is full

The server maps each class to its wire form in one place; code raising them never builds HTTP.
"""

from __future__ import annotations


class PanelauthError(Exception):
    """Base of every error panelauth raises on purpose."""

    status = 500
    reason = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.reason)
        self.message = message or self.reason


class AuthenticationFailed(PanelauthError):
    """A credential was rejected; `detail` is for the login log only, never the client."""

    status = 403
    reason = "Access denied"

    def __init__(self, detail: str = "user password incorrect", *, claimed_user: str = "") -> None:
        super().__init__(self.reason)
        self.detail = detail
        self.claimed_user = claimed_user


class SslRequired(PanelauthError):
    status = 403
    reason = "SSL is required for this request."


class FunctionNotFound(PanelauthError):
    status = 404
    reason = "Function not found"


class PermissionDenied(PanelauthError):
    status = 403
    reason = "Permission denied"


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


class Overloaded(ServiceUnavailable):
    reason = "Too many logins are being verified; try again shortly"
    retry_after_seconds = 2
