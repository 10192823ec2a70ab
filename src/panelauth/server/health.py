"""`/healthz` and `/readyz` on every port, for load balancers (w§1.7).

The gateway asks `probe_of` first, before any rule, credential, counter or log but the access
log: a probe never authenticates, never counts, and `require_ssl` does not apply to it.

* `/healthz`: the process answers. No store call, no template: 200 `{"status":"ok"}`.
* `/readyz`: the store answers. One `schema_version()` round trip (it reads the database) within
  `READY_TIMEOUT`: 200 `{"status":"ready"}`, else 503 `{"status":"unavailable"}` with
  `Retry-After`. Its result is kept `READY_TTL` seconds and concurrent probes share one round
  trip, so a worker makes at most one readiness call per second whatever the probe rate. The
  schema version itself is not judged: `open_store` checked it at start, and a newer node
  migrating during a rolling upgrade must not drain the older ones. (SQLite runs inline on the
  event loop: the bound cuts a network backend's call short, a SQLite call ends when SQLite
  returns, within its busy timeout.)
* Draining: once `drain()` is called (the worker is stopping; the stop sequence in listeners.py
  does not call it yet, w§1.7), `/readyz` answers 503 `{"status":"draining"}` without a store
  call, and `/healthz` still answers 200.

One `Health` per store, hence per worker: the six gateways of a worker share it (`for_store`).
The bodies name no address, store, exception or secret; why a check failed goes to the app log,
once per change of state.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import weakref
from collections.abc import Callable

from aiohttp import web

from panelauth.core.stores import StoreLifecycle
from panelauth.errors import StoreUnavailable
from panelauth.protocol.paths import parse_path
from panelauth.server import responses

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0  # seconds a store round trip may take before the node is not ready
READY_TTL = 1.0  # seconds a readiness result is reused: at most one store call a second
ALLOW = "GET, HEAD"


class Probe(enum.Enum):
    LIVE = "/healthz"
    READY = "/readyz"


_PROBES: dict[tuple[str, ...], Probe] = {("healthz",): Probe.LIVE, ("readyz",): Probe.READY}


def probe_of(raw_path: str) -> Probe | None:
    """The probe a request path names, or None. The query is ignored; the path is the
    normalised one (w§1.6), exactly one segment, without a `/cpsessN` prefix: `/healthz/x` and
    `/cpsess0123456789/healthz` are ordinary paths. Raises BadPath as `parse_path` does."""
    path = parse_path(raw_path.partition("?")[0])
    if path.security_token is not None:
        return None
    return _PROBES.get(path.segments)


class Health:
    """The answers to the probes of one worker, and its readiness cache."""

    def __init__(
        self,
        store: StoreLifecycle,
        *,
        timeout: float = READY_TIMEOUT,
        ttl: float = READY_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._timeout = timeout
        self._ttl = ttl
        self._monotonic = monotonic
        self._draining = False
        self._ready: bool | None = None  # the last result; None before the first check
        self._fresh_until = 0.0
        self._check: asyncio.Task[bool] | None = None  # the round trip in flight, shared

    @classmethod
    def for_store(cls, store: StoreLifecycle) -> Health:
        """The worker's one `Health` for `store`, made at its first use."""
        health = _SHARED.get(store)
        if health is None:
            health = _SHARED[store] = cls(store)
        return health

    @property
    def draining(self) -> bool:
        return self._draining

    def drain(self) -> None:
        """The worker is stopping: `/readyz` answers 503 from now on, so balancers move away."""
        if not self._draining:
            log.info("draining: /readyz answers 503 from now on")
        self._draining = True

    async def answer(self, probe: Probe, method: str) -> web.Response:
        """The whole answer to a probe (HEAD: aiohttp sends the headers only)."""
        if method not in ("GET", "HEAD"):
            response = responses.text_response(405, "Method Not Allowed")
            response.headers["Allow"] = ALLOW
            return response
        if probe is Probe.LIVE:
            return responses.json_response(200, {"status": "ok"})
        if await self.ready():
            return responses.json_response(200, {"status": "ready"})
        status = "draining" if self._draining else "unavailable"
        response = responses.json_response(503, {"status": status})
        response.headers["Retry-After"] = str(StoreUnavailable.retry_after_seconds)
        return response

    async def ready(self) -> bool:
        """Whether the store answers and the worker is not draining; at most one store call
        per `ttl` seconds, shared by every probe that arrives while it is in flight."""
        if self._draining:
            return False
        check = self._check
        if check is None:
            now = self._monotonic()
            if self._ready is not None and now < self._fresh_until:
                return self._ready
            self._fresh_until = now + self._ttl  # counted from the start: one call per ttl
            check = self._check = asyncio.create_task(self._round_trip())
        # shielded: a probe whose client went away does not cancel the others' round trip
        ready = await asyncio.shield(check)
        return ready and not self._draining

    async def _round_trip(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.schema_version()
            ready = True
        except TimeoutError:
            ready = False
            self._changed(ready, f"the store did not answer within {self._timeout:g} s")
        except Exception as error:  # a backend's own error counts as "not ready" too
            ready = False
            self._changed(ready, str(error) or type(error).__name__)
        else:
            self._changed(ready, "the store answers")
        finally:
            self._check = None
        self._ready = ready
        return ready

    def _changed(self, ready: bool, why: str) -> None:
        """One app-log line when readiness changes (never the first success)."""
        if ready == self._ready or (ready and self._ready is None):
            return
        if ready:
            log.info("ready again: %s", why)
        else:
            log.warning("not ready: %s", why)


# a worker's store -> its Health (a test process holds several stores, one per server)
_SHARED: weakref.WeakKeyDictionary[StoreLifecycle, Health] = weakref.WeakKeyDictionary()
