"""`panelauth login-url`: a single-use login URL for an account, as cPanel's `whmlogin`.

It runs WHM API 1 `create_user_session` as root on this machine (w§10.1, D8): the URL names
the configured hostname and the service's TLS port plus the port offset the server was
started with (`panelauth serve --port-offset`), which the command cannot know by itself.
"""

from __future__ import annotations

from panelauth.cli.local import LOCAL_ADDRESS, local_state
from panelauth.core.models import CredentialKind, root_identity
from panelauth.errors import FunctionFailed
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.datadir import DataDir


async def default_service(data_dir: DataDir, user: str) -> str:
    """whostmgrd for root and resellers, webmaild for a mailbox, cpaneld for other accounts."""
    if "@" in user:
        return Service.WEBMAIL.value
    async with local_state(data_dir) as state:
        account = await state.runtime.store.get_account(user)
    if account is not None and (account.is_root or account.is_reseller):
        return Service.WHM.value
    return Service.CPANEL.value


async def login_url(
    data_dir: DataDir, user: str, service: str | None, app: str | None, port_offset: int
) -> str:
    service = service or await default_service(data_dir, user)
    pairs = [("user", user), ("service", service)] + ([("app", app)] if app else [])
    async with local_state(data_dir) as state:
        outcome = await state.dispatcher.whm1(
            root_identity(CredentialKind.LOCAL),
            "create_user_session",
            Params(pairs),
            client_address=LOCAL_ADDRESS,
            port_offset=port_offset,
        )
    if outcome.error is not None:
        if outcome.error.status == 403:  # w§10.1: no enumeration, even here the same text
            raise FunctionFailed(f"No login URL for “{user}”: no such account or mailbox.")
        raise outcome.error
    url: str = outcome.data["url"]
    return url
