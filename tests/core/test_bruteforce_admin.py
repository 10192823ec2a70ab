"""core/bruteforce_admin.py: configuration, allow/deny lists, blocks and history (w§19.3)."""

from __future__ import annotations

import json

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.bruteforce import BLOCKED, BruteForceGuard
from panelauth.core.bruteforce_admin import BruteForceAdmin
from panelauth.core.hulk import CONFIG_SETTING, HulkConfig, ListName, Method
from panelauth.errors import AuthenticationFailed, InvalidArgument

ADDRESS = "203.0.113.7"


@pytest.fixture
def guard(store: SqliteStore, clock: FrozenClock) -> BruteForceGuard:
    return BruteForceGuard(store, clock)


@pytest.fixture
def admin(store: SqliteStore, clock: FrozenClock) -> BruteForceAdmin:
    return BruteForceAdmin(store, clock)


async def guess(guard: BruteForceGuard, address: str = ADDRESS, user: str = "bob") -> None:
    with pytest.raises(AuthenticationFailed) as raised:
        async with guard.attempt(address, user, "cpaneld", Method.PASSWORD) as gate:
            await gate.reserve()
            raise AuthenticationFailed(claimed_user=user)
    assert raised.value.detail != BLOCKED


async def blocked(guard: BruteForceGuard, address: str = ADDRESS, user: str = "bob") -> bool:
    try:
        await guard.admit(address, user, Method.PASSWORD)
    except AuthenticationFailed as refused:
        assert refused.detail == BLOCKED
        return True
    return False


async def block(guard: BruteForceGuard, address: str = ADDRESS) -> None:
    """Five failures of five users: the address is blocked, no account locked."""
    for n in range(5):
        await guess(guard, address, f"u{n}")
    assert await blocked(guard, address)


# -- configuration --------------------------------------------------------------------------------


async def test_an_unconfigured_store_has_the_defaults(admin: BruteForceAdmin) -> None:
    assert await admin.config() == HulkConfig()


async def test_update_stores_every_change(admin: BruteForceAdmin, store: SqliteStore) -> None:
    config = await admin.update({"max_failures": "7", "ip_brute_force_period_sec": 600})
    assert (config.max_failures, config.ip_brute_force_period_mins) == (7, 10)
    assert await admin.config() == config
    stored = await store.get_setting(CONFIG_SETTING)
    assert stored is not None and json.loads(stored)["max_failures"] == 7
    again = await admin.update({"mark_as_brute": 40})
    assert (again.max_failures, again.mark_as_brute) == (7, 40)  # earlier changes kept


async def test_update_applies_every_change_or_none(admin: BruteForceAdmin) -> None:
    await admin.update({"max_failures": 7})
    with pytest.raises(InvalidArgument, match="max_failures_byip"):
        await admin.update({"mark_as_brute": 40, "max_failures_byip": 0})
    with pytest.raises(InvalidArgument, match="not a cPHulk configuration key"):
        await admin.update({"lookback_period_min": 60, "bogus": 1})
    assert await admin.config() == HulkConfig(max_failures=7)


async def test_set_enabled_switches_protection(
    admin: BruteForceAdmin, guard: BruteForceGuard
) -> None:
    assert (await admin.set_enabled(False)).is_enabled == 0
    assert await guard.admit(ADDRESS, "bob", Method.PASSWORD) is None
    assert (await admin.set_enabled(True)).is_enabled == 1
    assert await guard.admit(ADDRESS, "bob", Method.PASSWORD) is not None


# -- allow and deny lists --------------------------------------------------------------------------


async def test_entries_are_normalised_and_kept_per_list(
    admin: BruteForceAdmin, clock: FrozenClock
) -> None:
    change = await admin.add(
        ListName.WHITE,
        [
            ("192.0.2.5", "desk"),
            (" 192.0.2.0/24 ", "office"),
            ("2001:DB8::1", "ü"),
            ("::ffff:198.51.100.9", ""),
        ],
    )
    assert change.done == ["192.0.2.5/32", "192.0.2.0/24", "2001:db8::1/128", "198.51.100.9/32"]
    assert change.failed == {}
    await admin.add(ListName.BLACK, [("10.0.0.0/8", "")])
    white = await admin.entries(ListName.WHITE)
    assert [(e.network, e.comment) for e in white] == [
        ("192.0.2.0/24", "office"),
        ("192.0.2.5/32", "desk"),
        ("198.51.100.9/32", ""),
        ("2001:db8::1/128", "ü"),
    ]
    assert {e.created_at for e in white} == {clock.now()}
    assert [e.network for e in await admin.entries(ListName.BLACK)] == ["10.0.0.0/8"]


async def test_adding_again_replaces_the_comment(admin: BruteForceAdmin) -> None:
    await admin.add(ListName.BLACK, [("192.0.2.5", "old")])
    await admin.add(ListName.BLACK, [("192.0.2.5/32", "new")])
    assert [(e.network, e.comment) for e in await admin.entries(ListName.BLACK)] == [
        ("192.0.2.5/32", "new")
    ]


async def test_entries_that_do_not_parse_are_reported_not_added(admin: BruteForceAdmin) -> None:
    change = await admin.add(
        ListName.WHITE,
        [
            ("192.0.2.5", ""),
            ("127.000.000.005", ""),
            ("10.0.0.1/24", ""),
            ("bad\x00" + "x" * 80, ""),
        ],
    )
    assert change.done == ["192.0.2.5/32"]
    assert set(change.failed) == {"127.000.000.005", "10.0.0.1/24", "bad?" + "x" * 60}
    assert all("Invalid IP address or range" in why for why in change.failed.values())
    assert [e.network for e in await admin.entries(ListName.WHITE)] == ["192.0.2.5/32"]


async def test_a_call_with_no_valid_entry_changes_nothing(
    admin: BruteForceAdmin, guard: BruteForceGuard
) -> None:
    await block(guard)
    change = await admin.add(ListName.WHITE, [("abc", "")])
    assert (change.done, change.records_removed) == ([], 0)
    assert await admin.entries(ListName.WHITE) == []
    assert await blocked(guard)


@pytest.mark.parametrize("comment", ["a\nb", "tab\there", "\x00", "\u202e", "x" * 256])
async def test_a_bad_comment_refuses_the_whole_call(admin: BruteForceAdmin, comment: str) -> None:
    with pytest.raises(InvalidArgument, match="comment"):
        await admin.add(ListName.WHITE, [("192.0.2.1", "fine"), ("192.0.2.2", comment)])
    assert await admin.entries(ListName.WHITE) == []


async def test_a_comment_of_255_printable_characters_is_kept(admin: BruteForceAdmin) -> None:
    await admin.add(ListName.WHITE, [("192.0.2.1", "é" * 255)])
    assert [e.comment for e in await admin.entries(ListName.WHITE)] == ["é" * 255]


@pytest.mark.parametrize("count", [0, 1001])
async def test_calls_are_bounded(admin: BruteForceAdmin, count: int) -> None:
    entries = [(f"10.{n // 256}.{n % 256}.1", "") for n in range(count)]
    with pytest.raises(InvalidArgument):
        await admin.add(ListName.BLACK, entries)
    with pytest.raises(InvalidArgument):
        await admin.remove(ListName.BLACK, [network for network, _ in entries])
    with pytest.raises(InvalidArgument):
        await admin.unblock([network for network, _ in entries])
    assert await admin.entries(ListName.BLACK) == []


async def test_a_thousand_entries_are_taken_at_once(admin: BruteForceAdmin) -> None:
    entries = [(f"10.{n // 256}.{n % 256}.1", "") for n in range(1000)]
    assert len((await admin.add(ListName.BLACK, entries)).done) == 1000
    assert len(await admin.entries(ListName.BLACK)) == 1000


async def test_allow_listing_forgets_the_failures_and_blocks_it_covers(
    admin: BruteForceAdmin, guard: BruteForceGuard, store: SqliteStore
) -> None:
    await block(guard)  # 5 failures and a block
    await block(guard, "203.0.113.8")
    await guess(guard, "198.51.100.1")
    await guess(guard, "unknown")  # recorded under a hashed key: no address to match
    change = await admin.add(ListName.WHITE, [("203.0.113.0/24", "office")])
    assert (change.records_removed, change.blocks_removed) == (12, 2)
    assert not await blocked(guard, "203.0.113.8")
    await admin.remove(ListName.WHITE, ["203.0.113.0/24"])
    assert not await blocked(guard)  # the block itself is gone, not only overridden
    assert sorted(f.address for f in await admin.history()) == ["198.51.100.1", "unknown"]


async def test_allow_listing_an_ipv6_address_forgets_its_prefix(
    admin: BruteForceAdmin, guard: BruteForceGuard
) -> None:
    await block(guard, "2001:db8::1")
    change = await admin.add(ListName.WHITE, [("2001:db8::5", "")])
    # the block is kept under the /64 it counts
    assert (change.records_removed, change.blocks_removed) == (6, 1)
    await admin.remove(ListName.WHITE, ["2001:db8::5"])
    assert not await blocked(guard, "2001:db8::1")


async def test_deny_listing_forgets_nothing(admin: BruteForceAdmin, guard: BruteForceGuard) -> None:
    await guess(guard)
    change = await admin.add(ListName.BLACK, [(ADDRESS, "")])
    assert change.records_removed == 0
    assert len(await admin.history()) == 1


async def test_remove_reports_what_is_not_on_the_list(admin: BruteForceAdmin) -> None:
    await admin.add(ListName.WHITE, [("192.0.2.0/24", ""), ("192.0.2.9", "")])
    await admin.add(ListName.BLACK, [("198.51.100.1", "")])
    change = await admin.remove(
        ListName.WHITE, [" 192.0.2.0/24", "198.51.100.1", "abc", "10.0.0.1/8"]
    )
    assert change.done == ["192.0.2.0/24"]
    assert change.failed["198.51.100.1/32"] == "The IP address is not on the list."
    assert "Invalid IP address" in change.failed["abc"]
    assert "Invalid IP address" in change.failed["10.0.0.1/8"]
    assert [e.network for e in await admin.entries(ListName.WHITE)] == ["192.0.2.9/32"]
    assert [e.network for e in await admin.entries(ListName.BLACK)] == ["198.51.100.1/32"]


async def test_removing_nothing_listed_changes_nothing(admin: BruteForceAdmin) -> None:
    await admin.add(ListName.BLACK, [("198.51.100.1", "")])
    change = await admin.remove(ListName.BLACK, ["198.51.100.2"])
    assert change.done == []
    assert [e.network for e in await admin.entries(ListName.BLACK)] == ["198.51.100.1/32"]


async def test_is_allow_listed(admin: BruteForceAdmin) -> None:
    assert not await admin.is_allow_listed("192.0.2.1")
    await admin.add(ListName.WHITE, [("192.0.2.0/24", ""), ("2001:db8::/32", "")])
    await admin.add(ListName.BLACK, [("198.51.100.0/24", "")])
    assert await admin.is_allow_listed("192.0.2.200")
    assert await admin.is_allow_listed("::ffff:192.0.2.1")
    assert await admin.is_allow_listed("2001:db8:1::1")
    assert not await admin.is_allow_listed("192.0.3.1")
    assert not await admin.is_allow_listed("198.51.100.1")  # denied is not allowed
    assert not await admin.is_allow_listed("2001:db9::1")
    assert not await admin.is_allow_listed("unknown")


# -- blocks, history, unblock, flush --------------------------------------------------------------


async def test_blocks_lists_current_blocks_and_locks(
    admin: BruteForceAdmin, guard: BruteForceGuard, clock: FrozenClock
) -> None:
    assert await admin.blocks() == []
    await block(guard)
    for n in range(15):
        await guess(guard, f"198.51.100.{n // 3}", "carol")
    found = {(b.kind, b.shown) for b in await admin.blocks()}
    assert found == {("address", ADDRESS), ("user", "carol")}
    clock.advance(15 * 60)
    assert await admin.blocks() == []


async def test_history_is_newest_first_within_the_lookback(
    admin: BruteForceAdmin, guard: BruteForceGuard, clock: FrozenClock
) -> None:
    await admin.update({"lookback_period_min": 60})
    await guess(guard, user="old")
    clock.advance(30 * 60)
    await guess(guard, user="mid")
    clock.advance(1)
    await guess(guard, user="new")
    clock.advance(30 * 60)  # "old" is now past the lookback
    assert [f.user for f in await admin.history()] == ["new", "mid"]
    assert [f.user for f in await admin.history(limit=1)] == ["new"]


async def test_unblock_an_address(admin: BruteForceAdmin, guard: BruteForceGuard) -> None:
    await block(guard)
    await block(guard, "203.0.113.8")
    assert await admin.unblock([ADDRESS]) == 6
    assert not await blocked(guard)
    assert await blocked(guard, "203.0.113.8")
    assert await admin.unblock(["192.0.2.1"]) == 0


async def test_unblock_a_cidr(admin: BruteForceAdmin, guard: BruteForceGuard) -> None:
    await block(guard)
    await block(guard, "203.0.113.8")
    await block(guard, "198.51.100.1")
    assert await admin.unblock(["203.0.113.0/24"]) == 12
    assert not await blocked(guard)
    assert not await blocked(guard, "203.0.113.8")
    assert await blocked(guard, "198.51.100.1")


async def test_unblock_an_ipv6_address_lifts_its_prefix(
    admin: BruteForceAdmin, guard: BruteForceGuard
) -> None:
    await block(guard, "2001:db8::1")
    assert await admin.unblock(["2001:db8::99"]) == 6
    assert not await blocked(guard, "2001:db8::1")


async def test_unblock_a_user_name(admin: BruteForceAdmin, guard: BruteForceGuard) -> None:
    for n in range(15):
        await guess(guard, f"198.51.100.{n // 3}", "bob")
    await guess(guard, "198.51.100.50", "carol")
    assert await blocked(guard, "192.0.2.1", "bob")
    assert await admin.unblock([" BOB "]) == 16  # 15 failures and the lock; names are folded
    assert not await blocked(guard, "192.0.2.1", "bob")
    assert [f.user for f in await admin.history()] == ["carol"]
    assert await admin.unblock(["ghost"]) == 0


async def test_unblock_addresses_and_users_at_once(
    admin: BruteForceAdmin, guard: BruteForceGuard
) -> None:
    await block(guard)
    await guess(guard, "198.51.100.1", "carol")
    assert await admin.unblock([ADDRESS, "carol"]) == 7
    assert await admin.history() == []


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "required"),
        ("   ", "required"),
        ("10.0.0.1/24", "Invalid IP address"),
        ("127.000.000.001", "Invalid IP address"),
        ("300.1.1.1", "Invalid IP address"),
        ("fe80::1%eth0", "Invalid IP address"),
        ("bob:x", "Invalid IP address"),
        ("two words", "one word"),
        ("bob\x00", "one word"),
        ("x" * 256, "one word"),
    ],
)
async def test_unblock_refuses_what_is_neither_address_nor_user_name(
    admin: BruteForceAdmin, guard: BruteForceGuard, target: str, message: str
) -> None:
    await block(guard)
    with pytest.raises(InvalidArgument, match=message):
        await admin.unblock([ADDRESS, target])
    assert await blocked(guard)  # nothing lifted


async def test_flush_forgets_every_failure_and_block(
    admin: BruteForceAdmin, guard: BruteForceGuard
) -> None:
    await block(guard)
    await guess(guard, "198.51.100.1")
    await admin.add(ListName.WHITE, [("192.0.2.1", "")])
    assert await admin.flush() == 7
    assert await admin.history() == []
    assert await admin.blocks() == []
    assert not await blocked(guard)
    assert await admin.flush() == 0
    assert len(await admin.entries(ListName.WHITE)) == 1
