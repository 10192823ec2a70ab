"""The client's exception tree: one class for each way a call can fail.

::

    ClientError                     base of everything the client raises on purpose
     +-- AccessDenied               403 "Access denied": the credentials were refused (w§2.0)
     |    +-- LoginFailed           401 from `/login/?login_only=1` (w§3.1)
     +-- TwoFactorFailed            403 "TwoFactorAuth check failed": a code is needed, or the
     |                              one sent was wrong or replayed (w§2.6, w§9)
     +-- TokenDenied                401 Token Denied: the session's security token was refused
     |                              (w§6); raised only when logging in again did not help
     +-- PermissionDenied           403 "Permission denied": authenticated, but not allowed
     |    +-- TokenScopeDenied      a cPanel token outside UAPI and API 2 (w§2.4)
     |    +-- SslRequired           a credential sent to a plain-HTTP port (w§1.2)
     +-- FunctionFailed             the function ran and failed: `reason`, `errors` (w§15)
     |    +-- FunctionNotFound      404, unknown to this service (w§1.3)
     +-- ServerBusy                 503 with `retry_after` (seconds), after the bounded
     |                              retries were spent (w§15.5)
     +-- UnexpectedAnswer           an answer no cPanel-compatible server gives (`status`)
     +-- TransportError             no answer: connection, TLS or timeout (wraps httpx's error
          +-- Timeout               as `__cause__`); the request may or may not have run

Every error carries the HTTP `status` it came from (0 for a transport error).
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the client raises on purpose."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class AccessDenied(ClientError):
    """The server refused the credentials (any reason: it never says which, w§2.0)."""


class LoginFailed(AccessDenied):
    """A session login was refused (wrong password, or a wrong `tfa_token`)."""


class TwoFactorFailed(ClientError):
    """Two-factor authentication is required and no valid code was sent."""


class TokenDenied(ClientError):
    """The session's security token (`/cpsessNNNNNNNNNN`) was refused."""


class PermissionDenied(ClientError):
    """Authenticated, but this identity may not call the function (ACL, feature, owner)."""


class TokenScopeDenied(PermissionDenied):
    """A cPanel API token reaches UAPI and API 2 only."""


class SslRequired(PermissionDenied):
    """Credentials were sent to a plain-HTTP port; use the TLS port."""


class FunctionFailed(ClientError):
    """The function answered with result/status 0; `reason` is its text, `document` the whole
    answer (None when the failure did not come as an envelope, such as a 404)."""

    def __init__(
        self,
        reason: str,
        *,
        errors: tuple[str, ...] = (),
        status: int = 200,
        data: object = None,
        document: object = None,
    ) -> None:
        super().__init__(reason, status=status)
        self.reason = reason
        self.errors = errors or (reason,)
        self.data = data
        self.document = document


class FunctionNotFound(FunctionFailed):
    """The service does not know the function."""


class ServerBusy(ClientError):
    """503: a dependency of the server is unavailable; try again after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: float | None, status: int = 503) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class UnexpectedAnswer(ClientError):
    """The answer is not one of the shapes of w§15 (not JSON, an unknown status...)."""


class TransportError(ClientError):
    """The request got no answer (connection refused or reset, TLS failure, timeout)."""


class Timeout(TransportError):
    """The request did not complete within the client's timeout."""
