"""`panelauth twofactor ...`: enrol with a QR code in the terminal, status, remove."""

from __future__ import annotations

import io
from collections.abc import Callable

import segno

from panelauth.cli.local import LOCAL_ADDRESS, local_state
from panelauth.core.models import Account
from panelauth.core.totp import generate_secret
from panelauth.errors import NotFound
from panelauth.server.datadir import DataDir
from panelauth.server.state import ServerState


def terminal_qr(uri: str) -> str:
    buffer = io.StringIO()
    segno.make(uri, error="m").terminal(out=buffer, compact=True)
    return buffer.getvalue()


async def _account(state: ServerState, user: str) -> Account:
    """The account of `user`, or of the mailbox `user` (its issuer follows its account)."""
    store = state.runtime.store
    if "@" in user:
        mailbox = await store.get_mailbox(user)
        account = await store.get_account(mailbox.account) if mailbox else None
    else:
        account = await store.get_account(user)
    if account is None:
        raise NotFound(f"The user “{user}” does not exist.")
    return account


async def enrol(data_dir: DataDir, user: str, ask_code: Callable[[str, str], str]) -> str:
    """Generate a secret for `user`, show it via `ask_code(qr, secret)`, enable it with the code."""
    with local_state(data_dir) as state:
        two_factor = state.runtime.two_factor
        account = await _account(state, user)
        secret = generate_secret()
        uri = await two_factor.uri(account, user, secret)
        code = ask_code(terminal_qr(uri), secret)
        await two_factor.enrol(user, secret, code.strip(), address=LOCAL_ADDRESS)
        await state.sessions.purge_identity(user, "kill")
        return uri


async def status(data_dir: DataDir, user: str) -> tuple[bool, bool]:
    """(policy enabled, user enrolled)."""
    with local_state(data_dir) as state:
        await _account(state, user)
        two_factor = state.runtime.two_factor
        return await two_factor.policy_enabled(), await two_factor.enrolled(user)


async def remove(data_dir: DataDir, user: str) -> bool:
    with local_state(data_dir) as state:
        await _account(state, user)
        removed = await state.runtime.two_factor.remove(user)
        if removed:
            await state.sessions.purge_identity(user, "kill")
        return removed
