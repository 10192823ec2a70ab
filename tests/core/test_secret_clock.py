"""The Secret wrapper (never shown by accident) and the injectable clocks."""

from __future__ import annotations

import time

import pytest

from panelauth.clock import Clock, FrozenClock, SystemClock
from panelauth.secret import Secret

# -- Secret -------------------------------------------------------------------------------------


def test_reveal_returns_the_value() -> None:
    assert Secret("hunter2").reveal() == "hunter2"


@pytest.mark.parametrize("show", [repr, str, lambda s: f"{s}", lambda s: f"{s!r}", "{}".format])
def test_secret_is_never_shown(show: object) -> None:
    assert callable(show)
    text = show(Secret("hunter2-canary"))
    assert "hunter2" not in text
    assert text == "Secret('**********')"


def test_secret_in_a_container_repr_is_hidden() -> None:
    assert "canary" not in repr({"password": Secret("canary"), "list": [Secret("canary")]})


@pytest.mark.parametrize(("value", "truthy", "length"), [("", False, 0), ("abc", True, 3)])
def test_truthiness_and_length_follow_the_value(value: str, truthy: bool, length: int) -> None:
    assert bool(Secret(value)) is truthy
    assert len(Secret(value)) == length


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("abc", "abcd", False),
        ("\u00e9", "\u00e9", True),
        ("", "", True),
    ],
)
def test_secrets_compare_by_value(left: str, right: str, equal: bool) -> None:
    assert (Secret(left) == Secret(right)) is equal
    assert (Secret(left) != Secret(right)) is not equal


def test_a_secret_never_equals_a_plain_string() -> None:
    assert Secret("abc") != "abc"
    assert Secret("abc") not in {"abc"}


def test_equal_secrets_hash_alike() -> None:
    assert hash(Secret("abc")) == hash(Secret("abc"))
    assert len({Secret("abc"), Secret("abc"), Secret("xyz")}) == 2


def test_secret_has_no_instance_dict() -> None:
    with pytest.raises(AttributeError):
        Secret("abc").extra = 1  # type: ignore[attr-defined]


# -- clocks -------------------------------------------------------------------------------------


def test_system_clock_reads_wall_time() -> None:
    before = time.time()
    now = SystemClock().now()
    assert before <= now <= time.time()


def test_frozen_clock_starts_at_2026_by_default() -> None:
    assert FrozenClock().now() == 1_767_225_600.0
    assert time.gmtime(FrozenClock().now())[:3] == (2026, 1, 1)
    assert FrozenClock(start=5.0).now() == 5.0


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(start=100.0)
    assert clock.now() == clock.now() == 100.0
    clock.advance(2.5)
    assert clock.now() == 102.5
    clock.advance(-10)
    assert clock.now() == 92.5
    clock.set(7.0)
    assert clock.now() == 7.0


@pytest.mark.parametrize("clock", [SystemClock(), FrozenClock()])
def test_both_clocks_satisfy_the_protocol(clock: Clock) -> None:
    assert isinstance(clock.now(), float)
