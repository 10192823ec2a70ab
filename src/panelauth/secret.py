"""A wrapper that keeps secrets out of reprs, tracebacks and logs by accident."""

from __future__ import annotations

import hmac
from typing import Final


class Secret:
    """Holds a secret string; `str()` and `repr()` never show it, `reveal()` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value: Final = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        # constant-time, so comparing secrets never leaks a prefix length
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)
