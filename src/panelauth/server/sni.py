"""Plugin certificates on the TLS ports: a per-worker cache of SSL contexts by server name.

Python calls the SNI callback synchronously inside the handshake, so it cannot await the
plugins' certificate source (extension/hooks.py). The callback therefore only picks from this
cache: a name with a fresh entry gets its context (or, when the source had nothing, the
default certificate); a name not known yet, or whose entry went stale, is looked up in the
background while this handshake goes on with the default certificate (a stale context keeps
being served until its refresh lands). What an install changes reaches every worker and node
by the entries' expiry: `POSITIVE_TTL` for a name that has a certificate, `NEGATIVE_TTL` for
one that had none (docs/ssl.md, "Serving by SNI").

Server names are the client's to choose, so nothing about them is unbounded: a name that is
not a host name is never looked up, the cache keeps at most `MAX_ENTRIES` names (least recently
used leave first), at most `MAX_IN_FLIGHT` lookups run at once and at most `LOOKUPS_PER_SECOND`
start each second. Past those limits a name simply gets the default certificate for now.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from panelauth.extension.hooks import CertificateSource
from panelauth.protocol.hostnames import host_name
from panelauth.server.tls import context_from_pem

log = logging.getLogger(__name__)

POSITIVE_TTL: Final = 10.0
NEGATIVE_TTL: Final = 3.0
MAX_ENTRIES: Final = 1024
MAX_IN_FLIGHT: Final = 8
LOOKUPS_PER_SECOND: Final = 50


@dataclass(slots=True)
class _Entry:
    context: ssl.SSLContext | None  # None: the source has no certificate for the name
    digest: bytes  # of the PEM pair, so an unchanged refresh reuses the context
    expires: float


class SniCache:
    """The contexts by server name for one worker's TLS listeners; `select` is the SNI
    callback (`attach` sets it on the default context)."""

    def __init__(
        self,
        source: CertificateSource,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
        positive_ttl: float = POSITIVE_TTL,
        negative_ttl: float = NEGATIVE_TTL,
    ) -> None:
        self._source = source
        self._monotonic = monotonic
        self._max_entries = max_entries
        self._positive_ttl = positive_ttl
        self._negative_ttl = negative_ttl
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._budget_second = 0
        self._budget_used = 0

    def attach(self, default: ssl.SSLContext) -> None:
        default.sni_callback = self.select

    def select(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        """The SNI callback: switch the connection to the name's context if one is cached,
        and start a lookup for a name unknown or stale. Never raises: a failure here would
        abort the handshake."""
        name = host_name(server_name)
        if name is None:
            return None
        entry = self._entries.get(name)
        now = self._monotonic()
        if entry is not None:
            self._entries.move_to_end(name)
        if entry is None or entry.expires <= now:
            self._look_up(name)
        if entry is not None and entry.context is not None:
            connection.context = entry.context
        return None

    async def lookup(self, name: str) -> None:
        """Ask the source for `name` and cache the answer (also what tests await)."""
        try:
            pair = await self._source(name)
        except Exception:  # the source logs plugin failures; a store failure lands here
            log.warning("certificate lookup for a server name failed", exc_info=True)
            pair = None
        previous = self._entries.get(name)
        if pair is None:
            self._store(name, _Entry(None, b"", self._monotonic() + self._negative_ttl))
            return
        chain_pem, key_pem = pair
        digest = hashlib.sha256(f"{chain_pem}\0{key_pem}".encode()).digest()
        if previous is not None and previous.digest == digest and previous.context is not None:
            context: ssl.SSLContext | None = previous.context
        else:
            context = _context_or_none(name, chain_pem, key_pem)
        ttl = self._positive_ttl if context is not None else self._negative_ttl
        self._store(name, _Entry(context, digest, self._monotonic() + ttl))

    def _look_up(self, name: str) -> None:
        if name in self._in_flight or len(self._in_flight) >= MAX_IN_FLIGHT:
            return
        second = int(self._monotonic())
        if second != self._budget_second:
            self._budget_second, self._budget_used = second, 0
        if self._budget_used >= LOOKUPS_PER_SECOND:
            return
        self._budget_used += 1
        try:
            task = asyncio.get_running_loop().create_task(self.lookup(name))
        except RuntimeError:  # no loop running (never in a listener's handshake)
            return
        self._in_flight[name] = task
        task.add_done_callback(lambda _: self._in_flight.pop(name, None))

    def _store(self, name: str, entry: _Entry) -> None:
        self._entries[name] = entry
        self._entries.move_to_end(name)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def _context_or_none(name: str, chain_pem: str, key_pem: str) -> ssl.SSLContext | None:
    try:
        return context_from_pem(chain_pem, key_pem)
    except (ssl.SSLError, ValueError, OSError):
        # never the PEM in the log: it holds the key
        log.error("the certificate a plugin gave for %s cannot be loaded", name)
        return None
