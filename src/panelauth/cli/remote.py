"""`whmapi1` and `uapi` against a server, through the client (`--url` or `PANELAUTH_URL`).

The secret comes only from the environment, never from the command line (where `ps` and the
shell's history would show it): `PANELAUTH_TOKEN`, else `PANELAUTH_ACCESSHASH` (whmapi1 only),
else `PANELAUTH_PASSWORD`, with `PANELAUTH_TOTP_SECRET` to answer two-factor. The answer's
document is printed as the local mode prints it (w§20); a refusal is one `Error:` line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from panelauth.client import AccessHash, Client, CpanelToken, Password, WhmToken
from panelauth.client.auth import HeaderAuth
from panelauth.client.core import Call, uapi_call, whm_call
from panelauth.client.errors import ClientError, FunctionFailed
from panelauth.protocol import envelopes
from panelauth.protocol.params import Params

TOKEN = "PANELAUTH_TOKEN"
ACCESSHASH = "PANELAUTH_ACCESSHASH"
PASSWORD = "PANELAUTH_PASSWORD"
TOTP_SECRET = "PANELAUTH_TOTP_SECRET"
USER = "PANELAUTH_USER"


class RemoteError(Exception):
    """A remote command that cannot run or was refused: its one-line message."""


def otp_clock() -> float:
    """The time one-time codes are made for (a seam for tests, whose server clock is frozen)."""
    return time.time()


def remote_user(option: str | None, env: Mapping[str, str], default: str | None) -> str:
    user = option or env.get(USER) or default
    if not user:
        raise RemoteError(f"Give the account with --user or {USER}.")
    return user


def credentials(kind: str, user: str, env: Mapping[str, str]) -> HeaderAuth:
    """The credential of the environment; `kind` is `whm` (whmapi1) or `cpanel` (uapi)."""
    if env.get(TOKEN):
        return WhmToken(user, env[TOKEN]) if kind == "whm" else CpanelToken(user, env[TOKEN])
    if env.get(ACCESSHASH):
        if kind != "whm":
            raise RemoteError(f"{ACCESSHASH} authenticates to WHM only: use whmapi1.")
        return AccessHash(env[ACCESSHASH], user)
    if env.get(PASSWORD):
        totp = env.get(TOTP_SECRET) or None
        return Password(user, env[PASSWORD], otp_secret=totp, otp_clock=otp_clock)
    raise RemoteError(f"No secret: set {TOKEN}, {ACCESSHASH} or {PASSWORD} in the environment.")


@dataclass(frozen=True)
class Remote:
    url: str
    ca_file: Path | None
    insecure: bool

    def client(self, auth: HeaderAuth) -> Client:
        if self.insecure and self.ca_file is not None:
            raise RemoteError("--ca-file and --insecure contradict each other.")
        return Client(self.url, auth, ca_file=self.ca_file, insecure=self.insecure)


def _document(call: Call, client: Client) -> tuple[Any, bool]:
    """The answer's document and whether the function succeeded; refusals raise RemoteError."""
    try:
        return client.call(call).document, True
    except FunctionFailed as failed:
        if failed.document is None:  # not an envelope (a 404): nothing to print
            raise RemoteError(failed.message) from None
        return failed.document, False
    except ClientError as error:
        raise RemoteError(" ".join(error.message.split()) or type(error).__name__) from None
    finally:
        client.close()


def whmapi1(
    remote: Remote, user: str | None, function: str, params: Params, env: Mapping[str, str]
) -> tuple[Any, bool]:
    """WHM API 1 `function` as `user` (default root): the `{data, metadata}` document."""
    auth = credentials("whm", remote_user(user, env, "root"), env)
    call = replace(whm_call(function, {}), params=tuple(params.pairs()))
    return _document(call, remote.client(auth))


def uapi(
    remote: Remote,
    user: str | None,
    module: str,
    function: str,
    params: Params,
    env: Mapping[str, str],
) -> tuple[Any, bool]:
    """UAPI `module` `function` as the cPanel account `user`: the wrapped document (w§15.2)."""
    auth = credentials("cpanel", remote_user(user, env, None), env)
    call = replace(uapi_call(module, function, {}), params=tuple(params.pairs()))
    document, ok = _document(call, remote.client(auth))
    return envelopes.uapi_wrapped(module, function, document), ok


def environment() -> Mapping[str, str]:
    return os.environ
