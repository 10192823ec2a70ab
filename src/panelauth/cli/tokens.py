"""Friendly token commands (`panelauth token ...`, `panelauth accesshash convert`).

They run the same API functions as `whmapi1`/`uapi`, as the named user, and print tables.
"""

from __future__ import annotations

import time
from typing import Any

from panelauth.api.outcome import Outcome
from panelauth.api.registry import Api
from panelauth.cli.local import LOCAL_ADDRESS, local_state
from panelauth.core.identities import Refusal, decide_identity
from panelauth.core.models import Account, CredentialKind, Identity
from panelauth.core.tokens import TokenKind
from panelauth.errors import InvalidArgument, NotFound
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.datadir import DataDir
from panelauth.server.state import ServerState


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _when(timestamp: Any) -> str:
    if not timestamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(timestamp)))


async def _account(state: ServerState, user: str) -> Account:
    account = await state.runtime.store.get_account(user)
    if account is None:
        raise NotFound(f"The user “{user}” does not exist.")
    return account


def _identity(account: Account, kind: TokenKind) -> Identity:
    service = Service.WHM if kind is TokenKind.WHM else Service.CPANEL
    identity = decide_identity(account, service, CredentialKind.LOCAL)
    if isinstance(identity, Refusal):
        if kind is TokenKind.WHM:
            raise InvalidArgument(f"“{account.user}” is not root or a reseller: use --kind cpanel.")
        raise InvalidArgument(f"“{account.user}” is not a cPanel account: use --kind whm.")
    return identity


async def token_call(
    data_dir: DataDir, user: str, kind: TokenKind, action: str, params: Params
) -> Outcome:
    """Run `action` (create, list, revoke) for `user`'s tokens of `kind`."""
    async with local_state(data_dir) as state:
        account = await _account(state, user)
        if kind is TokenKind.WHM:
            function = {
                "create": "api_token_create",
                "list": "api_token_list",
                "revoke": "api_token_revoke",
            }[action]
            return await state.dispatcher.whm1(
                _identity(account, kind), function, params, client_address=LOCAL_ADDRESS
            )
        function = {"create": "create_full_access", "list": "list", "revoke": "revoke"}[action]
        return await state.dispatcher.cpanel(
            Api.UAPI,
            _identity(account, kind),
            Service.CPANEL,
            "Tokens",
            function,
            params,
            client_address=LOCAL_ADDRESS,
        )


def token_rows(kind: TokenKind, data: Any) -> list[list[str]]:
    entries = list(data["tokens"].values()) if kind is TokenKind.WHM else list(data)
    rows = []
    for entry in entries:
        if kind is TokenKind.WHM:
            acls = entry["acls"]
            rights = "all" if acls.get("all") else ",".join(a for a, on in acls.items() if on)
            ips = ",".join(entry["whitelist_ips"] or []) or "any"
        else:
            rights, ips = "full access", "any"
        rows.append(
            [
                entry["name"],
                _when(entry["create_time"]),
                _when(entry.get("expires_at")),
                rights or "-",
                ips,
            ]
        )
    return rows


async def convert_access_hash(data_dir: DataDir, user: str) -> str:
    """Import the access hash's digest as a WHM token `accesshash-<epoch>` (w§12, KB-CONV)."""
    if user != "root":
        raise InvalidArgument("Only root has an access hash.")
    async with local_state(data_dir) as state:
        return await state.runtime.credential_changes().convert_access_hash(actor="root", user=user)
