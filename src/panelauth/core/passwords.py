"""Password policy and hashing: argon2id (argon2-cffi), never on the event loop thread.

* PW-1: argon2id with a per-hash random salt; parameters configurable, rehash on change.
* PW-2: NFC at set and verify; nothing truncated, trimmed or case-folded.
* PW-3: an empty, locked or unknown-format hash never verifies and never raises.
* PW-4: unknown users are verified against a dummy hash, so timing reveals nothing.
* PW-6: a bounded pool; a full queue answers "overloaded" instead of starving everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from panelauth.errors import InvalidArgument, Overloaded
from panelauth.protocol.authorization import MAX_PASSWORD_BYTES, has_control_characters
from panelauth.secret import Secret

MIN_PASSWORD_CHARS = 8
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    # OWASP's argon2id baseline (19 MiB, t=2, p=1): about 20 ms here, memory-hard
    time_cost: int = 2
    memory_cost_kib: int = 19456
    parallelism: int = 1


def normalize_password(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def validate_new_password(password: str) -> str:
    """The normalised password, or InvalidArgument naming the rule it breaks."""
    if has_control_characters(password):
        raise InvalidArgument("The password must not contain control characters.")
    normalized = normalize_password(password)
    if len(normalized) < MIN_PASSWORD_CHARS:
        raise InvalidArgument(f"The password must be at least {MIN_PASSWORD_CHARS} characters.")
    if len(normalized.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidArgument(f"The password must be at most {MAX_PASSWORD_BYTES} bytes.")
    return normalized


@dataclass(frozen=True, slots=True)
class VerifiedPassword:
    ok: bool
    needs_rehash: bool = False


class PasswordHasher:
    """Synchronous argon2id hashing; call it through HashingPool on a server."""

    def __init__(self, parameters: Argon2Parameters | None = None) -> None:
        p = parameters or Argon2Parameters()
        self._hasher = argon2.PasswordHasher(
            time_cost=p.time_cost,
            memory_cost=p.memory_cost_kib,
            parallelism=p.parallelism,
            type=argon2.Type.ID,
        )
        self.dummy_hash = self._hasher.hash("panelauth-dummy-password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    def verify(self, stored_hash: str, password: str) -> VerifiedPassword:
        if not stored_hash.startswith("$argon2"):
            # locked ("!", "*"), empty or foreign records: spend the same time, never verify
            self._verify_dummy(password)
            return VerifiedPassword(False)
        try:
            self._hasher.verify(stored_hash, normalize_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return VerifiedPassword(False)
        return VerifiedPassword(True, self._hasher.check_needs_rehash(stored_hash))

    def _verify_dummy(self, password: str) -> None:
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self.dummy_hash, normalize_password(password))


class HashingPool:
    """Runs hashing in worker threads (argon2 releases the GIL), with a bounded queue."""

    def __init__(self, hasher: PasswordHasher, *, threads: int = 2, max_pending: int = 64) -> None:
        self.hasher = hasher
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hash")
        self._max_pending = max_pending
        self._pending = 0

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        if self._pending >= self._max_pending:
            raise Overloaded()
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, function, *args)
        finally:
            self._pending -= 1

    async def hash(self, password: Secret | str) -> str:
        plain = password.reveal() if isinstance(password, Secret) else password
        return await self._run(self.hasher.hash, plain)

    async def verify(self, stored_hash: str | None, password: Secret) -> VerifiedPassword:
        """Verify; a missing record is checked against the dummy hash (PW-4)."""
        target = stored_hash if stored_hash is not None else self.hasher.dummy_hash
        result = await self._run(self.hasher.verify, target, password.reveal())
        return result if stored_hash is not None else VerifiedPassword(False)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
