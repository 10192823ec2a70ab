"""Settings for slow and stalled clients: deadlines and connection limits (TR-6)."""

from __future__ import annotations

from typing import Any

import pytest

from panelauth.core.settings import ConfigError, Settings, settings_from_mapping

KEYS = (
    "request_head_timeout",
    "request_body_timeout",
    "max_connections_per_address",
    "max_connections",
)


def test_defaults() -> None:
    settings = Settings()
    assert (settings.request_head_timeout, settings.request_body_timeout) == (10.0, 30.0)
    assert (settings.max_connections_per_address, settings.max_connections) == (256, 4096)


def test_reads_each_key() -> None:
    settings = settings_from_mapping(
        {
            "request_head_timeout": 2.5,
            "request_body_timeout": 7,
            "max_connections_per_address": 16,
            "max_connections": 1000,
        }
    )
    assert settings.request_head_timeout == 2.5
    assert settings.request_body_timeout == 7.0 and isinstance(settings.request_body_timeout, float)
    assert (settings.max_connections_per_address, settings.max_connections) == (16, 1000)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("value", [0, -1])
def test_rejects_a_value_that_is_not_positive_naming_the_key(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"{key}: must be positive"):
        settings_from_mapping({key: value})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("request_head_timeout", "10"),
        ("request_body_timeout", True),
        ("max_connections_per_address", 2.5),
        ("max_connections", "many"),
        ("max_connections", False),
    ],
)
def test_rejects_wrong_types(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        settings_from_mapping({key: value})
