"""The panelauth Python client for cPanel & WHM APIs (docs/client.md).

`Client` (blocking) and `AsyncClient` (asyncio) share one sans-I/O core (client/core.py) that
builds every request and reads every answer; they differ only in how they send. Neither
imports the server: the client speaks the wire of docs/wire.md and works against cPanel & WHM.

    from panelauth.client import Client, WhmToken

    with Client("https://server.example:2087", WhmToken("root", TOKEN)) as whm:
        accounts = whm.whm("listaccts").data["acct"]

Errors (client/errors.py)::

    ClientError
     +-- AccessDenied            credentials refused (403 "Access denied")
     |    +-- LoginFailed        session login refused (401)
     +-- TwoFactorFailed         a two-factor code is needed, or was wrong (403)
     +-- TokenDenied             the session's security token was refused (401)
     +-- PermissionDenied        not allowed (403 "Permission denied")
     |    +-- TokenScopeDenied   a cPanel token outside UAPI / API 2
     |    +-- SslRequired        credentials sent to a plain-HTTP port
     +-- FunctionFailed          result/status 0: `.reason`, `.errors`
     |    +-- FunctionNotFound   404
     +-- ServerBusy              503 after bounded retries: `.retry_after`
     +-- UnexpectedAnswer        not a cPanel-shaped answer
     +-- TransportError          no answer (connection, TLS)
          +-- Timeout
"""

from panelauth.client.aio import AsyncClient, AsyncCpanelAs, aget_loggedin_url
from panelauth.client.answers import Result
from panelauth.client.auth import (
    AccessHash,
    CpanelToken,
    Password,
    SessionLogin,
    SessionUrl,
    WhmToken,
)
from panelauth.client.core import RetryPolicy
from panelauth.client.errors import (
    AccessDenied,
    ClientError,
    FunctionFailed,
    FunctionNotFound,
    LoginFailed,
    PermissionDenied,
    ServerBusy,
    SslRequired,
    Timeout,
    TokenDenied,
    TokenScopeDenied,
    TransportError,
    TwoFactorFailed,
    UnexpectedAnswer,
)
from panelauth.client.loggedin import LoggedInUrl
from panelauth.client.sync import Client, CpanelAs, get_loggedin_url

__all__ = [
    "AccessDenied",
    "AccessHash",
    "AsyncClient",
    "AsyncCpanelAs",
    "Client",
    "ClientError",
    "CpanelAs",
    "CpanelToken",
    "FunctionFailed",
    "FunctionNotFound",
    "LoggedInUrl",
    "LoginFailed",
    "Password",
    "PermissionDenied",
    "Result",
    "RetryPolicy",
    "ServerBusy",
    "SessionLogin",
    "SessionUrl",
    "SslRequired",
    "Timeout",
    "TokenDenied",
    "TokenScopeDenied",
    "TransportError",
    "TwoFactorFailed",
    "UnexpectedAnswer",
    "WhmToken",
    "aget_loggedin_url",
    "get_loggedin_url",
]
