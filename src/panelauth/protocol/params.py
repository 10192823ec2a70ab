"""Function arguments: `key=value` pairs with cPanel's `-N` list convention (w§20).

The same class carries arguments from a query string, a form body and the command line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload
from urllib.parse import parse_qsl

from panelauth.errors import BadRequest, InvalidArgument

_LIST_KEY = re.compile(r"(?P<base>.+)-(?P<index>[0-9]{1,6})")
MAX_PARAMETERS = 1000
T = TypeVar("T")


class Params(Mapping[str, str]):
    """Ordered arguments; `get` returns the last plain value, `get_list` merges `-N` forms."""

    __slots__ = ("_last", "_pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs: list[tuple[str, str]] = list(pairs)
        if len(self._pairs) > MAX_PARAMETERS:
            raise BadRequest("Too many parameters")
        self._last: dict[str, str] = {}
        for key, value in self._pairs:
            self._last[key] = value

    @classmethod
    def from_query(cls, *encoded: str) -> Params:
        """Parse URL-encoded strings (a query, then a body); invalid UTF-8 is a 400."""
        pairs: list[tuple[str, str]] = []
        for text in encoded:
            if not text:
                continue
            if "%" not in text and "+" not in text:
                # nothing encoded: a split gives what parse_qsl would, much faster
                fields = [part.partition("=") for part in text.split("&") if part]
                if len(fields) > MAX_PARAMETERS:
                    raise BadRequest("Too many parameters")
                pairs.extend((key, value) for key, _, value in fields)
                continue
            try:
                pairs.extend(
                    parse_qsl(
                        text,
                        keep_blank_values=True,
                        errors="strict",
                        max_num_fields=MAX_PARAMETERS,
                    )
                )
            except (UnicodeDecodeError, ValueError):
                raise BadRequest("Malformed or non-UTF-8 parameters") from None
        return cls(pairs)

    @classmethod
    def from_cli(cls, arguments: Iterable[str]) -> Params:
        """`key=value` words, split at the first `=` (w§20)."""
        pairs = []
        for word in arguments:
            key, equals, value = word.partition("=")
            if not equals or not key:
                raise InvalidArgument(f"Arguments must look like key=value, not “{word}”.")
            pairs.append((key, value))
        return cls(pairs)

    def __getitem__(self, key: str) -> str:
        return self._last[key]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str) -> str: ...
    @overload
    def get(self, key: str, /, default: T) -> str | T: ...
    def get(self, key: str, /, default: object = None) -> object:
        # Mapping.get would go through __getitem__ and raise KeyError for a missing key
        return self._last.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def pairs(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def require(self, key: str) -> str:
        """The value of a required parameter; missing or empty is an InvalidArgument."""
        value = self._last.get(key, "")
        if value == "":
            raise InvalidArgument(f"The “{key}” parameter is required.")
        return value

    def get_list(self, key: str) -> list[str]:
        """All values of `key` and `key-N` (N ascending), bare form first (w§20)."""
        bare = [value for k, value in self._pairs if k == key]
        indexed: list[tuple[int, str]] = []
        for k, value in self._pairs:
            match = _LIST_KEY.fullmatch(k)
            if match and match.group("base") == key:
                indexed.append((int(match.group("index")), value))
        indexed.sort(key=lambda item: item[0])
        return bare + [value for _, value in indexed]

    def get_bool(self, key: str, default: bool = False) -> bool:
        """cPanel booleans are 1/0 (w§15.1); anything else is an InvalidArgument."""
        value = self._last.get(key, "")
        if value == "":
            return default
        if value in ("1", "0"):
            return value == "1"
        raise InvalidArgument(f"The “{key}” parameter must be 1 or 0.")

    def without(self, *keys: str) -> Params:
        drop = set(keys)
        return Params((k, v) for k, v in self._pairs if k not in drop)
