"""Account and domain events, and the bus that hands them to subscribers (plugins).

The use cases that change accounts (core/accounts.py, core/credential_changes.py) publish an
event after the change is stored. A subscriber that fails is logged and skipped: the change is
never undone and the caller never sees the failure. The bus is built once per worker and passed
down (api/context.Runtime); there is no global one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountCreated:
    user: str
    domain: str
    owner: str


@dataclass(frozen=True, slots=True)
class AccountRemoved:
    user: str
    domain: str
    owner: str


@dataclass(frozen=True, slots=True)
class AccountSuspended:
    user: str
    reason: str


@dataclass(frozen=True, slots=True)
class AccountUnsuspended:
    user: str


@dataclass(frozen=True, slots=True)
class DomainAdded:
    """A domain now belongs to `user` (today: an account's domain, with the account)."""

    user: str
    domain: str


@dataclass(frozen=True, slots=True)
class DomainRemoved:
    """A domain no longer belongs to `user` (today: with the account's removal)."""

    user: str
    domain: str


Event = (
    AccountCreated
    | AccountRemoved
    | AccountSuspended
    | AccountUnsuspended
    | DomainAdded
    | DomainRemoved
)
EVENT_TYPES: tuple[type[Event], ...] = (
    AccountCreated,
    AccountRemoved,
    AccountSuspended,
    AccountUnsuspended,
    DomainAdded,
    DomainRemoved,
)

E = TypeVar("E", bound=Event)
Subscriber = Callable[[Any], Awaitable[None]]


class EventBus:
    """Subscribers by event type, each named by its owner (for the log line of a failure)."""

    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[tuple[str, Subscriber]]] = {}

    def subscribe(
        self, event_type: type[E], subscriber: Callable[[E], Awaitable[None]], *, owner: str
    ) -> None:
        if event_type not in EVENT_TYPES:
            raise TypeError(f"{owner}: {event_type!r} is not an event panelauth publishes")
        self._subscribers.setdefault(event_type, []).append((owner, subscriber))

    async def publish(self, *events: Event) -> None:
        """Each event to its subscribers, in subscription order; a failure is logged only."""
        for event in events:
            for owner, subscriber in self._subscribers.get(type(event), ()):
                try:
                    await subscriber(event)
                except Exception as error:  # a subscriber never undoes or fails the change
                    log.error(
                        "%s: its %s handler raised %s; the change stands",
                        owner,
                        type(event).__name__,
                        type(error).__name__,
                        exc_info=error,
                    )
