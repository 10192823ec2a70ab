"""Brute-force failure counters on Redis: the `postgresql + redis` configuration keeps failures
(the counts of w§19) in Redis, with native expiry; blocks, locks, lists and root's addresses
stay durable (split_store.py), so a Redis restart may reset counts but never lifts a block.

Counting is atomic per script (redis_failure_scripts.py): a reservation counts and records in
one step for every worker and node, so parallel guesses spread over nodes get no more
verifications than on one (BF-4). The blocks a count calls for are imposed durably right after
(`settle_blocks`); a race of two nodes imposes the same block twice, harmlessly.

The hot path reads an address's standing (its failures within the lookback, and whose) on every
authenticated request, so each worker caches it, fed by the change channel (redis_listener.py):
every script publishes what it changed, and the cache is trusted only while the listener's last
proof is at most TRUST_SECONDS old. The session scripts publish on the same channel
(redis_scripts.py), so the epoch (`change_generation`) moves at every session write too.
Untrusted (Redis unreachable, silent or the connection lost), the standing is unknown (`None`):
the store then answers the durable standing alone, with no failures, so a success clears
nothing (stricter, never looser), while counting a new failure or reserving an attempt needs
Redis and fails closed (503).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from time import monotonic
from typing import Any, Final

from panelauth.backends import redis_failure_scripts as scripts
from panelauth.backends.barriers import Barriers
from panelauth.backends.redis_connect import number as _number
from panelauth.backends.redis_link import RedisLink
from panelauth.backends.redis_listener import ChangeListener
from panelauth.backends.sqlite_cache import MISSING, RecordCache
from panelauth.core.hulk import FAILING_USERS_SHOWN, Failure, Limits, Method
from panelauth.errors import StoreUnavailable

TRUST_SECONDS: Final = 1.0  # the cache answers only while the last proof is this recent
EXPIRY_MARGIN_SECONDS: Final = 60.0  # a set outlives the longest window by this much

# an address's standing on Redis: (failures within the lookback, the users they were for; None
# when more than FAILING_USERS_SHOWN)
Counted = tuple[int, frozenset[str] | None]
NOTHING: Final[Counted] = (0, frozenset())


class RedisFailureCounters:
    def __init__(self, link: RedisLink, *, cache_entries: int) -> None:
        self._link = link
        self._prefix = link.location.namespace
        self._scripts = {
            name: link.script(getattr(scripts, name))
            for name in ("RESERVE", "RECORD", "CLEAR", "UNBLOCK", "FLUSH")
        }
        self._cache: RecordCache[str, Counted] = RecordCache(cache_entries)
        self._caching = cache_entries > 0
        self._listener: ChangeListener | None = None
        self._listening = False
        self._proven_at = float("-inf")
        self._epoch = 0  # moves at every change: a read in flight across one is not cached
        self._barriers = Barriers()

    # -- the hot path -------------------------------------------------------------------------

    async def standing(self, address_key: str, since: float) -> Counted | None:
        """The address's failures after `since`, and whose; None: unknown (module doc)."""
        if self._caching:
            if self._listener is None:
                await self._start()
            if not self._trusted():
                return None
            cached = self._cache.get(address_key)
            if cached is not MISSING:
                return cached
        epoch = self._epoch
        key = self._key("address", address_key)
        try:
            found = await self._link.command(
                lambda: self._link.client.zrangebyscore(key, f"({_number(since)}", "+inf")
            )
            counted = _counted(found)
        except StoreUnavailable:
            return None
        if self._caching and epoch == self._epoch and self._trusted():
            self._cache.put(address_key, counted)
        return counted

    # -- counting -----------------------------------------------------------------------------

    async def reserve(self, failure: Failure, limits: Limits, *, per_user: bool) -> bool:
        """Record `failure` unless the address, or with `per_user` the account, has reached its
        limit within its window; False: refused, nothing recorded."""
        now = failure.at
        reply = await self._run(
            "RESERVE",
            _member(failure),
            _number(now),
            failure.address_key,
            failure.user_key,
            _number(now - limits.address_window),
            str(int(limits.address_limit)),
            _number(now - limits.user_window) if per_user else "",
            str(int(limits.user_limit)),
            _ttl_ms(limits),
        )
        return bool(reply == 1)

    async def record(
        self, failure: Failure, limits: Limits, *, recorded: bool
    ) -> tuple[int, int, int]:
        """Record `failure` (unless reserved already); (the address's failures within its window,
        within the lookback, the account's within its window)."""
        now = failure.at
        horizon = now - max(limits.brute_window, limits.address_window, limits.user_window)
        reply = await self._run(
            "RECORD",
            "" if recorded else _member(failure),
            _number(now),
            failure.address_key,
            failure.user_key,
            _number(now - limits.address_window),
            _number(now - limits.brute_window),
            _number(now - limits.user_window),
            _number(horizon),
            _ttl_ms(limits),
        )
        try:
            recent, remembered, user_failures = (int(count) for count in reply)
        except (TypeError, ValueError) as error:
            raise StoreUnavailable("an unexpected reply from the session store") from error
        return recent, remembered, user_failures

    async def clear(self, address_key: str, user_key: str) -> None:
        await self._run("CLEAR", address_key, user_key)

    async def unblock(self, address_keys: Sequence[str], user_keys: Sequence[str]) -> int:
        return int(await self._run("UNBLOCK", str(len(address_keys)), *address_keys, *user_keys))

    async def flush(self) -> int:
        return int(await self._run("FLUSH"))

    # -- the history --------------------------------------------------------------------------

    async def since(self, since: float, *, limit: int) -> list[Failure]:
        """Failures after `since`, newest first, `limit` at most."""
        if limit <= 0:
            return []
        key = self._key("failures")
        found = await self._link.command(
            lambda: self._link.client.zrevrangebyscore(
                key, "+inf", f"({_number(since)}", start=0, num=limit
            )
        )
        return [_failure(member) for member in found]

    async def addresses(self) -> list[tuple[str, str]]:
        """(address key, address) of every address with failures."""
        key = self._key("failures")
        found = await self._link.command(lambda: self._link.client.zrange(key, 0, -1))
        return sorted({(f.address_key, f.address) for f in map(_failure, found)})

    # -- the change signal --------------------------------------------------------------------

    async def aclose(self) -> None:
        listener, self._listener = self._listener, None
        self._caching = False
        if listener is not None:
            await listener.stop()

    async def _start(self) -> None:
        """At the first cached read: start listening, and wait for that (briefly)."""
        self._listener = ChangeListener(
            self._link.location,
            self._key("changed"),
            on_message=self._on_message,
            on_listening=self._on_listening,
            on_proof=self._on_proof,
            deadline_seconds=self._link.wait_seconds,
        )
        self._listener.start()
        await self._listener.first_attempt(self._link.wait_seconds)

    def change_generation(self) -> int | None:
        """The epoch, which moves at every change message (counts and sessions, own writes'
        included), at this node's own writes, and at every start or stop of the listener; None
        while the cache may not answer."""
        if not self._caching or not self._trusted():
            return None
        return self._epoch

    def _trusted(self) -> bool:
        return self._listening and monotonic() - self._proven_at <= TRUST_SECONDS

    def _on_message(self, payload: str) -> None:
        if not self._barriers.arrived(payload):
            self._changed()

    async def _caught_up(self, timeout: float = 5.0) -> bool:
        """Whether the listener got, within `timeout` seconds, every change published before
        the call: a barrier message of its own comes back after them. For tests that must
        not race a message. Without a listener (none started yet) nothing is cached: True."""
        if self._listener is None:
            return True
        channel = self._key("changed")

        async def send(token: str) -> None:
            await self._link.command(lambda: self._link.client.publish(channel, token))

        return await self._barriers.passed(send, timeout)

    def _on_listening(self, listening: bool) -> None:
        """Started or stopped: the cache starts empty either way (a message may have been lost)."""
        self._listening = listening and self._caching
        self._changed()

    def _on_proof(self, sent_at: float) -> None:
        self._proven_at = sent_at

    def changed_here(self) -> None:
        """This node wrote to Redis (a session): the epoch moves now, not when its message
        comes back over the channel."""
        self._changed()

    def _changed(self) -> None:
        self._epoch += 1
        self._cache.clear()

    # -- plumbing -----------------------------------------------------------------------------

    async def _run(self, script: str, *args: str) -> Any:
        """A write script; this worker's cache forgets at once (the others hear the channel),
        whether or not the reply came back."""
        try:
            return await self._link.evalsha(self._scripts[script], self._prefix, *args)
        finally:
            self._changed()

    def _key(self, *parts: str) -> str:
        return self._prefix + "hulk:" + ":".join(parts)


def _ttl_ms(limits: Limits) -> str:
    longest = max(limits.brute_window, limits.address_window, limits.user_window)
    return str(math.ceil((longest + EXPIRY_MARGIN_SECONDS) * 1000))


def _member(failure: Failure) -> str:
    """A failure as its sets hold it (redis_failure_scripts.py)."""
    return json.dumps(
        [
            secrets.token_hex(8),
            failure.address_key,
            failure.address,
            failure.user_key,
            failure.user,
            failure.service,
            failure.method.value,
            failure.at,
        ],
        separators=(",", ":"),
    )


def _failure(member: Any) -> Failure:
    try:
        _, address_key, address, user_key, user, service, method, at = json.loads(member)
        return Failure(
            str(address_key),
            str(address),
            str(user_key),
            str(user),
            str(service),
            Method(method),
            float(at),
        )
    except (TypeError, ValueError) as error:
        raise StoreUnavailable("an unreadable failure in the session store") from error


def _counted(members: Any) -> Counted:
    failures = [_failure(member) for member in members]
    if not failures:
        return NOTHING
    users = frozenset(f.user_key for f in failures)
    return len(failures), (users if len(users) <= FAILING_USERS_SHOWN else None)
