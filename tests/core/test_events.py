"""The event bus (core/events.py): only the events panelauth publishes can be subscribed to."""

from __future__ import annotations

import pytest

from panelauth.core.events import AccountCreated, EventBus


async def _ignore(event: object) -> None:
    return None


def test_subscribing_to_something_panelauth_never_publishes_is_refused_by_owner() -> None:
    bus = EventBus()
    bus.subscribe(AccountCreated, _ignore, owner="plugin ok")
    with pytest.raises(TypeError, match=r"^plugin notes: .* is not an event panelauth publishes"):
        bus.subscribe(str, _ignore, owner="plugin notes")  # type: ignore[type-var]
