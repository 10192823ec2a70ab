"""A bounded in-memory cache of verified passwords, so repeated Basic auth costs what a token does.

Shape from the measurements in docs/benchmarks.md: only successes are cached; the key is
HMAC-SHA256(per-process pepper, user NUL password NUL stored-hash), so a password change (a new
stored hash) misses without any invalidation; the value is only an expiry time; nothing is
persisted. Suspension and every other check still run on each request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict

from panelauth.clock import Clock
from panelauth.secret import Secret


class CredentialCache:
    def __init__(self, clock: Clock, *, max_entries: int = 10_000, ttl_seconds: float = 300.0):
        self._clock = clock
        self._pepper = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds

    def _key(self, user: str, password: Secret, stored_hash: str) -> bytes:
        message = b"\0".join(
            (
                user.encode(),
                password.reveal().encode("utf-8", "surrogatepass"),
                stored_hash.encode(),
            )
        )
        return hmac.new(self._pepper, message, hashlib.sha256).digest()

    def contains(self, user: str, password: Secret, stored_hash: str) -> bool:
        if self._max_entries <= 0:
            return False
        key = self._key(user, password, stored_hash)
        expires = self._entries.get(key)
        if expires is None:
            return False
        if expires <= self._clock.now():
            del self._entries[key]
            return False
        self._entries.move_to_end(key)
        return True

    def add(self, user: str, password: Secret, stored_hash: str) -> None:
        if self._max_entries <= 0:
            return
        key = self._key(user, password, stored_hash)
        self._entries[key] = self._clock.now() + self._ttl
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
