"""`goto_uri` after login: only same-origin relative paths survive (w§3.3, RX-1)."""

from __future__ import annotations

import pytest

from panelauth.protocol.paths import safe_goto


@pytest.mark.parametrize(
    "uri",
    [
        "/",
        "/frontend/jupiter/index.html",
        "/cpsess0123456789/frontend/jupiter/?a=1&b=%C3%A9",
        "/webmail/%7Euser/inbox",
        "/" + "a" * 2047,
    ],
)
def test_keeps_same_origin_paths_unchanged(uri: str) -> None:
    assert safe_goto(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        None,
        "",
        "frontend/jupiter/",  # relative to the current page
        "https://evil.example/",
        "//evil.example/",  # scheme-relative: another host
        "/%2Fevil.example/",  # decodes to //evil.example
        "/\\evil.example/",  # browsers read a backslash as a slash
        "/%5Cevil.example/",
        "/redirect?to=https://evil.example",
        "/a%0d%0aSet-Cookie:x=1",  # header splitting
        "/a%09b",
        "/a b",
        "/a%7f",
        "/a%C2%A0b",  # a non-breaking space is whitespace too
        "/" + "a" * 2048,
        # percent-escapes that are not UTF-8 are refused rather than guessed at
        "/%ff",
        "/caf%E9",
        "/%C3",
        "/%ED%A0%80",  # an encoded surrogate is not valid UTF-8
    ],
)
def test_refuses_everything_else(uri: str | None) -> None:
    assert safe_goto(uri) is None
