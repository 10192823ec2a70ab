"""Feature lists (w§16.5) and user-supplied search patterns (RE2, linear time)."""

from __future__ import annotations

import pytest

from panelauth.core.features import FEATURES, feature_enabled
from panelauth.core.patterns import MAX_PATTERN_CHARS, compile_search
from panelauth.errors import InvalidArgument

# -- features -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature_list", "feature", "expected"),
    [
        ({}, "webmail", True),  # not named: on
        ({"webmail": False}, "webmail", False),
        ({"webmail": True}, "webmail", True),
        ({"webmail": False}, "apitokens", True),
        (None, "webmail", False),  # a missing list grants nothing
        (None, "apitokens", False),
    ],
)
def test_feature_enabled(
    feature_list: dict[str, bool] | None, feature: str, expected: bool
) -> None:
    assert feature_enabled(feature_list, feature) is expected


def test_features_name_the_ones_panelauth_checks() -> None:
    assert {"apitokens", "popaccts", "twofactorauth", "webmail"} <= FEATURES.keys()
    assert FEATURES["apitokens"] == "Manage API Tokens"


# -- search patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("bob", "bob", True),
        ("bob", "xbobx", True),  # search, not full match
        ("^bob$", "xbobx", False),
        ("^b.b$", "bob", True),
        ("Bob", "bob", False),
        ("a|b", "b", True),
        (r"\d{3}", "ab123", True),
        ("", "anything", True),
    ],
)
def test_compile_search_matches_like_a_regex_search(
    pattern: str, text: str, expected: bool
) -> None:
    assert compile_search(pattern)(text) is expected


def test_compile_search_can_ignore_case() -> None:
    assert compile_search("BoB", ignore_case=True)("xbobx")
    assert not compile_search("BoB")("xbobx")


def test_accepts_a_pattern_at_the_length_limit() -> None:
    assert compile_search("a" * MAX_PATTERN_CHARS)("a" * MAX_PATTERN_CHARS)


def test_rejects_a_pattern_over_the_length_limit() -> None:
    with pytest.raises(InvalidArgument, match="too long"):
        compile_search("a" * (MAX_PATTERN_CHARS + 1))


@pytest.mark.parametrize(
    "pattern",
    [
        "(",
        "[a-",
        "*a",
        r"(a)\1",  # backreferences need backtracking: RE2 refuses them
        "(?=a)",  # so do lookarounds
        "a{1001}",
    ],
)
def test_rejects_patterns_outside_re2(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match="not a valid regular expression"):
        compile_search(pattern)
