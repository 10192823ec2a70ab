"""A per-worker memo of request credentials that passed every check, so that the same
credential from the same address is not decided again on every request: an `Authorization`
header (Basic, a `whm` or `cpanel` token, the access hash), or a session cookie with its
`/cpsess` token.

The authenticator chain (core/authentication.py) asks it first for a request without
`X-CPANEL-OTP`, and tells it of each such success that went the whole way: brute-force admission,
the credential or session, suspension, the second factor's requirement, and the guard's
settlement. A hit skips all of that; the gateway's rules before it and the token-scope check and
logs after it run on every request as before. An entry answers only while nothing it was
decided from can have changed:

* the store's change generation is the one it was read at before the decision
  (`ChangeGeneration`, core/stores.py): any write of any worker, node or the command line to an
  account, token, mailbox, session, second factor, brute-force count, block, list or setting
  moves it, so a revocation, suspension, password change, logout or new block is seen at the
  next request exactly as the records' own caches see it (a split store's sessions on Redis
  through its change channel); a store that cannot say (no cache, a change listener that is
  down) returns None, and nothing is remembered;
* the shared settings in force are the same object (`SharedSource.value`, re-read every second:
  the access hash switch, the two-factor policy, session lifetimes and address validation);
* the decision's own deadline has not passed: the token's expiry, the day after which root's
  known address must be marked again (core/bruteforce.py), the session's expiry or the moment
  its last use is due to be written, and at most `ttl_seconds`.

A code (`X-CPANEL-OTP`) is spent once, so a request that sends one is always decided in full and
never remembered. Keys are keyed BLAKE2b digests of (service, address, credential) under a
per-process random key, like the credential cache's: no secret is held as itself, and nothing is
persisted. Bounded: when full, the memo starts empty.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Final, Protocol

from panelauth.clock import Clock
from panelauth.core.models import Identity
from panelauth.core.shared_settings import SharedSettings, SharedSource
from panelauth.core.stores import ChangeGeneration, Generation
from panelauth.protocol.authorization import BasicCredentials, Credentials, Scheme
from panelauth.protocol.services import Service

DEFAULT_TTL_SECONDS: Final = 5.0


class HeaderAttempt(Protocol):
    """What the memo reads of a request (core/authentication.py's AuthFacts extends it); the
    cookies and /cpsess token are read only without an Authorization header."""

    @property
    def service(self) -> Service: ...
    @property
    def client_address(self) -> str: ...
    # the Authorization header, parsed once: credentials, or None (none, or malformed)
    @property
    def credentials(self) -> Credentials | None: ...
    @property
    def cookies(self) -> Sequence[str]: ...  # this service's session cookie values
    @property
    def security_token(self) -> str | None: ...  # the supplied /cpsess segment (w§6)


class Ticket:
    """A lookup that missed: what a success must be remembered under, read before deciding."""

    __slots__ = ("generation", "key", "shared")

    def __init__(self, key: bytes, generation: Generation, shared: SharedSettings) -> None:
        self.key, self.generation, self.shared = key, generation, shared


class VerifiedHeaders:
    def __init__(
        self,
        store: ChangeGeneration,
        shared: SharedSource,
        clock: Clock,
        *,
        max_entries: int = 10_000,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self._store, self._shared, self._clock = store, shared, clock
        # keyed once; each key is a copy of it fed the request's material (cheaper than keying)
        self._keyed = hashlib.blake2b(key=secrets.token_bytes(32), digest_size=32)
        self._max_entries = max(0, max_entries)
        self._ttl = ttl_seconds
        # key -> (identity, generation, shared settings, proven until)
        self._entries: dict[bytes, tuple[Identity, Generation, SharedSettings, float]] = {}

    def lookup(self, attempt: HeaderAttempt) -> Identity | Ticket | None:
        """The identity an equal header from the same address proved while nothing it was
        decided from has changed; else a Ticket to `remember` a success under; None when
        nothing may be remembered now (the store cannot say what changed, or the memo is off)."""
        if self._max_entries == 0:
            return None
        material = _material(attempt)
        if material is None:
            return None
        generation = self._store.change_generation()
        if generation is None:
            return None
        shared = self._shared.value
        digest = self._keyed.copy()
        digest.update(material.encode("utf-8", "surrogatepass"))
        key = digest.digest()
        entry = self._entries.get(key)
        if entry is not None:
            identity, decided_at, decided_with, until = entry
            if decided_at == generation and decided_with is shared and self._clock.now() < until:
                return identity
            del self._entries[key]
        return Ticket(key, generation, shared)

    def remember(self, ticket: Ticket, identity: Identity, proven_until: float) -> None:
        """A success decided in full after `ticket` was taken, good until `proven_until`."""
        until = min(proven_until, self._clock.now() + self._ttl)
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[ticket.key] = (identity, ticket.generation, ticket.shared, until)

    def __len__(self) -> int:
        return len(self._entries)


def _material(attempt: HeaderAttempt) -> str | None:
    """What a request proves with, and where: service, address and the credential (an
    Authorization header, else the session cookies with the /cpsess token); None: nothing."""
    credentials = attempt.credentials
    where = f"{attempt.service.value}\0{attempt.client_address}\0"
    if credentials is None:
        cookies = attempt.cookies
        if not cookies:
            return None
        token = attempt.security_token
        # every part's length first: no part can borrow another's characters (NUL included)
        head = f"{where}session\0{'-' if token is None else f'{len(token)}:{token}'}"
        return "\0".join([head, *(f"{len(cookie)}:{cookie}" for cookie in cookies)])
    if isinstance(credentials, BasicCredentials):
        scheme, secret = Scheme.BASIC, credentials.password
    else:
        scheme, secret = credentials.scheme, credentials.secret
    user = credentials.user
    return f"{where}{scheme.value}\0{len(user)}:{user}\0{secret.reveal()}"
