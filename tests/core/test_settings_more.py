"""Settings: the keys that take one of a fixed set of words."""

from __future__ import annotations

import pytest

from panelauth.core.settings import ConfigError, Settings, settings_from_mapping


@pytest.mark.parametrize(
    ("key", "choices"),
    [
        ("cookie_ip_validation", ("strict", "loose", "disabled")),
        ("session_log_layout", ("seed", "cpsrvd")),
    ],
)
def test_reads_each_allowed_choice(key: str, choices: tuple[str, ...]) -> None:
    for choice in choices:
        assert getattr(settings_from_mapping({key: choice}), key) == choice


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cookie_ip_validation", "STRICT", "cookie_ip_validation: one of strict, loose, disabled"),
        ("cookie_ip_validation", "off", "cookie_ip_validation: one of strict, loose, disabled"),
        ("cookie_ip_validation", "", "cookie_ip_validation: one of strict, loose, disabled"),
        ("session_log_layout", "cpanel", "session_log_layout: one of seed, cpsrvd"),
        ("session_log_layout", "seed ", "session_log_layout: one of seed, cpsrvd"),
    ],
)
def test_refuses_a_word_outside_the_choices_naming_the_key(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({key: value})
    assert str(raised.value) == message


def test_a_bad_choice_is_refused_even_among_valid_keys() -> None:
    with pytest.raises(ConfigError, match="cookie_ip_validation"):
        settings_from_mapping({"hostname": "panel.example.test", "cookie_ip_validation": "lenient"})


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("panel.example.test:2083", "panel.example.test"),
        ("PANEL.example.test", "PANEL.example.test"),
        ("[::1]:2087", "::1"),
        ("localhost", "localhost"),
        ("evil.example:2083", "panel.example.test"),  # never an unchecked Host (SS-8)
        ("", "panel.example.test"),
        (None, "panel.example.test"),
    ],
)
def test_public_host_is_a_server_name_or_the_hostname(requested: str | None, expected: str) -> None:
    settings = Settings(hostname="panel.example.test")
    assert settings.public_host(requested) == expected
