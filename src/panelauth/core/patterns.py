"""User-supplied search patterns, matched in linear time (RE2) so no regex can stall the loop."""

from __future__ import annotations

from collections.abc import Callable

import re2

from panelauth.errors import InvalidArgument

MAX_PATTERN_CHARS = 256


def compile_search(pattern: str, *, ignore_case: bool = False) -> Callable[[str], bool]:
    """A predicate for `pattern` (PCRE-like syntax, RE2 semantics); InvalidArgument if bad."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidArgument("The search pattern is too long.")
    try:
        compiled = re2.compile(("(?i)" if ignore_case else "") + pattern)
    except re2.error:
        raise InvalidArgument("The search pattern is not a valid regular expression.") from None
    return lambda text: compiled.search(text) is not None
