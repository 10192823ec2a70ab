"""The checks and key ranges every backend's plugin records share (core/stores.py)."""

from __future__ import annotations

from panelauth.core.stores import plugin_prefix_end


def test_a_prefix_range_ends_just_above_every_key_that_starts_with_it() -> None:
    assert plugin_prefix_end("") is None
    assert plugin_prefix_end("zone:") == "zone;"
    # the highest code point cannot be raised: the range ends above the shorter prefix
    assert plugin_prefix_end("a" + chr(0x10FFFF)) == "b"
    assert plugin_prefix_end(chr(0x10FFFF) * 2) is None
    # surrogates are never in a key: the next code point after U+D7FF is U+E000
    assert plugin_prefix_end("a" + chr(0xD7FF)) == "a" + chr(0xE000)
