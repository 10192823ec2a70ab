"""Where domain events are recorded; the server writes them to files, tests collect them."""

from __future__ import annotations

from typing import Protocol


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
