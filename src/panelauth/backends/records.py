"""Rows to records, for every SQL backend: the same columns in the same order become the same
immutable records, whichever database read them (SQLite's 0/1 become booleans here).

Identical rows give the same record, built once (`lru_cache` on the row tuple): the hot path
reads the same few accounts, tokens and sessions again and again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from panelauth.core.hulk import Method
from panelauth.core.models import Account, Mailbox
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.protocol.services import Service

Row = tuple[Any, ...]


def numbered_scripts(folder_name: str) -> list[tuple[int, str]]:
    """The migration scripts `NNNN_name.sql` of `backends/<folder_name>`, oldest first."""
    folder = resources.files("panelauth.backends").joinpath(folder_name)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


@lru_cache(maxsize=1024)
def acls(stored: str) -> frozenset[str]:
    return frozenset(json.loads(stored))  # the few distinct ACL sets are parsed once


def json_or_null(values: frozenset[str] | tuple[str, ...] | None) -> str | None:
    """A token's ACL set or IP list as stored: JSON, sorted for a set; NULL for "none given"."""
    if values is None:
        return None
    return json.dumps(sorted(values) if isinstance(values, frozenset) else list(values))


@lru_cache(maxsize=4096)
def account(row: Row) -> Account:
    return build_account(row)


def build_account(row: Row) -> Account:
    """user, domain, owner, password_hash, plan, feature_list, contact_email, suspended,
    suspend_reason, is_reseller, acls, created_at, credential_version."""
    return Account(
        user=row[0],
        domain=row[1],
        owner=row[2],
        password_hash=row[3],
        plan=row[4],
        feature_list=row[5],
        contact_email=row[6],
        suspended=bool(row[7]),
        suspend_reason=row[8],
        is_reseller=bool(row[9]),
        acls=acls(row[10]),
        created_at=row[11],
        credential_version=row[12],
    )


def mailbox(row: Sequence[Any]) -> Mailbox:
    """address, account, password_hash, quota_mb, suspended_login, created_at,
    credential_version."""
    return Mailbox(
        address=row[0],
        account=row[1],
        password_hash=row[2],
        quota_mb=row[3],
        suspended_login=bool(row[4]),
        created_at=row[5],
        credential_version=row[6],
    )


@lru_cache(maxsize=4096)
def token(row: Row) -> ApiToken:
    return build_token(row)


def build_token(row: Row) -> ApiToken:
    """owner, kind, name, digest, created_at, expires_at, acls, whitelist_ips."""
    return ApiToken(
        owner=row[0],
        kind=TokenKind(row[1]),
        name=row[2],
        digest=row[3],
        created_at=row[4],
        expires_at=row[5],
        acls=frozenset(json.loads(row[6])) if row[6] is not None else None,
        whitelist_ips=tuple(json.loads(row[7])) if row[7] is not None else None,
    )


@lru_cache(maxsize=4096)
def session(row: Row) -> Session:
    return build_session(row)


def build_session(row: Row) -> Session:
    """The 18 columns of the sessions table, in Session's field order."""
    return Session(
        session_id=row[0],
        secret_hash=row[1],
        user=row[2],
        account=row[3],
        service=Service(row[4]),
        kind=SessionKind(row[5]),
        state=SessionState(row[6]),
        security_token=row[7],
        creator=row[8],
        possessor=row[9],
        method=row[10],
        bound_address=row[11],
        created_at=row[12],
        last_seen=row[13],
        expires_at=row[14],
        wrong_tokens=row[15],
        credential_version=row[16],
        user_agent=row[17],
    )


def method(value: str) -> Method:
    """A failure's method as stored; an unknown one (a newer writer) counts as a password."""
    try:
        return Method(value)
    except ValueError:
        return Method.PASSWORD
