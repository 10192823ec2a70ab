"""Password policy and argon2id hashing (PW-1, PW-2, PW-3, PW-4, PW-6)."""

from __future__ import annotations

import asyncio
import threading
from typing import Literal

import argon2
import pytest

from panelauth.core.passwords import (
    MIN_PASSWORD_CHARS,
    Argon2Parameters,
    HashingPool,
    PasswordHasher,
    VerifiedPassword,
    normalize_password,
    validate_new_password,
)
from panelauth.errors import InvalidArgument, Overloaded
from panelauth.secret import Secret
from tests.conftest import CHEAP_ARGON2

COMPOSED = "caf\u00e9-Passw0rd"  # é as one code point (NFC)
DECOMPOSED = "cafe\u0301-Passw0rd"  # e + combining acute (NFD)


HASHER = PasswordHasher(CHEAP_ARGON2)
STORED = HASHER.hash("correct-horse")


@pytest.fixture
def hasher() -> PasswordHasher:
    return HASHER


@pytest.fixture
def stored() -> str:
    return STORED


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hash argon2-cffi is asked to verify against, from hashers built in this test."""
    verified: list[str] = []

    class CountingArgon2(argon2.PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(hash if isinstance(hash, str) else hash.decode())
            return super().verify(hash, password)

    monkeypatch.setattr(argon2, "PasswordHasher", CountingArgon2)
    return verified


# -- policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["x" * MIN_PASSWORD_CHARS, "x" * 64, "p" * 4096, "\u20ac" * 1365, "  spaced  ", "P:a;s'\"s"],
)
def test_accepts_passwords_within_the_policy(password: str) -> None:
    assert validate_new_password(password) == password


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("", "at least 8"),
        ("x" * (MIN_PASSWORD_CHARS - 1), "at least 8"),
        ("e\u0301" * 4, "at least 8"),  # 8 code points, but 4 after NFC
        ("p" * 4097, "at most 4096 bytes"),
        ("\u20ac" * 1366, "at most 4096 bytes"),
        ("password\n", "control characters"),
        ("pass\x00word", "control characters"),
        ("pass\x7fword", "control characters"),
        ("\tpassword", "control characters"),
    ],
)
def test_rejects_passwords_outside_the_policy(password: str, rule: str) -> None:
    with pytest.raises(InvalidArgument, match=rule):
        validate_new_password(password)


def test_new_passwords_are_nfc_normalised_not_trimmed_or_folded() -> None:
    assert validate_new_password(DECOMPOSED) == COMPOSED
    assert normalize_password(DECOMPOSED) == COMPOSED
    assert validate_new_password(" MiXeD-case ") == " MiXeD-case "


# -- hashing ------------------------------------------------------------------------------------


def test_hash_is_argon2id_with_the_configured_parameters(stored: str) -> None:
    assert stored.startswith("$argon2id$v=19$m=256,t=1,p=1$")


def test_hashes_use_a_fresh_salt_each_time(hasher: PasswordHasher) -> None:
    first, second = hasher.hash("same-password"), hasher.hash("same-password")
    assert first != second
    salt = first.split("$")[4]
    assert len(salt) >= 22  # base64 of at least 16 bytes (128 bits, PW-1)


def test_verifies_the_right_password(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.verify(stored, "correct-horse") == VerifiedPassword(True, False)


@pytest.mark.parametrize(
    "attempt", ["wrong", "", "Correct-horse", "correct-horse ", " correct-horse", "correct-hors"]
)
def test_rejects_any_other_password(hasher: PasswordHasher, stored: str, attempt: str) -> None:
    assert hasher.verify(stored, attempt) == VerifiedPassword(False)


def test_verify_applies_nfc_like_set(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash(COMPOSED), DECOMPOSED).ok
    assert hasher.verify(hasher.hash(DECOMPOSED), COMPOSED).ok


@pytest.mark.parametrize(
    "record",
    [
        "",
        "!",
        "*",
        "!!",
        "!" + STORED,  # locked by prefix, as passwd(5) does: the right password must not verify
        "*" + STORED,
        STORED[:-6],  # truncated
        STORED.replace("argon2id", "argon2x"),
        "$argon2id$",
        "$argon2id$v=19$m=256,t=1,p=1$abc",
        "$argon2",
        "$6$saltsalt$" + "h" * 86,  # sha512-crypt
        "$2b$12$" + "a" * 53,  # bcrypt
        "$1$salt$hash",
        "correct-horse",  # a plain-text record is not a hash
    ],
)
def test_locked_and_foreign_records_never_verify_and_never_raise(
    hasher: PasswordHasher, record: str
) -> None:
    assert hasher.verify(record, "correct-horse") == VerifiedPassword(False)
    assert hasher.verify(record, record) == VerifiedPassword(False)


@pytest.mark.parametrize("record", ["", "!", "*", "$6$salt$hash"])
def test_locked_records_still_cost_one_argon2_verification(
    counting: list[str], record: str
) -> None:
    hasher = PasswordHasher(CHEAP_ARGON2)
    assert hasher.verify(record, "whatever") == VerifiedPassword(False)
    assert counting == [hasher.dummy_hash]


def test_real_records_cost_exactly_one_argon2_verification(counting: list[str]) -> None:
    hasher = PasswordHasher(CHEAP_ARGON2)
    record = hasher.hash("correct-horse")
    hasher.verify(record, "wrong")
    assert counting == [record]


@pytest.mark.parametrize(
    "newer",
    [
        Argon2Parameters(time_cost=2, memory_cost_kib=256, parallelism=1),
        Argon2Parameters(time_cost=1, memory_cost_kib=512, parallelism=1),
        Argon2Parameters(time_cost=1, memory_cost_kib=256, parallelism=2),
    ],
)
def test_asks_for_rehash_when_parameters_change(stored: str, newer: Argon2Parameters) -> None:
    assert PasswordHasher(newer).verify(stored, "correct-horse") == VerifiedPassword(True, True)


def test_no_rehash_for_a_wrong_password_under_new_parameters(stored: str) -> None:
    newer = PasswordHasher(Argon2Parameters(time_cost=2, memory_cost_kib=256, parallelism=1))
    assert newer.verify(stored, "wrong") == VerifiedPassword(False, False)


def test_dummy_hash_uses_the_current_parameters(hasher: PasswordHasher) -> None:
    assert hasher.dummy_hash.startswith("$argon2id$v=19$m=256,t=1,p=1$")


def test_default_parameters_are_the_owasp_baseline() -> None:
    assert Argon2Parameters() == Argon2Parameters(time_cost=2, memory_cost_kib=19456, parallelism=1)


# -- the pool -----------------------------------------------------------------------------------


async def test_pool_hashes_strings_and_secrets(pool: HashingPool) -> None:
    for password in ("plain-Passw0rd", Secret("secret-Passw0rd")):
        record = await pool.hash(password)
        plain = password.reveal() if isinstance(password, Secret) else password
        assert (await pool.verify(record, Secret(plain))).ok


async def test_pool_never_verifies_a_missing_record(pool: HashingPool) -> None:
    assert await pool.verify(None, Secret("anything")) == VerifiedPassword(False)
    # even the dummy hash's own password gets no access
    assert await pool.verify(None, Secret("panelauth-dummy-password")) == VerifiedPassword(False)


async def test_pool_checks_missing_records_against_the_dummy_hash(counting: list[str]) -> None:
    pool = HashingPool(PasswordHasher(CHEAP_ARGON2), threads=1)
    try:
        await pool.verify(None, Secret("anything"))
        assert counting == [pool.hasher.dummy_hash]
    finally:
        pool.close()


class GatedHasher(PasswordHasher):
    """Hashing blocks until the test releases it, so a slot stays busy without sleeping."""

    def __init__(self) -> None:
        super().__init__(CHEAP_ARGON2)
        self.started = threading.Event()
        self.release = threading.Event()

    def hash(self, password: str) -> str:
        self.started.set()
        self.release.wait(timeout=10)
        return super().hash(password)


async def test_pool_answers_overloaded_when_the_queue_is_full() -> None:
    hasher = GatedHasher()
    pool = HashingPool(hasher, threads=1, max_pending=1)
    try:
        first = asyncio.ensure_future(pool.hash("first-Passw0rd"))
        assert await asyncio.get_running_loop().run_in_executor(None, hasher.started.wait, 10)
        with pytest.raises(Overloaded):
            await pool.hash("second-Passw0rd")
        with pytest.raises(Overloaded):
            await pool.verify(None, Secret("x"))
        hasher.release.set()
        assert (await first).startswith("$argon2id$")
        assert (await pool.verify(None, Secret("x"))) == VerifiedPassword(False)  # slot freed
    finally:
        hasher.release.set()
        pool.close()


async def test_pool_with_no_room_refuses_at_once() -> None:
    pool = HashingPool(PasswordHasher(CHEAP_ARGON2), threads=1, max_pending=0)
    try:
        with pytest.raises(Overloaded):
            await pool.hash("some-Passw0rd")
    finally:
        pool.close()


class FailingHasher(PasswordHasher):
    def hash(self, password: str) -> str:
        raise RuntimeError("boom")


async def test_pool_frees_its_slot_when_hashing_fails() -> None:
    pool = HashingPool(FailingHasher(CHEAP_ARGON2), threads=1, max_pending=1)
    try:
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await pool.hash("some-Passw0rd")
        assert not (await pool.verify(None, Secret("x"))).ok
    finally:
        pool.close()


def test_overloaded_is_a_503_with_retry_after() -> None:
    assert (Overloaded.status, Overloaded.retry_after_seconds) == (503, 2)
