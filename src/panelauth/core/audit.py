"""Where domain events are recorded; the server writes them to files, tests collect them."""

from __future__ import annotations

from typing import Protocol

from panelauth.protocol.sessionlog import Origin


class AccountingLog(Protocol):
    def record(self, action: str, *fields: str) -> None:
        """One accounting event, e.g. ("API_TOKEN_CREATE", operator, owner, kind, name)."""
        ...


class MemoryAccountingLog:
    """Keeps events in a list: for tests and for the local command line."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def record(self, action: str, *fields: str) -> None:
        self.events.append((action, *fields))


class SessionLogSink(Protocol):
    def new(self, session_id: str, origin: Origin) -> None:
        """A session was created (w§14.1 NEW); the id never includes the secret."""
        ...

    def purge(self, session_id: str, reason: str, address: str | None) -> None:
        """A session ended (w§14.1 PURGE); address None means the server itself."""
        ...


class MemorySessionLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    def new(self, session_id: str, origin: Origin) -> None:
        self.events.append(("NEW", session_id, origin))

    def purge(self, session_id: str, reason: str, address: str | None) -> None:
        self.events.append(("PURGE", session_id, reason))
