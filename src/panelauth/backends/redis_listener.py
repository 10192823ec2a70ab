"""The listening connection of the failure counters on Redis: SUBSCRIBE to the store's change
channel, always (the twin of postgresql_listener.py, on Redis pub/sub).

One per store (so one per worker), its own connection beside the pool: a subscribed connection
can serve no other command. It runs as a background task, hands each message to the store and
tells it whether it listens; the store trusts its cache only while the last proof is recent. A
lost connection is opened again after a pause that grows from 0.1 s to 5 s.

Proofs of life: every PROOF_SECONDS the listener sends a PING on its subscribed connection. Redis
answers a connection in order, so the pong proves that every message published before the PING
was sent has arrived: the store is told the time it was sent (`on_proof`). A pong that does not
come within the deadline drops the connection, which is then opened again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from time import monotonic
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from panelauth.backends.redis_connect import Location, describe

FIRST_PAUSE_SECONDS: Final = 0.1
LAST_PAUSE_SECONDS: Final = 5.0
PROOF_SECONDS: Final = 0.5

log = logging.getLogger(__name__)


class SilentServer(Exception):
    """No pong within the deadline."""


class ChangeListener:
    def __init__(
        self,
        location: Location,
        channel: str,
        *,
        on_message: Callable[[str], None],
        on_listening: Callable[[bool], None],
        on_proof: Callable[[float], None],
        deadline_seconds: float,
    ) -> None:
        self._location = location
        self._channel = channel
        self._on_message = on_message
        self._on_listening = on_listening
        self._on_proof = on_proof
        self._deadline_seconds = deadline_seconds
        self._task: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()  # set once the first attempt to listen ended either way
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"panelauth SUBSCRIBE {self._channel}"
        )

    async def first_attempt(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until the first attempt listens or fails."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), timeout)

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while not self._stopping:
            listened = False
            client = Redis.from_url(
                self._location.url,
                decode_responses=True,
                socket_connect_timeout=self._deadline_seconds,
                client_name="panelauth-listener",
                # RESP2: a PING on a subscribed connection is answered as a "pong" message
                # (redis-py does not read RESP3's plain reply there as one when decoding)
                protocol=2,
            )
            try:
                async with client.pubsub() as pubsub:
                    async with asyncio.timeout(self._deadline_seconds):
                        await pubsub.subscribe(self._channel)
                    listened = True
                    await self._listen(pubsub)
            except (RedisError, OSError, SilentServer) as error:
                if not self._stopping:
                    log.warning(
                        "failure counter changes lost (%s); caches are not used", describe(error)
                    )
            finally:
                self._on_listening(False)
                self._tried.set()
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
            if self._stopping:
                return
            pause = FIRST_PAUSE_SECONDS if listened else min(pause * 2, LAST_PAUSE_SECONDS)
            await asyncio.sleep(pause)

    async def _listen(self, pubsub: Any) -> None:
        """Hand on messages as they arrive; prove the connection every PROOF_SECONDS."""
        proofs = 0
        sent = monotonic()
        token = f"proof:{proofs}"
        await pubsub.ping(token)
        pending = True
        while not self._stopping:
            now = monotonic()
            if pending and now - sent > self._deadline_seconds:
                raise SilentServer(f"no answer within {self._deadline_seconds:g} s")
            if not pending and now - sent >= PROOF_SECONDS:
                proofs += 1
                sent, token, pending = now, f"proof:{proofs}", True
                await pubsub.ping(token)
            wait = PROOF_SECONDS if not pending else self._deadline_seconds
            message = await pubsub.get_message(timeout=max(0.0, sent + wait - monotonic()))
            if message is None:
                continue
            if message["type"] == "message":
                self._on_message(str(message["data"]))
            elif message["type"] == "pong" and message["data"] == token and pending:
                pending = False
                if proofs == 0:
                    self._on_listening(True)
                    self._tried.set()
                self._on_proof(sent)
