"""Configuration: one frozen Settings built from a YAML mapping, strictly checked."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from typing import Any

import pytest

from panelauth.core.passwords import Argon2Parameters
from panelauth.core.settings import ConfigError, Settings, settings_from_mapping


def test_defaults_are_secure() -> None:
    settings = Settings()
    assert settings.require_ssl
    assert settings.trusted_proxies == ()
    assert settings.argon2 == Argon2Parameters()
    assert settings.hostname == socket.gethostname()
    assert settings.max_body_bytes == 1024 * 1024


def test_settings_are_frozen() -> None:
    settings = Settings(hostname="a.example")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.hostname = "b.example"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("panel.example.test", True),
        ("PANEL.Example.TEST", True),
        ("cpanel.example.test", True),
        ("WHM.example.test", True),
        ("evil.example", False),
        ("panel.example.test.evil", False),
        ("", False),
    ],
)
def test_is_server_name_is_case_insensitive(host: str, expected: bool) -> None:
    settings = Settings(
        hostname="Panel.Example.Test", server_names=("cpanel.example.test", "Whm.Example.Test")
    )
    assert settings.is_server_name(host) is expected


def test_empty_mapping_gives_the_defaults() -> None:
    assert settings_from_mapping({}) == Settings()


def test_reads_every_simple_key() -> None:
    settings = settings_from_mapping(
        {
            "hostname": "panel.example.test",
            "require_ssl": False,
            "log_successful_logins": False,
            "max_body_bytes": 2048,
            "hashing_threads": 4,
            "hashing_max_pending": 8,
            "credential_cache_entries": 0,
            "credential_cache_ttl_seconds": 60.5,
            "shutdown_grace_seconds": 5.0,
            "access_hash_enabled": False,
            "home_root": "/srv/home",
        }
    )
    assert settings.hostname == "panel.example.test"
    assert settings.require_ssl is False
    assert settings.log_successful_logins is False
    assert (settings.max_body_bytes, settings.hashing_threads) == (2048, 4)
    assert (settings.hashing_max_pending, settings.credential_cache_entries) == (8, 0)
    assert settings.credential_cache_ttl_seconds == 60.5
    assert settings.shutdown_grace_seconds == 5.0
    assert settings.access_hash_enabled is False
    assert settings.home_root == "/srv/home"


@pytest.mark.parametrize("key", ["credential_cache_ttl_seconds", "shutdown_grace_seconds"])
def test_an_integer_is_accepted_for_a_float_key(key: str) -> None:
    value = getattr(settings_from_mapping({key: 30}), key)
    assert value == 30.0
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hostname", 42),
        ("require_ssl", "yes"),
        ("require_ssl", 1),
        ("max_body_bytes", True),
        ("max_body_bytes", "1024"),
        ("max_body_bytes", 10.5),
        ("hashing_threads", None),
        ("credential_cache_ttl_seconds", True),
        ("credential_cache_ttl_seconds", "300"),
        ("shutdown_grace_seconds", [1]),
        ("access_hash_enabled", "no"),
        ("home_root", 7),
    ],
)
def test_rejects_wrong_types(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        settings_from_mapping({key: value})


def test_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="unknown setting: requiressl"):
        settings_from_mapping({"requiressl": True})


@pytest.mark.parametrize("value", [0, -1])
def test_rejects_a_non_positive_body_limit(value: int) -> None:
    with pytest.raises(ConfigError, match="max_body_bytes"):
        settings_from_mapping({"max_body_bytes": value})


def test_reads_server_names() -> None:
    settings = settings_from_mapping({"server_names": ["cpanel.example", "whm.example"]})
    assert settings.server_names == ("cpanel.example", "whm.example")


@pytest.mark.parametrize("key", ["server_names", "trusted_proxies"])
@pytest.mark.parametrize("value", ["one.example", ["ok", 3], {"a": 1}, None])
def test_rejects_lists_that_are_not_of_strings(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"{key}: expected a list of strings"):
        settings_from_mapping({key: value})


def test_reads_trusted_proxies_as_networks() -> None:
    settings = settings_from_mapping(
        {"trusted_proxies": ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "172.16.5.4/12"]}
    )
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("172.16.0.0/12"),  # host bits are forgiven
    )


@pytest.mark.parametrize("proxy", ["10.0.0.0/33", "not-an-address", "10.0.0.0/8 "])
def test_rejects_invalid_trusted_proxies(proxy: str) -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        settings_from_mapping({"trusted_proxies": [proxy]})


def test_reads_argon2_parameters() -> None:
    settings = settings_from_mapping({"argon2": {"time_cost": 3, "memory_cost_kib": 65536}})
    assert settings.argon2 == Argon2Parameters(time_cost=3, memory_cost_kib=65536, parallelism=1)


@pytest.mark.parametrize("value", [{"rounds": 3}, {"time_cost": 1, "salt": "x"}])
def test_rejects_unknown_argon2_keys(value: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="argon2"):
        settings_from_mapping({"argon2": value})


@pytest.mark.parametrize("value", [[1, 2], "fast", 3, None])
def test_rejects_an_argon2_value_that_is_not_a_mapping(value: Any) -> None:
    with pytest.raises(ConfigError, match="argon2: expected a mapping"):
        settings_from_mapping({"argon2": value})


@pytest.mark.parametrize(
    "value", [{"time_cost": "2"}, {"memory_cost_kib": 1.5}, {"parallelism": True}]
)
def test_rejects_wrong_argon2_types(value: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="argon2"):
        settings_from_mapping({"argon2": value})


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
