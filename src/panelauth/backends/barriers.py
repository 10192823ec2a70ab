"""Barriers on a change channel: a message of a store's own that comes back after every change
sent before it (PostgreSQL delivers notices in commit order, Redis messages in publish order).
For tests that must not race a change signal (`_caught_up` of the PostgreSQL store and of the
Redis failure counters)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Final

PREFIX: Final = "barrier:"  # a payload that only says "everything before me arrived"


class Barriers:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[None]] = {}

    def arrived(self, payload: str) -> bool:
        """Whether `payload` is a barrier (then it is no change: its waiter, if any, wakes)."""
        if not payload.startswith(PREFIX):
            return False
        waiter = self._waiting.get(payload)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    async def passed(self, send: Callable[[str], Awaitable[object]], timeout: float) -> bool:
        """Send a barrier with `send` and wait for it: whether it came back within `timeout`
        seconds, every change sent before it having arrived first."""
        token = f"{PREFIX}{secrets.token_hex(8)}"
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[token] = waiter
        try:
            await send(token)
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            del self._waiting[token]
        return True
