"""`panelauth twofactor ...`: enrol with a QR code in the terminal, status, remove.

Enrolment and removal run the core use cases the API functions and pages run
(core.credential_changes): the user's other sessions end and the accounting log records the
change, with `root` as the operator.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import segno

from panelauth.cli.local import LOCAL_ADDRESS, local_state
from panelauth.core.models import ROOT, Account
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
    async with local_state(data_dir) as state:
        changes = state.runtime.credential_changes()
        new = await changes.new_two_factor_secret(user, await _account(state, user))
        code = ask_code(terminal_qr(new.otpauth_uri), new.secret)
        await changes.enrol_two_factor(
            user, new.secret, code.strip(), actor=ROOT, keep=None, address=LOCAL_ADDRESS
        )
        return new.otpauth_uri


async def status(data_dir: DataDir, user: str) -> tuple[bool, bool]:
    """(policy enabled, user enrolled)."""
    async with local_state(data_dir) as state:
        await _account(state, user)
        two_factor = state.runtime.two_factor
        return await two_factor.policy_enabled(), await two_factor.enrolled(user)


async def remove(data_dir: DataDir, user: str) -> bool:
    async with local_state(data_dir) as state:
        await _account(state, user)
        return await state.runtime.credential_changes().remove_two_factor(
            user, actor=ROOT, keep=None, address=None
        )
