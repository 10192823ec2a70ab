"""Host names as TLS server names and certificate installs give them (protocol/hostnames.py)."""

from __future__ import annotations

import pytest

from panelauth.protocol.hostnames import host_name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Bob.Example.", "bob.example"),
        (" www.bob.example ", "www.bob.example"),
        ("_acme-challenge.bob.example", "_acme-challenge.bob.example"),
        (f"{'a' * 63}.example", f"{'a' * 63}.example"),
    ],
)
def test_a_host_name_is_normalized(text: str, name: str) -> None:
    assert host_name(text) == name


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "localhost",  # one label
        "*.bob.example",  # a wildcard is a pattern, not a host
        "-bob.example",
        "bob-.example",
        "bob..example",
        "bob example.com",
        "bob.example\r\nx",
        f"{'a' * 64}.example",
        ".".join(["a" * 63] * 4),  # 255 characters
    ],
)
def test_anything_else_is_no_host_name(text: str | None) -> None:
    assert host_name(text) is None
