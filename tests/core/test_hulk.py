"""core/hulk.py: cPHulk's configuration under its key names, the counting keys, list entries."""

from __future__ import annotations

import json

import pytest

from panelauth.core.hulk import (
    AddressStanding,
    HulkConfig,
    ListName,
    Method,
    address_key,
    config_value,
    parse_network,
    shown_network,
    shown_user,
    user_key,
)
from panelauth.errors import InvalidArgument

# -- the configuration ----------------------------------------------------------------------------


def test_the_defaults_are_cphulks() -> None:
    config = HulkConfig()
    assert (config.is_enabled, config.max_failures_byip, config.ip_brute_force_period_mins) == (
        1,
        5,
        15,
    )
    assert (config.mark_as_brute, config.max_failures, config.brute_force_period_mins) == (
        30,
        15,
        5,
    )
    assert (config.lookback_period_min, config.ipv6_prefix_length) == (360, 64)


def test_the_configuration_round_trips_through_json() -> None:
    config = (
        HulkConfig()
        .with_value("max_failures", 7)
        .with_value("command_to_run_on_brute_force", "/usr/local/bin/alert %remote_ip%")
    )
    assert HulkConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["max_failures"] == 7


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]", "42", '"text"', "{"])
def test_a_missing_or_unreadable_stored_configuration_is_the_default(text: str | None) -> None:
    assert HulkConfig.from_json(text) == HulkConfig()


def test_stored_keys_that_are_unknown_or_invalid_fall_back_to_defaults() -> None:
    stored = json.dumps(
        {
            "max_failures": "7",
            "mark_as_brute": 0,  # out of range
            "is_enabled": 2,  # not a switch value
            "no_such_key": 1,
            "brute_force_period_sec": 600,  # the seconds form is taken too
            "command_to_run_on_brute_force": "a\nb",
            "lookback_period_min": None,
        }
    )
    config = HulkConfig.from_json(stored)
    assert config == HulkConfig(max_failures=7, brute_force_period_mins=10)


def test_an_unknown_key_is_refused_and_shown_safely() -> None:
    with pytest.raises(InvalidArgument, match="“bogus” is not a cPHulk configuration key"):
        HulkConfig().with_value("bogus", 1)
    with pytest.raises(InvalidArgument) as raised:
        HulkConfig().with_value("x\x00" + "y" * 100, 1)
    assert "x?" + "y" * 62 + "”" in raised.value.message
    assert "\x00" not in raised.value.message


@pytest.mark.parametrize("value", [2, -1, "2", "yes"])
def test_a_switch_is_0_or_1(value: object) -> None:
    with pytest.raises(InvalidArgument, match="is_enabled"):
        HulkConfig().with_value("is_enabled", value)


@pytest.mark.parametrize(("value", "stored"), [(0, 0), ("1", 1), (True, 1), (False, 0)])
def test_a_switch_takes_numbers_text_and_booleans(value: object, stored: int) -> None:
    assert HulkConfig().with_value("notify_on_brute", value).notify_on_brute == stored


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [
        ("max_failures", 1, 100),
        ("max_failures_byip", 1, 100),
        ("mark_as_brute", 1, 10_000),
        ("brute_force_period_mins", 1, 1440),
        ("ip_brute_force_period_mins", 1, 1440),
        ("lookback_period_min", 1, 43_200),
        ("ipv6_prefix_length", 32, 128),
    ],
)
def test_numbers_are_bounded(key: str, low: int, high: int) -> None:
    config = HulkConfig()
    assert getattr(config.with_value(key, low), key) == low
    assert getattr(config.with_value(key, str(high)), key) == high
    for outside in (low - 1, high + 1):
        with pytest.raises(InvalidArgument, match=f"between {low} and {high}"):
            config.with_value(key, outside)


@pytest.mark.parametrize("value", ["abc", "1.5", 1.5, "", "١٢", "1234567890", "5 0", None])
def test_a_number_must_be_a_whole_number(value: object) -> None:
    with pytest.raises(InvalidArgument, match="whole number"):
        HulkConfig().with_value("max_failures", value)


def test_a_number_may_be_padded_with_spaces() -> None:
    assert HulkConfig().with_value("max_failures", " 12 ").max_failures == 12


def test_a_doubled_minus_sign_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        HulkConfig().with_value("max_failures", "--5")


def test_a_stored_doubled_minus_sign_falls_back_to_the_default() -> None:
    assert HulkConfig.from_json('{"max_failures": "--5"}') == HulkConfig()


@pytest.mark.parametrize(
    ("key", "seconds", "minutes_key", "minutes"),
    [
        ("brute_force_period_sec", 600, "brute_force_period_mins", 10),
        ("ip_brute_force_period_sec", "120", "ip_brute_force_period_mins", 2),
        ("lookback_time", 7200, "lookback_period_min", 120),
    ],
)
def test_the_seconds_forms_set_the_minutes(
    key: str, seconds: object, minutes_key: str, minutes: int
) -> None:
    assert config_value(key, seconds) == (minutes_key, minutes)
    assert getattr(HulkConfig().with_value(key, seconds), minutes_key) == minutes


@pytest.mark.parametrize("key", ["brute_force_period_sec", "lookback_time"])
def test_the_seconds_forms_need_whole_minutes(key: str) -> None:
    with pytest.raises(InvalidArgument, match="whole number of minutes"):
        HulkConfig().with_value(key, 90)
    with pytest.raises(InvalidArgument, match="whole number"):
        HulkConfig().with_value(key, "ten")


def test_the_seconds_forms_are_bounded_like_the_minutes() -> None:
    with pytest.raises(InvalidArgument, match="between 1 and 1440"):
        HulkConfig().with_value("brute_force_period_sec", 0)


def test_other_keys_pass_through_config_value() -> None:
    assert config_value("max_failures", "3") == ("max_failures", "3")


def test_a_text_key_takes_one_line() -> None:
    config = HulkConfig().with_value("command_to_run_on_excessive_brute_force", "/bin/true ü")
    assert config.command_to_run_on_excessive_brute_force == "/bin/true ü"
    assert (
        HulkConfig().with_value("command_to_run_on_brute_force", 5).command_to_run_on_brute_force
        == "5"
    )
    for bad in ("a\nb", "a\tb", "\x1b[31m", "x" * 1025):
        with pytest.raises(InvalidArgument, match="single line"):
            HulkConfig().with_value("command_to_run_on_brute_force", bad)
    assert (
        len(HulkConfig().with_value("command_to_run_on_brute_force", "x" * 1024).to_json()) > 1024
    )


def test_for_api_answers_cpanels_shape() -> None:
    shown = HulkConfig(brute_force_period_mins=4, ip_brute_force_period_mins=9).for_api()
    assert shown["ipv6_prefix_length"] == 64
    assert shown["brute_force_period_sec"] == 240
    assert shown["ip_brute_force_period_sec"] == 540
    assert shown["lookback_time"] == 360 * 60
    assert shown["can_temp_ban_firewall"] == 0
    assert shown["max_failures"] == 15
    assert list(shown) == sorted(shown)


def test_what_for_api_shows_can_be_saved_back() -> None:
    config = HulkConfig(brute_force_period_mins=4, ipv6_prefix_length=56, notify_on_brute=1)
    saved = HulkConfig()
    for key, value in config.for_api().items():
        if key != "can_temp_ban_firewall":  # shown only
            saved = saved.with_value(key, value)
    assert saved == config


# -- counting keys (BF-10) ----------------------------------------------------------------------


def test_an_ipv4_address_is_its_own_key() -> None:
    assert address_key("192.0.2.7") == "ip4:192.0.2.7"
    assert address_key(" 192.0.2.7 ") == "ip4:192.0.2.7"
    assert address_key("192.0.2.7") != address_key("192.0.2.8")


def test_an_ipv4_mapped_address_counts_as_ipv4() -> None:
    assert address_key("::ffff:127.0.0.5") == address_key("127.0.0.5") == "ip4:127.0.0.5"


def test_ipv6_addresses_are_counted_per_prefix() -> None:
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "ip6:2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("2001:db8:0:1::1", 48) == address_key("2001:db8::1", 48)
    assert address_key("2001:db8::1", 128) == "ip6:2001:db8::1/128"


def test_a_scoped_ipv6_address_is_counted_without_its_zone() -> None:
    assert address_key("fe80::1%eth0") == address_key("fe80::2") == "ip6:fe80::/64"


@pytest.mark.parametrize("text", ["unknown", "", "not an address", "\ud800", "127.000.000.005"])
def test_what_is_no_address_is_hashed(text: str) -> None:
    key = address_key(text)
    assert key.startswith("raw:")
    assert len(key) == 4 + 32
    assert text not in key[4:] or not text
    assert address_key(text) == key


def test_different_non_addresses_have_different_keys() -> None:
    assert address_key("unknown") != address_key("other")


def test_a_user_key_folds_and_hashes_the_name() -> None:
    key = user_key("bob")
    assert key.startswith("user:") and len(key) == 5 + 40
    assert "bob" not in key
    assert user_key(" BOB ") == key
    assert user_key("carol") != key
    assert user_key("ghost-never-existed").startswith("user:")
    assert user_key("\udcff") != user_key("")


def test_keys_of_different_kinds_never_collide() -> None:
    assert user_key("192.0.2.7") != address_key("192.0.2.7")


def test_shown_user_masks_and_cuts() -> None:
    assert shown_user("bob") == "bob"
    assert shown_user("b\x00o\nb") == "b?o?b"
    assert shown_user("x" * 300) == "x" * 255


# -- list entries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("192.0.2.7", "192.0.2.7/32"),
        (" 192.0.2.0/24 ", "192.0.2.0/24"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("2001:DB8::1", "2001:db8::1/128"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::ffff:192.0.2.9", "192.0.2.9/32"),
        ("::ffff:192.0.2.0/24", "192.0.2.0/24"),
    ],
)
def test_a_network_is_normalised(text: str, network: str) -> None:
    assert str(parse_network(text)) == network


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "127.000.000.005",
        "010.0.0.1",
        "10.0.0.1/24",
        "2001:db8::1/32",
        "fe80::1%eth0",
        "fe80::1%eth0/64",
        "10.0.0.0/33",
        "10.0.0.0/abc",
        "10.0.0.0/-8",
        "10.0.0.0/24/8",
        "2001:db8::/129",
        "1" * 65,
        "192.0.2.1\x00",
        "\uff11\uff19\uff12.0.2.1",
        "192.0.2.1, 192.0.2.2",
    ],
)
def test_what_is_no_network_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid IP address or range"):
        parse_network(text)


def test_a_refused_long_text_is_shown_cut() -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_network("a" * 200)
    assert "a" * 64 in raised.value.message
    assert "a" * 65 not in raised.value.message


# -- records ---------------------------------------------------------------------------------------


def test_a_standing_has_failures_of_the_users_it_names() -> None:
    bob, carol = user_key("bob"), user_key("carol")
    assert not AddressStanding().has_failures_of(bob)
    named = AddressStanding(failures=2, failing_users=frozenset({bob}))
    assert named.has_failures_of(bob)
    assert not named.has_failures_of(carol)
    # too many users to name: every success clears its own pair
    assert AddressStanding(failures=99, failing_users=None).has_failures_of(carol)
    assert not AddressStanding(failures=0, failing_users=None).has_failures_of(carol)


def test_enum_values_are_the_stored_names() -> None:
    assert [m.value for m in Method] == ["password", "api_token", "access_hash", "otp", "session"]
    assert [n.value for n in ListName] == ["white", "black"]


@pytest.mark.parametrize("text", ["10.0.0.0/", "10.0.0.0/024", "10.0.0.0/+8", "2001:db8::/0064"])
def test_a_prefix_is_digits_without_padding(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_network(text)


def test_a_text_key_refuses_invisible_controls() -> None:
    for text in ("echo\x7f", "echo \u202e"):
        with pytest.raises(InvalidArgument):
            HulkConfig().with_value("command_to_run_on_brute_force", text)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("192.0.2.7/32", "192.0.2.7"),
        ("2001:db8::1/128", "2001:db8::1"),
        ("198.51.100.0/24", "198.51.100.0/24"),
        ("not a network", "not a network"),  # shown as stored, never guessed at
    ],
)
def test_a_single_address_is_shown_without_its_prefix(stored: str, shown: str) -> None:
    assert shown_network(stored) == shown
