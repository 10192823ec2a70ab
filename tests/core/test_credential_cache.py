"""The verified-password cache: keyed on the stored hash, TTL-bounded, LRU-bounded."""

from __future__ import annotations

import pytest

from panelauth.clock import FrozenClock
from panelauth.core.credential_cache import CredentialCache
from panelauth.secret import Secret

HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdA$aGFzaA"
OTHER_HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdDI$aGFzaDI"
PASSWORD = Secret("bob-Passw0rd!")


@pytest.fixture
def cache(clock: FrozenClock) -> CredentialCache:
    return CredentialCache(clock, max_entries=3, ttl_seconds=300.0)


def test_misses_when_empty(cache: CredentialCache) -> None:
    assert not cache.contains("bob", PASSWORD, HASH)
    assert len(cache) == 0


def test_hits_after_add(cache: CredentialCache) -> None:
    cache.add("bob", PASSWORD, HASH)
    assert cache.contains("bob", Secret("bob-Passw0rd!"), HASH)
    assert len(cache) == 1


@pytest.mark.parametrize(
    ("user", "password", "stored_hash"),
    [
        ("carol", PASSWORD, HASH),
        ("bob", Secret("bob-Passw0rd"), HASH),
        ("bob", Secret("BOB-Passw0rd!"), HASH),
        ("bob", Secret("bob-Passw0rd! "), HASH),
        ("bob", PASSWORD, OTHER_HASH),  # a new stored hash (password change) misses
        ("Bob", PASSWORD, HASH),
    ],
)
def test_key_covers_user_password_and_stored_hash(
    cache: CredentialCache, user: str, password: Secret, stored_hash: str
) -> None:
    cache.add("bob", PASSWORD, HASH)
    assert not cache.contains(user, password, stored_hash)


def test_fields_cannot_be_shifted_across_the_separator(cache: CredentialCache) -> None:
    cache.add("bob", Secret("pw"), HASH)
    assert not cache.contains("bobpw", Secret(""), HASH)
    assert not cache.contains("bob", Secret("pw" + HASH), "")


def test_entry_lives_until_its_ttl(cache: CredentialCache, clock: FrozenClock) -> None:
    cache.add("bob", PASSWORD, HASH)
    clock.advance(299.999)
    assert cache.contains("bob", PASSWORD, HASH)


def test_entry_expires_at_its_ttl_and_is_dropped(
    cache: CredentialCache, clock: FrozenClock
) -> None:
    cache.add("bob", PASSWORD, HASH)
    clock.advance(300.0)
    assert not cache.contains("bob", PASSWORD, HASH)
    assert len(cache) == 0


def test_hits_do_not_extend_the_lifetime(cache: CredentialCache, clock: FrozenClock) -> None:
    cache.add("bob", PASSWORD, HASH)
    clock.advance(200)
    assert cache.contains("bob", PASSWORD, HASH)
    clock.advance(100)
    assert not cache.contains("bob", PASSWORD, HASH)


def test_adding_again_renews_the_lifetime(cache: CredentialCache, clock: FrozenClock) -> None:
    cache.add("bob", PASSWORD, HASH)
    clock.advance(200)
    cache.add("bob", PASSWORD, HASH)
    clock.advance(200)
    assert cache.contains("bob", PASSWORD, HASH)
    assert len(cache) == 1


def test_a_clock_jumping_back_never_revives_an_expired_entry(
    cache: CredentialCache, clock: FrozenClock
) -> None:
    cache.add("bob", PASSWORD, HASH)
    clock.advance(301)
    assert not cache.contains("bob", PASSWORD, HASH)
    clock.advance(-301)
    assert not cache.contains("bob", PASSWORD, HASH)


def test_evicts_the_oldest_entry_beyond_the_bound(cache: CredentialCache) -> None:
    for user in ("a", "b", "c", "d"):
        cache.add(user, PASSWORD, HASH)
    assert len(cache) == 3
    assert not cache.contains("a", PASSWORD, HASH)
    assert all(cache.contains(user, PASSWORD, HASH) for user in ("b", "c", "d"))


def test_a_hit_makes_an_entry_most_recently_used(cache: CredentialCache) -> None:
    for user in ("a", "b", "c"):
        cache.add(user, PASSWORD, HASH)
    assert cache.contains("a", PASSWORD, HASH)
    cache.add("d", PASSWORD, HASH)
    assert not cache.contains("b", PASSWORD, HASH)
    assert all(cache.contains(user, PASSWORD, HASH) for user in ("a", "c", "d"))


def test_re_adding_makes_an_entry_most_recently_used(cache: CredentialCache) -> None:
    for user in ("a", "b", "c"):
        cache.add(user, PASSWORD, HASH)
    cache.add("a", PASSWORD, HASH)
    cache.add("d", PASSWORD, HASH)
    assert cache.contains("a", PASSWORD, HASH)
    assert not cache.contains("b", PASSWORD, HASH)


@pytest.mark.parametrize("max_entries", [0, -1])
def test_a_zero_bound_disables_the_cache(clock: FrozenClock, max_entries: int) -> None:
    disabled = CredentialCache(clock, max_entries=max_entries)
    disabled.add("bob", PASSWORD, HASH)
    assert not disabled.contains("bob", PASSWORD, HASH)
    assert len(disabled) == 0


def test_clear_forgets_everything(cache: CredentialCache) -> None:
    cache.add("a", PASSWORD, HASH)
    cache.add("b", PASSWORD, HASH)
    cache.clear()
    assert len(cache) == 0
    assert not cache.contains("a", PASSWORD, HASH)


def test_each_cache_has_its_own_pepper(clock: FrozenClock) -> None:
    first, second = CredentialCache(clock), CredentialCache(clock)
    first.add("bob", PASSWORD, HASH)
    second.add("bob", PASSWORD, HASH)
    assert first._entries.keys() != second._entries.keys()  # keys are peppered HMACs


def test_keys_hold_no_password(cache: CredentialCache) -> None:
    cache.add("bob", PASSWORD, HASH)
    (key,) = cache._entries
    assert len(key) == 32
    assert PASSWORD.reveal().encode() not in key


def test_accepts_passwords_that_are_not_valid_utf8(cache: CredentialCache) -> None:
    odd = Secret("pw\ud800")
    cache.add("bob", odd, HASH)
    assert cache.contains("bob", odd, HASH)
    assert not cache.contains("bob", Secret("pw\ud801"), HASH)


def test_defaults_are_ten_thousand_entries_for_five_minutes(clock: FrozenClock) -> None:
    cache = CredentialCache(clock)
    for index in range(10_001):
        cache.add(f"u{index}", PASSWORD, HASH)
    assert len(cache) == 10_000
    assert not cache.contains("u0", PASSWORD, HASH)
    clock.advance(300)
    assert not cache.contains("u10000", PASSWORD, HASH)
