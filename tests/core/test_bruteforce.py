"""core/bruteforce.py: the guard every pathway passes (w§19; BF-1..BF-10), on a real store."""

from __future__ import annotations

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.bruteforce import BLOCKED, BruteForceGuard, Gate
from panelauth.core.bruteforce_admin import BruteForceAdmin
from panelauth.core.hulk import DAY, ListName, Method, address_key, user_key
from panelauth.errors import (
    AuthenticationFailed,
    MailboxPasswordIncorrect,
    Overloaded,
    StoreUnavailable,
    TwoFactorFailed,
)

ADDRESS = "203.0.113.7"
MINUTES = 60.0


@pytest.fixture
def guard(store: SqliteStore, clock: FrozenClock) -> BruteForceGuard:
    return BruteForceGuard(store, clock)


@pytest.fixture
def admin(store: SqliteStore, clock: FrozenClock) -> BruteForceAdmin:
    return BruteForceAdmin(store, clock)


async def guess(
    guard: BruteForceGuard,
    address: str = ADDRESS,
    user: str = "bob",
    *,
    method: Method = Method.PASSWORD,
    reserve: bool = True,
) -> None:
    """One wrong credential, as an authenticator reports it."""
    with pytest.raises(AuthenticationFailed) as raised:
        async with guard.attempt(address, user, "cpaneld", method) as gate:
            if reserve:
                await gate.reserve()
            raise AuthenticationFailed("user password incorrect", claimed_user=user)
    assert raised.value.detail == "user password incorrect", "the attempt was refused"


async def succeed(
    guard: BruteForceGuard,
    address: str = ADDRESS,
    user: str = "bob",
    *,
    method: Method = Method.PASSWORD,
    reserve: bool = True,
) -> None:
    async with guard.attempt(address, user, "cpaneld", method) as gate:
        if reserve:
            await gate.reserve()


async def refused(
    guard: BruteForceGuard,
    address: str = ADDRESS,
    user: str = "bob",
    method: Method = Method.PASSWORD,
) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as raised:
        await guard.admit(address, user, method)
    error = raised.value
    assert (error.detail, error.counted, error.claimed_user) == (BLOCKED, False, user)
    return error


async def admitted(
    guard: BruteForceGuard,
    address: str = ADDRESS,
    user: str = "bob",
    method: Method = Method.PASSWORD,
) -> bool:
    return await guard.admit(address, user, method) is not None


async def history(store: SqliteStore) -> list[tuple[str, str, str]]:
    """(address, user, method) of every remembered failure, oldest first."""
    found = await store.failures_since(0.0, limit=1000)
    return [(f.address, f.user, f.method.value) for f in reversed(found)]


# -- per address ----------------------------------------------------------------------------------


async def test_five_failures_block_the_address_for_fifteen_minutes(
    guard: BruteForceGuard, store: SqliteStore, clock: FrozenClock
) -> None:
    for _ in range(4):
        await guess(guard)
        clock.advance(1)
    assert await admitted(guard)
    await guess(guard, user="carol")  # any user: the fifth failure from the address
    await refused(guard)
    await refused(guard, user="root")  # root never logged in from here
    await refused(guard, method=Method.API_TOKEN)  # a block refuses every method
    with pytest.raises(AuthenticationFailed) as raised:
        async with guard.attempt(ADDRESS, "dan", "whostmgrd", Method.PASSWORD):
            pytest.fail("a refused attempt never reaches its credential")
    assert (raised.value.detail, raised.value.counted) == (BLOCKED, False)
    assert len(await history(store)) == 5  # refusals are not counted
    assert await admitted(guard, address="203.0.113.8")
    clock.advance(15 * MINUTES - 1)
    await refused(guard)
    clock.advance(1)
    assert await admitted(guard)


async def test_failures_spread_wider_than_the_window_do_not_block(
    guard: BruteForceGuard, clock: FrozenClock
) -> None:
    for _ in range(8):
        await guess(guard)
        clock.advance(4 * MINUTES)  # never five within 15 minutes
    assert await admitted(guard)


async def test_mark_as_brute_blocks_the_address_for_a_day(
    guard: BruteForceGuard, admin: BruteForceAdmin, clock: FrozenClock
) -> None:
    await admin.update({"mark_as_brute": 7})
    for _ in range(5):
        await guess(guard)
    clock.advance(15 * MINUTES)
    await guess(guard)
    await guess(guard)  # the seventh within the lookback
    (block,) = await admin.blocks()
    assert block.excessive
    assert block.until == clock.now() + DAY
    clock.advance(DAY - 1)
    await refused(guard)
    clock.advance(1)
    assert await admitted(guard)


async def test_ipv6_addresses_are_blocked_per_64(guard: BruteForceGuard) -> None:
    for host in range(1, 6):
        await guess(guard, address=f"2001:db8::{host}")
    await refused(guard, address="2001:db8::ffff")
    assert await admitted(guard, address="2001:db8:0:1::1")


async def test_the_ipv6_prefix_is_configurable(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    await admin.update({"ipv6_prefix_length": 48})
    for subnet in range(1, 6):
        await guess(guard, address=f"2001:db8:0:{subnet}::1")
    await refused(guard, address="2001:db8:0:ff::1")


async def test_an_ipv4_mapped_address_is_its_ipv4_address(guard: BruteForceGuard) -> None:
    for _ in range(5):
        await guess(guard, address="::ffff:203.0.113.7")
    await refused(guard, address="203.0.113.7")


async def test_reservations_refuse_parallel_guesses_at_the_limit(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    """Five password checks in flight from one address: a sixth is refused before its hash."""
    gates = [await guard.enter(ADDRESS, f"u{n}", "cpaneld", Method.PASSWORD) for n in range(6)]
    for gate in gates[:5]:
        await gate.reserve()
        assert gate.reserved
    with pytest.raises(AuthenticationFailed) as raised:
        await gates[5].reserve()
    assert (raised.value.detail, raised.value.counted) == (BLOCKED, False)
    assert not gates[5].reserved
    assert len(await history(store)) == 5


async def test_ip_based_protection_off_counts_but_never_blocks_an_address(
    guard: BruteForceGuard, admin: BruteForceAdmin, store: SqliteStore
) -> None:
    await admin.update({"ip_based_protection": 0, "mark_as_brute": 6})
    for n in range(10):
        await guess(guard, user=f"u{n}")
    assert await admitted(guard)
    assert await admin.blocks() == []
    assert len(await history(store)) == 10


# -- allow and deny lists (BF-5) ------------------------------------------------------------------


async def test_an_allow_listed_address_is_never_blocked_nor_counted(
    guard: BruteForceGuard, admin: BruteForceAdmin, store: SqliteStore
) -> None:
    await admin.add(ListName.WHITE, [("203.0.113.0/24", "office")])
    for _ in range(20):
        await guess(guard)
    assert await admitted(guard)
    assert await history(store) == []
    gate = await guard.enter(ADDRESS, "bob", "cpaneld", Method.PASSWORD)
    await gate.reserve()
    assert not gate.reserved


async def test_the_allow_list_wins_over_the_deny_list(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    await admin.add(ListName.BLACK, [("203.0.113.0/24", "")])
    await admin.add(ListName.WHITE, [(ADDRESS, "")])
    assert await admitted(guard)
    await refused(guard, address="203.0.113.8")


async def test_a_deny_listed_address_is_always_refused(
    guard: BruteForceGuard, admin: BruteForceAdmin, store: SqliteStore
) -> None:
    await admin.add(ListName.BLACK, [("203.0.113.0/24", "scanner"), ("2001:db8::/32", "")])
    for user in ("bob", "root", "ghost"):
        for method in Method:
            await refused(guard, user=user, method=method)
    await refused(guard, address="2001:db8::5")
    assert await admitted(guard, address="198.51.100.1")
    assert await history(store) == []


async def test_lists_of_the_other_ip_version_do_not_match(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    await admin.add(ListName.BLACK, [("::/0", "every ipv6 address")])
    assert await admitted(guard, address="203.0.113.7")
    await refused(guard, address="2001:db8::1")


async def test_what_is_no_address_is_on_no_list_but_still_counted(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    await admin.add(ListName.WHITE, [("0.0.0.0/0", ""), ("::/0", "")])
    for _ in range(5):
        await guess(guard, address="unknown")
    await refused(guard, address="unknown")
    assert await admitted(guard, address="192.0.2.1")


async def test_a_stored_entry_that_is_no_network_never_widens_a_list(
    guard: BruteForceGuard, store: SqliteStore, clock: FrozenClock
) -> None:
    await store.add_list_entries(ListName.BLACK, [("garbage", ""), ("198.51.100.0/24", "")], 1.0)
    policy = await guard.policy()
    assert [str(net) for net in policy.black] == ["198.51.100.0/24"]
    assert await admitted(guard)
    await refused(guard, address="198.51.100.1")


async def test_list_decisions_are_memoised_and_the_memo_bounded(guard: BruteForceGuard) -> None:
    policy = await guard.policy()
    assert policy.listed("192.0.2.1") is None
    assert policy.listed("192.0.2.1") is None  # memoised
    for n in range(4097):
        policy.listed(f"10.{n // 256 % 256}.{n % 256}.1")
    assert policy.listed("192.0.2.1") is None


async def test_the_policy_is_parsed_once_per_view(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    first = await guard.policy()
    assert await guard.policy() is first
    await admin.update({"max_failures": 3})
    second = await guard.policy()
    assert second is not first
    assert (await guard.config()).max_failures == 3
    assert second.limits.user_limit == 3


# -- root (BF-5) -----------------------------------------------------------------------------------


async def test_root_is_exempt_where_it_logged_in_within_30_days(
    guard: BruteForceGuard, store: SqliteStore, clock: FrozenClock
) -> None:
    await succeed(guard, user="root")
    for _ in range(5):
        await guess(guard)
    await refused(guard)
    assert await admitted(guard, user="root")
    clock.advance(30 * DAY - 1)
    for _ in range(5):
        await guess(guard)
    assert await admitted(guard, user="root")
    # not after 31 days
    clock.advance(DAY + 1)
    for _ in range(5):
        await guess(guard)
    await refused(guard, user="root")


async def test_root_exempt_attempts_are_not_reserved(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    await succeed(guard, user="root")
    gate = await guard.enter(ADDRESS, "root", "whostmgrd", Method.PASSWORD)
    await gate.reserve()
    assert not gate.reserved


async def test_a_root_success_re_marks_its_address_at_most_once_a_day(
    guard: BruteForceGuard, store: SqliteStore, clock: FrozenClock
) -> None:
    key = address_key(ADDRESS)
    start = clock.now()
    await succeed(guard, user="root")
    clock.advance(DAY - 1)
    await succeed(guard, user="root")
    assert (await store.address_standing(key, clock.now(), 60.0)).root_seen_at == start
    clock.advance(2)
    await succeed(guard, user="root")
    assert (await store.address_standing(key, clock.now(), 60.0)).root_seen_at == clock.now()


async def test_root_is_exempt_on_an_allow_listed_address(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    await admin.add(ListName.WHITE, [(ADDRESS, "")])
    admission = await guard.admit(ADDRESS, "root", Method.PASSWORD)
    assert admission is not None
    assert admission.allow_listed and admission.root_exempt


# -- per account -----------------------------------------------------------------------------------


async def lock(guard: BruteForceGuard, user: str, failures: int = 15, *, net: int = 100) -> None:
    """`failures` wrong passwords for `user`, three per address (no address is blocked)."""
    for n in range(failures):
        await guess(guard, address=f"198.51.{net}.{n // 3}", user=user)


async def test_fifteen_failures_lock_an_account_against_passwords_and_codes(
    guard: BruteForceGuard, clock: FrozenClock
) -> None:
    await lock(guard, "bob", 14)
    assert await admitted(guard)
    await guess(guard, address="198.51.100.200")
    await refused(guard)
    await refused(guard, method=Method.OTP)
    await refused(guard, user="BOB")  # the name is folded
    assert await admitted(guard, method=Method.API_TOKEN)  # tokens are never locked out
    assert await admitted(guard, method=Method.ACCESS_HASH)
    assert await admitted(guard, user="carol")
    clock.advance(15 * MINUTES)
    assert await admitted(guard)


async def test_an_unknown_user_name_is_locked_like_a_real_one(guard: BruteForceGuard) -> None:
    await lock(guard, "no-such-user")
    await refused(guard, user="no-such-user")


async def test_a_locked_account_refuses_reservations_elsewhere(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    gates = []
    for n in range(15):
        gate = await guard.enter(f"198.51.100.{n}", "bob", "cpaneld", Method.PASSWORD)
        await gate.reserve()
        gates.append(gate)
    late = await guard.enter("198.51.100.99", "bob", "cpaneld", Method.PASSWORD)
    with pytest.raises(AuthenticationFailed):
        await late.reserve()
    assert len(await history(store)) == 15


async def test_username_based_protection_off_never_locks(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    await admin.update({"username_based_protection": 0})
    await lock(guard, "bob", 20)
    assert await admitted(guard)


async def test_root_is_locked_unless_its_protection_is_off(
    guard: BruteForceGuard, admin: BruteForceAdmin
) -> None:
    await lock(guard, "root")
    await refused(guard, user="root")
    await admin.unblock(["root"])
    await admin.update({"username_based_protection_for_root": 0})
    await lock(guard, "root", net=101)
    assert await admitted(guard, user="root")
    await lock(guard, "bob", net=102)
    await refused(guard)


# -- what is counted (BF-1, BF-6, BF-7) ----------------------------------------------------------


async def test_a_success_clears_only_that_pair(guard: BruteForceGuard, store: SqliteStore) -> None:
    await guess(guard)
    await guess(guard)
    await guess(guard, user="carol")
    await guess(guard, address="198.51.100.1")
    await succeed(guard)
    assert await history(store) == [
        (ADDRESS, "carol", "password"),
        ("198.51.100.1", "bob", "password"),
    ]


async def test_a_success_with_nothing_recorded_writes_nothing(
    guard: BruteForceGuard, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await guess(guard, user="carol")

    async def no_write(address_key: str, user_key: str) -> None:
        pytest.fail("nothing to clear")

    monkeypatch.setattr(store, "clear_failures", no_write)
    await succeed(guard, method=Method.API_TOKEN, reserve=False)


async def test_a_non_counted_refusal_takes_the_reservation_back(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    with pytest.raises(AuthenticationFailed):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.PASSWORD) as gate:
            await gate.reserve()
            assert len(await history(store)) == 1
            raise AuthenticationFailed("account suspended", claimed_user="bob", counted=False)
    assert await history(store) == []


async def test_a_released_reservation_stays_counted_when_the_pair_had_failures(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    """The store forgets by pair: taking the reservation back would forget the earlier failure
    too, so the stricter way keeps both."""
    await guess(guard)
    with pytest.raises(AuthenticationFailed):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.PASSWORD) as gate:
            await gate.reserve()
            raise AuthenticationFailed("account suspended", claimed_user="bob", counted=False)
    assert await history(store) == [(ADDRESS, "bob", "password")] * 2


async def test_release_without_a_reservation_writes_nothing(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    gate = await guard.enter(ADDRESS, "bob", "cpaneld", Method.PASSWORD)
    await guard.release(gate)
    await guard.release(Gate(guard, None, "cpaneld", Method.PASSWORD))
    assert await history(store) == []


async def test_a_non_counted_refusal_without_a_reservation_records_nothing(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    await guess(guard, user="carol")
    with pytest.raises(TwoFactorFailed):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.PASSWORD):
            raise TwoFactorFailed("missing", counted=False)
    assert await history(store) == [(ADDRESS, "carol", "password")]


async def test_an_error_that_is_no_credential_failure_records_nothing(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    with pytest.raises(StoreUnavailable):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.API_TOKEN):
            raise StoreUnavailable("disk full")
    assert await history(store) == []


async def test_an_overloaded_pool_after_a_reservation_takes_it_back(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    with pytest.raises(Overloaded):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.PASSWORD) as gate:
            await gate.reserve()
            raise Overloaded()
    assert await history(store) == []


async def test_a_wrong_code_is_recorded_as_an_otp_failure(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    with pytest.raises(TwoFactorFailed):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.PASSWORD):
            raise TwoFactorFailed("wrong code", counted=True)
    assert await history(store) == [(ADDRESS, "bob", "otp")]


async def test_a_wrong_mailbox_password_is_recorded(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    with pytest.raises(MailboxPasswordIncorrect):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.API_TOKEN):
            raise MailboxPasswordIncorrect("info@bob.example")
    assert await history(store) == [(ADDRESS, "bob", "api_token")]


async def test_a_failed_token_is_recorded_without_a_reservation(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    for _ in range(5):
        await guess(guard, method=Method.API_TOKEN, reserve=False)
    assert len(await history(store)) == 5
    await refused(guard, method=Method.API_TOKEN)


async def test_a_session_is_refused_from_a_blocked_address_but_never_locked(
    guard: BruteForceGuard,
) -> None:
    await lock(guard, "bob")
    assert await admitted(guard, method=Method.SESSION)  # a cookie is no guess
    for n in range(5):
        await guess(guard, user=f"u{n}")
    await refused(guard, method=Method.SESSION)


async def test_the_attempt_context_manager_records_failures_and_success(
    guard: BruteForceGuard, store: SqliteStore
) -> None:
    with pytest.raises(AuthenticationFailed):
        async with guard.attempt(ADDRESS, "bob", "webmaild", Method.PASSWORD) as gate:
            assert (gate.service, gate.method) == ("webmaild", Method.PASSWORD)
            assert gate.admission is not None
            assert gate.admission.address_key == address_key(ADDRESS)
            raise AuthenticationFailed(claimed_user="bob")
    (recorded,) = await store.failures_since(0.0, limit=10)
    assert (recorded.service, recorded.user_key) == ("webmaild", user_key("bob"))
    async with guard.attempt(ADDRESS, "bob", "webmaild", Method.PASSWORD):
        pass
    assert await history(store) == []


async def test_a_success_survives_a_store_that_cannot_write(
    guard: BruteForceGuard, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await guess(guard, user="root")

    async def unavailable(*_: object) -> None:
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(store, "clear_failures", unavailable)
    monkeypatch.setattr(store, "remember_root_address", unavailable)
    await succeed(guard, user="root")  # no error: the proven credential stands
    await succeed(guard, user="bob")
    monkeypatch.undo()
    # stricter, never looser: the failures and the reservations stay, root's address is unknown
    assert await history(store) == [
        (ADDRESS, "root", "password"),
        (ADDRESS, "root", "password"),
        (ADDRESS, "bob", "password"),
    ]
    standing = await store.address_standing(address_key(ADDRESS), 0.0, 1.0)
    assert standing.root_seen_at == 0.0


# -- protection off -------------------------------------------------------------------------------


async def test_protection_off_admits_and_records_nothing(
    guard: BruteForceGuard, admin: BruteForceAdmin, store: SqliteStore
) -> None:
    await admin.add(ListName.BLACK, [(ADDRESS, "")])
    await admin.set_enabled(False)
    assert await guard.admit(ADDRESS, "bob", Method.PASSWORD) is None
    for _ in range(10):
        await guess(guard)
    await succeed(guard, user="root")
    assert await history(store) == []
    assert (await store.address_standing(address_key(ADDRESS), 0.0, 1.0)).root_seen_at == 0.0


async def test_a_gate_without_a_guard_reserves_nothing() -> None:
    gate = Gate(None, None, "cpaneld", Method.PASSWORD)
    await gate.reserve()
    assert not gate.reserved


async def test_a_reservation_that_cannot_be_taken_back_stays_counted(
    guard: BruteForceGuard, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hashing queue was full and the store cannot write either: the reservation stays,
    the stricter way, and the original error reaches the caller."""

    async def unavailable(*_: object) -> None:
        raise StoreUnavailable("database is locked")

    with pytest.raises(Overloaded):
        async with guard.attempt(ADDRESS, "bob", "cpaneld", Method.PASSWORD) as gate:
            await gate.reserve()
            monkeypatch.setattr(store, "clear_failures", unavailable)
            raise Overloaded()
    monkeypatch.undo()
    assert await history(store) == [(ADDRESS, "bob", "password")]
