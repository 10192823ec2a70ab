"""WHM API 1 cPHulk functions through the dispatcher (w§19.3): shapes, rights, bad input."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from panelauth.api.answers import Answer, Endpoint, Envelope, render
from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.api.whm import cphulk
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.bruteforce import BruteForceGuard
from panelauth.core.hulk import Method
from panelauth.core.models import CredentialKind, Identity, IdentityKind
from panelauth.errors import AuthenticationFailed, BadRequest
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from tests.api.helpers import ROOT, reseller_identity
from tests.conftest import open_sqlite

REQUESTER = "192.0.2.1"
ATTACKER = "203.0.113.5"
START = "2026-01-01 00:00:00"  # FrozenClock's start, in UTC
# every function of the module, for the rights checks
FUNCTIONS = sorted(f.name for f in cphulk.registry.all(Api.WHM1))
CONFIG_KEYS = {
    "block_brute_force_with_firewall",
    "block_excessive_brute_force_with_firewall",
    "brute_force_period_mins",
    "brute_force_period_sec",
    "can_temp_ban_firewall",
    "command_to_run_on_brute_force",
    "command_to_run_on_excessive_brute_force",
    "ip_based_protection",
    "ip_brute_force_period_mins",
    "ip_brute_force_period_sec",
    "is_enabled",
    "lookback_period_min",
    "lookback_time",
    "mark_as_brute",
    "max_failures",
    "max_failures_byip",
    "notify_on_brute",
    "notify_on_root_login",
    "notify_on_root_login_for_known_netblock",
    "username_based_protection",
    "username_based_protection_for_root",
    "username_based_protection_local_origin",
    "ipv6_prefix_length",  # panelauth's own key (it can be saved, so it is shown)
}


async def call(
    dispatcher: Dispatcher,
    name: str,
    pairs: Sequence[tuple[str, str]] = (),
    *,
    identity: Identity = ROOT,
    address: str = REQUESTER,
) -> Answer:
    """A WHM API 1 call with the parameters as given (repeated keys kept), as rendered."""
    params = Params([("api.version", "1"), *pairs])
    outcome = await dispatcher.whm1(identity, name, params, client_address=address)
    return render(outcome, Endpoint(Envelope.WHM1, "", name), Service.WHM)


async def ok(dispatcher: Dispatcher, name: str, *pairs: tuple[str, str]) -> Any:
    """The `data` of a call that must succeed."""
    answer = await call(dispatcher, name, pairs)
    assert answer.status == 200, answer.document
    assert answer.document["metadata"]["result"] == 1, answer.document
    assert answer.document["metadata"]["command"] == name
    return answer.document.get("data")


async def refused(dispatcher: Dispatcher, name: str, *pairs: tuple[str, str]) -> str:
    """The reason of a call that must fail as a function (200, result 0), never a 500."""
    answer = await call(dispatcher, name, pairs)
    assert answer.status == 200, answer.document
    assert answer.document["metadata"]["result"] == 0, answer.document
    assert "data" not in answer.document
    reason: str = answer.document["metadata"]["reason"]
    return reason


async def fail(
    guard: BruteForceGuard,
    address: str,
    user: str,
    *,
    service: str = Service.WHM.value,
    method: Method = Method.PASSWORD,
) -> None:
    """One failed credential (or one refused unchecked while blocked)."""
    with contextlib.suppress(AuthenticationFailed):
        async with guard.attempt(address, user, service, method):
            raise AuthenticationFailed()


@pytest.fixture
def guard(store: SqliteStore, clock: FrozenClock) -> BruteForceGuard:
    return BruteForceGuard(store, clock)


# -- rights ----------------------------------------------------------------------------------


def test_the_module_serves_the_sixteen_functions() -> None:
    assert len(FUNCTIONS) == 16
    assert all(f.acl == "all" for f in cphulk.registry.all(Api.WHM1))


@pytest.mark.parametrize(
    "acls", [frozenset(), frozenset({"list-accts", "create-acct"}), frozenset({"all"})]
)
async def test_a_reseller_is_refused_whatever_its_acls(
    dispatcher: Dispatcher, acls: frozenset[str]
) -> None:
    reseller = reseller_identity(acls)
    for name in FUNCTIONS:
        answer = await call(
            dispatcher, name, [("list_name", "white"), ("ip", "192.0.2.50")], identity=reseller
        )
        assert answer.status == 403, (name, answer.document)
        assert answer.document["metadata"]["result"] == 0
        assert answer.document["metadata"]["reason"].startswith("Permission denied"), name
    # nothing was changed on the way
    assert await ok(dispatcher, "read_cphulk_records", ("list_name", "white")) == {
        "ips_in_list": {},
        "list_name": "white",
        "requester_ip": REQUESTER,
        "requester_ip_is_whitelisted": 0,
        "warning_ip": cphulk.NOT_WHITELISTED,
    }


async def test_a_restricted_root_token_is_refused(dispatcher: Dispatcher) -> None:
    token = Identity(
        "root", IdentityKind.ROOT, CredentialKind.API_TOKEN, None, frozenset({"list-accts"})
    )
    answer = await call(dispatcher, "cphulk_status", identity=token)
    assert answer.status == 403


# -- the switch ------------------------------------------------------------------------------


async def test_status_enable_and_disable(dispatcher: Dispatcher) -> None:
    assert await ok(dispatcher, "cphulk_status") == {"is_enabled": 1, "service": "cPHulk"}
    answer = await call(dispatcher, "disable_cphulk")
    assert answer.document == {
        "metadata": {"command": "disable_cphulk", "reason": "OK", "result": 1, "version": 1}
    }
    assert await ok(dispatcher, "cphulk_status") == {"is_enabled": 0, "service": "cPHulk"}
    assert (await ok(dispatcher, "load_cphulk_config"))["cphulk_config"]["is_enabled"] == 0
    answer = await call(dispatcher, "enable_cphulk")
    assert answer.document == {
        "metadata": {"command": "enable_cphulk", "reason": "OK", "result": 1, "version": 1}
    }
    assert await ok(dispatcher, "cphulk_status") == {"is_enabled": 1, "service": "cPHulk"}


async def test_disabled_protection_is_seen_by_the_guard(
    dispatcher: Dispatcher, guard: BruteForceGuard
) -> None:
    await ok(dispatcher, "disable_cphulk")
    for _ in range(10):
        await fail(guard, ATTACKER, "alice")
    assert await ok(dispatcher, "get_cphulk_failed_logins") == {"failed_logins": []}
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}


# -- the configuration -----------------------------------------------------------------------


async def test_load_answers_cpanels_keys(dispatcher: Dispatcher) -> None:
    config = (await ok(dispatcher, "load_cphulk_config"))["cphulk_config"]
    assert set(config) == CONFIG_KEYS
    assert config["max_failures_byip"] == 5
    assert config["ip_brute_force_period_mins"] == 15
    assert config["ip_brute_force_period_sec"] == 900
    assert config["lookback_time"] == config["lookback_period_min"] * 60
    assert config["can_temp_ban_firewall"] == 0
    assert config["command_to_run_on_brute_force"] == ""
    strings = {"command_to_run_on_brute_force", "command_to_run_on_excessive_brute_force"}
    assert all(isinstance(config[key], int) for key in CONFIG_KEYS - strings)


async def test_save_round_trip_reaches_a_new_guard(
    dispatcher: Dispatcher, store: SqliteStore, clock: FrozenClock, tmp_path: Path
) -> None:
    data = await ok(
        dispatcher,
        "save_cphulk_config",
        ("max_failures_byip", "2"),
        ("lookback_period_min", "60"),
        ("command_to_run_on_brute_force", 'echo "BRUTE"'),
        ("skip_enabled_check", "1"),
    )
    config = data["cphulk_config"]
    assert set(config) == CONFIG_KEYS
    assert config["max_failures_byip"] == 2
    assert config["lookback_period_min"] == 60
    assert config["lookback_time"] == 3600
    assert config["command_to_run_on_brute_force"] == 'echo "BRUTE"'
    assert (await ok(dispatcher, "load_cphulk_config"))["cphulk_config"] == config

    # a guard made afterwards, on this store and on another connection to the same database
    fresh = BruteForceGuard(store, clock)
    assert (await fresh.config()).max_failures_byip == 2
    other = await open_sqlite(tmp_path / "panelauth.db", clock)
    try:
        other_guard = BruteForceGuard(other, clock)
        assert (await other_guard.config()).lookback_period_min == 60
        await fail(other_guard, ATTACKER, "alice")
        await fail(other_guard, ATTACKER, "bob")
    finally:
        await other.aclose()
    # two failures now block the address (the saved max_failures_byip)
    brutes = (await ok(dispatcher, "get_cphulk_brutes"))["brutes"]
    assert [brute["ip"] for brute in brutes] == [ATTACKER]


async def test_save_is_all_or_nothing(dispatcher: Dispatcher) -> None:
    before = (await ok(dispatcher, "load_cphulk_config"))["cphulk_config"]
    reason = await refused(
        dispatcher, "save_cphulk_config", ("max_failures", "7"), ("no_such_key", "1")
    )
    assert "no_such_key" in reason and "not a cPHulk configuration key" in reason
    reason = await refused(
        dispatcher, "save_cphulk_config", ("max_failures", "7"), ("max_failures_byip", "many")
    )
    assert "max_failures_byip" in reason and "whole number" in reason
    assert (await ok(dispatcher, "load_cphulk_config"))["cphulk_config"] == before


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], "at least one"),
        ([("max_failures", "0")], "between 1 and 100"),
        ([("max_failures", "101")], "between 1 and 100"),
        ([("is_enabled", "2")], "0 or 1"),
        ([("lookback_period_min", "")], "whole number"),
        ([("command_to_run_on_brute_force", "a\nb")], "single line"),
        ([("country_whitelist", "US")], "not supported"),
        ([("skip_enabled_check", "yes")], "skip_enabled_check"),
        ([("can_temp_ban_firewall", "1")], "not a cPHulk configuration key"),
    ],
)
async def test_save_refuses_bad_input(
    dispatcher: Dispatcher, pairs: list[tuple[str, str]], expected: str
) -> None:
    assert expected in await refused(dispatcher, "save_cphulk_config", *pairs)


async def test_set_config_key(
    dispatcher: Dispatcher, store: SqliteStore, clock: FrozenClock
) -> None:
    config = (
        await ok(dispatcher, "set_cphulk_config_key", ("key", "max_failures"), ("value", "9"))
    )["cphulk_config"]
    assert set(config) == CONFIG_KEYS
    assert config["max_failures"] == 9
    # the seconds forms are converted to the stored minutes
    data = await ok(
        dispatcher, "set_cphulk_config_key", ("key", "lookback_time"), ("value", "7200")
    )
    assert data["cphulk_config"]["lookback_period_min"] == 120
    assert data["cphulk_config"]["lookback_time"] == 7200
    # an empty command is a value
    data = await ok(
        dispatcher,
        "set_cphulk_config_key",
        ("key", "command_to_run_on_excessive_brute_force"),
        ("value", ""),
    )
    assert data["cphulk_config"]["command_to_run_on_excessive_brute_force"] == ""
    config = await BruteForceGuard(store, clock).config()
    assert (config.max_failures, config.lookback_period_min) == (9, 120)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("value", "1")], "“key” parameter is required"),
        ([("key", "max_failures")], "“value” parameter is required"),
        ([("key", "bogus"), ("value", "1")], "not a cPHulk configuration key"),
        ([("key", "lookback_time"), ("value", "7201")], "whole number of minutes"),
        ([("key", "country_whitelist"), ("value", "US,AU")], "not supported"),
        ([("key", "country_blacklist"), ("value", "PK")], "not supported"),
        ([("key", "mark_as_brute"), ("value", "-3")], "between 1 and 10000"),
        ([("key", "mark_as_brute"), ("value", "3.5")], "whole number"),
    ],
)
async def test_set_config_key_refuses_bad_input(
    dispatcher: Dispatcher, pairs: list[tuple[str, str]], expected: str
) -> None:
    assert expected in await refused(dispatcher, "set_cphulk_config_key", *pairs)


# -- allow and deny lists --------------------------------------------------------------------


async def test_create_read_and_delete(dispatcher: Dispatcher) -> None:
    data = await ok(
        dispatcher,
        "create_cphulk_record",
        ("list_name", "black"),
        ("ip", "198.51.100.7"),
        ("ip", "2001:DB8::1"),  # repeated `ip`, as cPanel's examples
        ("ip-1", "198.51.100.0/28"),  # and `ip-N`, as its text
        ("comment", "scanner"),
    )
    assert data == {
        "comment": "scanner",
        "ip_blocks_removed": 0,
        "ips_added": ["198.51.100.7", "2001:db8::1", "198.51.100.0/28"],
        "ips_failed": {},
        "iptable_bans_removed": 0,
        "list_name": "black",
        "requester_ip": REQUESTER,
        "requester_ip_is_whitelisted": 0,
    }
    data = await ok(dispatcher, "read_cphulk_records", ("list_name", "black"))
    assert data == {
        "ips_in_list": {
            "198.51.100.0/28": "scanner",
            "198.51.100.7": "scanner",
            "2001:db8::1": "scanner",
        },
        "list_name": "black",
        "requester_ip": REQUESTER,
        "requester_ip_is_whitelisted": 0,
        "warning_ip": cphulk.NOT_WHITELISTED,
    }
    assert (await ok(dispatcher, "read_cphulk_records", ("list_name", "white")))[
        "ips_in_list"
    ] == {}

    data = await ok(
        dispatcher,
        "delete_cphulk_record",
        ("list_name", "black"),
        ("ip-1", "198.51.100.7/32"),
        ("ip-2", "192.0.2.99"),
    )
    assert data == {
        "ips_failed": {"192.0.2.99": "The IP address is not on the list."},
        "ips_removed": ["198.51.100.7"],
        "list_name": "black",
        "requester_ip": REQUESTER,
        "requester_ip_is_whitelisted": 0,
    }
    remaining = await ok(dispatcher, "read_cphulk_records", ("list_name", "black"))
    assert set(remaining["ips_in_list"]) == {"198.51.100.0/28", "2001:db8::1"}


async def test_the_requester_on_the_white_list(dispatcher: Dispatcher) -> None:
    data = await ok(
        dispatcher,
        "create_cphulk_record",
        ("list_name", "white"),
        ("ip", "192.0.2.0/24"),
        ("comment", "office"),
    )
    assert data["requester_ip_is_whitelisted"] == 1
    data = await ok(dispatcher, "read_cphulk_records", ("list_name", "white"))
    assert data == {
        "ips_in_list": {"192.0.2.0/24": "office"},
        "list_name": "white",
        "requester_ip": REQUESTER,
        "requester_ip_is_whitelisted": 1,
    }


async def test_partial_failures_are_reported_per_address(dispatcher: Dispatcher) -> None:
    data = await ok(
        dispatcher,
        "create_cphulk_record",
        ("list_name", "white"),
        ("ip", "192.0.2.10"),
        ("ip", "010.0.0.1"),  # zero-padded: octal to some parsers
        ("ip", "192.0.2.1/24"),  # host bits under the prefix
        ("ip", "bob"),
    )
    assert data["ips_added"] == ["192.0.2.10"]
    assert set(data["ips_failed"]) == {"010.0.0.1", "192.0.2.1/24", "bob"}
    assert all(why.startswith("Invalid IP address") for why in data["ips_failed"].values())


async def test_adding_to_the_white_list_lifts_blocks(
    dispatcher: Dispatcher, guard: BruteForceGuard
) -> None:
    for user in ("a", "b", "c", "d", "e"):
        await fail(guard, ATTACKER, user)
    assert len((await ok(dispatcher, "get_cphulk_brutes"))["brutes"]) == 1
    data = await ok(dispatcher, "create_cphulk_record", ("list_name", "white"), ("ip", ATTACKER))
    assert data["ip_blocks_removed"] == 1  # the block (its five failures are forgotten too)
    assert data["comment"] == ""
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}
    assert await ok(dispatcher, "get_cphulk_failed_logins") == {"failed_logins": []}


async def test_batch_create(dispatcher: Dispatcher) -> None:
    records = [
        {"ip": "192.0.2.9/32", "comment": "one host"},
        {"ip": "::ffff:192.0.2.8"},  # takes the default comment
        {"ip": "2001:db8::/32", "comment": "lab"},
        {"ip": "192.0.2.300", "comment": "typo"},
    ]
    data = await ok(
        dispatcher,
        "batch_create_cphulk_records",
        ("list_name", "white"),
        ("records", json.dumps(records)),
        ("comment", "default"),
    )
    assert data == {
        "comment": "default",
        "ip_blocks_removed": 0,
        "ips_added": ["192.0.2.9", "192.0.2.8", "2001:db8::/32"],
        "ips_failed": {"192.0.2.300": "Invalid IP address or range: “192.0.2.300”"},
        "iptable_bans_removed": 0,
        "list_name": "white",
        "original_ips_added": ["192.0.2.9/32", "::ffff:192.0.2.8", "2001:db8::/32"],
        "requester_ip": REQUESTER,
        "requester_ip_is_whitelisted": 0,
    }
    listed = (await ok(dispatcher, "read_cphulk_records", ("list_name", "white")))["ips_in_list"]
    assert listed == {"192.0.2.8": "default", "192.0.2.9": "one host", "2001:db8::/32": "lab"}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ("not json", "JSON array"),
        ("[" * 100_000 + "]" * 100_000, "JSON array"),
        ('{"ip": "192.0.2.1"}', "non-empty JSON array"),
        ("[]", "non-empty JSON array"),
        ('["192.0.2.1"]', "Record 1 must be an object"),
        ('[{"ip": "192.0.2.1"}, {"comment": "x"}]', "Record 2 must be an object"),
        ('[{"ip": 17}]', "Record 1 must be an object"),
        ('[{"ip": "192.0.2.1", "comment": 5}]', "comment of record 1 must be a string"),
        ('[{"ip": "192.0.2.1", "note": "x"}]', "unknown field: “note”"),
        (json.dumps([{"ip": "192.0.2.1", "comment": "x" * 256}]), "more than 255"),
        (json.dumps([{"ip": "192.0.2.1", "comment": "a\u0007b"}]), "printable"),
        (json.dumps([{"ip": f"10.0.{i // 256}.{i % 256}"} for i in range(1001)]), "At most 1000"),
        (json.dumps([{"ip": "010.1.2.3"}]), "No IP address was added"),
    ],
)
async def test_batch_create_refuses_bad_records(
    dispatcher: Dispatcher, records: str, expected: str
) -> None:
    reason = await refused(
        dispatcher, "batch_create_cphulk_records", ("list_name", "white"), ("records", records)
    )
    assert expected in reason
    assert (await ok(dispatcher, "read_cphulk_records", ("list_name", "white")))[
        "ips_in_list"
    ] == {}


async def test_batch_create_takes_a_thousand(dispatcher: Dispatcher) -> None:
    records = json.dumps([{"ip": f"10.0.{i // 256}.{i % 256}"} for i in range(1000)])
    data = await ok(
        dispatcher, "batch_create_cphulk_records", ("list_name", "black"), ("records", records)
    )
    assert len(data["ips_added"]) == 1000


@pytest.mark.parametrize(
    ("name", "pairs", "expected"),
    [
        ("create_cphulk_record", [("ip", "192.0.2.1")], "“list_name” parameter is required"),
        ("create_cphulk_record", [("list_name", "grey"), ("ip", "192.0.2.1")], "“white”"),
        ("read_cphulk_records", [("list_name", "WHITE")], "“white” or “black”"),
        ("delete_cphulk_record", [("list_name", "blacklist"), ("ip", "192.0.2.1")], "“black”"),
        ("batch_create_cphulk_records", [("list_name", "white")], "“records” parameter"),
        ("create_cphulk_record", [("list_name", "white")], "“ip” parameter is required"),
        ("create_cphulk_record", [("list_name", "white"), ("ip", "")], "“ip” parameter"),
        ("create_cphulk_record", [("list_name", "white"), ("ip", "010.0.0.1")], "was added"),
        ("create_cphulk_record", [("list_name", "white"), ("ip", "192.0.2.1/33")], "Invalid"),
        ("create_cphulk_record", [("list_name", "white"), ("ip", "fe80::1%eth0")], "Invalid"),
        (
            "create_cphulk_record",
            [("list_name", "white"), ("ip", "192.0.2.1"), ("comment", "x" * 256)],
            "more than 255",
        ),
        (
            "create_cphulk_record",
            [("list_name", "white"), ("ip", "192.0.2.1"), ("comment", "line\r\nX-Injected: 1")],
            "printable",
        ),
        ("create_cphulk_record", [("list_name", "white"), ("ip", "1.2.3.4\x00")], "Invalid"),
        ("delete_cphulk_record", [("list_name", "white"), ("ip", "192.0.2.1")], "was removed"),
        ("delete_cphulk_record", [("list_name", "white"), ("ip", "192.0.2.01")], "Invalid IP"),
        ("delete_cphulk_record", [("list_name", "white")], "“ip” parameter is required"),
        ("flush_cphulk_login_history_for_ips", [], "“ip” parameter is required"),
        ("flush_cphulk_login_history_for_ips", [("ip", "bob")], "Invalid IP address"),
        ("flush_cphulk_login_history_for_ips", [("ip", "10.0.0.1/8")], "Invalid IP address"),
    ],
)
async def test_lists_refuse_bad_input(
    dispatcher: Dispatcher, name: str, pairs: list[tuple[str, str]], expected: str
) -> None:
    assert expected in await refused(dispatcher, name, *pairs)
    for list_name in ("white", "black"):
        listed = await ok(dispatcher, "read_cphulk_records", ("list_name", list_name))
        assert listed["ips_in_list"] == {}


async def test_too_many_parameters_is_a_bad_request() -> None:
    # more than 1000 `ip-N` never reach the function: the parameters are refused (400) first
    with pytest.raises(BadRequest):
        Params([(f"ip-{n}", "192.0.2.1") for n in range(1001)])


# -- blocks, locks and history ---------------------------------------------------------------


async def test_brutes(dispatcher: Dispatcher, guard: BruteForceGuard, clock: FrozenClock) -> None:
    for user in ("a", "b", "c", "d", "e"):
        await fail(guard, ATTACKER, user)
    data = await ok(dispatcher, "get_cphulk_brutes")
    assert data == {
        "brutes": [
            {
                "exptime": "2026-01-01 00:15:00",
                "ip": ATTACKER,
                "logintime": START,
                "notes": "too many failures from this address",
                "timeleft": 15,
            }
        ]
    }
    assert await ok(dispatcher, "get_cphulk_excessive_brutes") == {"excessive_brutes": []}
    assert await ok(dispatcher, "get_cphulk_user_brutes") == {"user_brutes": []}
    clock.advance(14 * 60 + 30)
    assert (await ok(dispatcher, "get_cphulk_brutes"))["brutes"][0]["timeleft"] == 1
    clock.advance(31)
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}


async def test_an_ipv6_block_shows_the_network_it_covers(
    dispatcher: Dispatcher, guard: BruteForceGuard
) -> None:
    for n in range(5):
        await fail(guard, f"2001:db8:1:2::{n + 1}", "alice")
    brutes = (await ok(dispatcher, "get_cphulk_brutes"))["brutes"]
    assert [brute["ip"] for brute in brutes] == ["2001:db8:1:2::/64"]
    # lifted by any address in it
    data = await ok(dispatcher, "flush_cphulk_login_history_for_ips", ("ip", "2001:db8:1:2::9"))
    assert data["records_removed"] >= 1
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}


async def test_excessive_brutes(
    dispatcher: Dispatcher, guard: BruteForceGuard, clock: FrozenClock
) -> None:
    await ok(dispatcher, "set_cphulk_config_key", ("key", "mark_as_brute"), ("value", "3"))
    clock.advance(60)
    for user in ("a", "b", "c"):
        await fail(guard, "198.51.100.20", user)
    data = await ok(dispatcher, "get_cphulk_excessive_brutes")
    assert data == {
        "excessive_brutes": [
            {
                "exptime": "2026-01-02 00:01:00",
                "ip": "198.51.100.20",
                "logintime": "2026-01-01 00:01:00",
                "notes": "excessive failures from this address",
                "timeleft": 1440,
            }
        ]
    }
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}


async def test_user_brutes(dispatcher: Dispatcher, guard: BruteForceGuard) -> None:
    await ok(dispatcher, "set_cphulk_config_key", ("key", "max_failures"), ("value", "3"))
    for n in range(3):
        await fail(guard, f"198.51.100.{n + 1}", "carol", service=Service.CPANEL.value)
    data = await ok(dispatcher, "get_cphulk_user_brutes")
    assert data == {
        "user_brutes": [
            {
                "authservice": "password",
                "exptime": "2026-01-01 00:15:00",
                "ip": "198.51.100.3",
                "logintime": START,
                "service": "cpaneld",
                "timeleft": 15,
                "user": "carol",
            }
        ]
    }
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}


async def test_failed_logins(
    dispatcher: Dispatcher, guard: BruteForceGuard, clock: FrozenClock
) -> None:
    await fail(guard, "198.51.100.1", "bob", service=Service.CPANEL.value)
    clock.advance(90)
    await fail(guard, "2001:db8::7", "info@bob.example", service="webmaild", method=Method.OTP)
    data = await ok(dispatcher, "get_cphulk_failed_logins")
    assert data == {
        "failed_logins": [
            {
                "authservice": "otp",
                "exptime": "2026-01-01 06:01:30",
                "ip": "2001:db8::7",
                "logintime": "2026-01-01 00:01:30",
                "service": "webmaild",
                "timeleft": 360,
                "user": "info@bob.example",
            },
            {
                "authservice": "password",
                "exptime": "2026-01-01 06:00:00",
                "ip": "198.51.100.1",
                "logintime": START,
                "service": "cpaneld",
                "timeleft": 359,  # 358.5 minutes, rounded up
                "user": "bob",
            },
        ]
    }
    # a shorter memory is applied at once
    clock.advance(60 * 60)
    await ok(dispatcher, "set_cphulk_config_key", ("key", "lookback_period_min"), ("value", "60"))
    assert await ok(dispatcher, "get_cphulk_failed_logins") == {"failed_logins": []}


async def test_flush_login_history(dispatcher: Dispatcher, guard: BruteForceGuard) -> None:
    for user in ("a", "b", "c", "d", "e"):
        await fail(guard, ATTACKER, user)
    await fail(guard, "198.51.100.1", "bob")
    assert await ok(dispatcher, "flush_cphulk_login_history") == {"records_removed": 7}
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}
    assert await ok(dispatcher, "get_cphulk_failed_logins") == {"failed_logins": []}
    assert await ok(dispatcher, "flush_cphulk_login_history") == {"records_removed": 0}


async def test_flush_login_history_for_ips(dispatcher: Dispatcher, guard: BruteForceGuard) -> None:
    for user in ("a", "b", "c", "d", "e"):
        await fail(guard, ATTACKER, user)
    await fail(guard, "198.51.100.1", "bob")
    await fail(guard, "198.51.100.2", "bob")
    data = await ok(
        dispatcher,
        "flush_cphulk_login_history_for_ips",
        ("ip", ATTACKER),
        ("ip-1", "198.51.100.2"),
    )
    assert data == {"iptable_bans_removed": 0, "records_removed": 7}
    assert await ok(dispatcher, "get_cphulk_brutes") == {"brutes": []}
    left = (await ok(dispatcher, "get_cphulk_failed_logins"))["failed_logins"]
    assert [(login["ip"], login["user"]) for login in left] == [("198.51.100.1", "bob")]
    # a user name is never taken for an address: "bob" is refused and keeps his failure
    assert "Invalid IP address" in await refused(
        dispatcher, "flush_cphulk_login_history_for_ips", ("ip", "bob")
    )
    assert len((await ok(dispatcher, "get_cphulk_failed_logins"))["failed_logins"]) == 1
    # an address with nothing recorded removes nothing
    data = await ok(dispatcher, "flush_cphulk_login_history_for_ips", ("ip", "192.0.2.200"))
    assert data == {"iptable_bans_removed": 0, "records_removed": 0}
