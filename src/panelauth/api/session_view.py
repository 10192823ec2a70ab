"""How a live session is described to whoever may list it (SE-9, docs/api.md).

The id is the one the session log writes (`<user>:<16 chars>[:<tag>]`): never the secret,
never the security token.
"""

from __future__ import annotations

from typing import Any

from panelauth.core.sessions import Session


def describe(session: Session, current: str | None) -> dict[str, Any]:
    return {
        "id": session.session_id,
        "user": session.user,
        "service": session.service.value,
        "state": session.state.value,
        "address": session.bound_address,
        "user_agent": session.user_agent,
        "method": session.method,
        "created": int(session.created_at),
        "last_seen": int(session.last_seen),
        "current": 1 if current is not None and session.session_id == current else 0,
    }
