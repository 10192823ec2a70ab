"""FT-10: this node's clock against the shared store's: the measurement, the decision, the
check every minute, and the setting. The PostgreSQL tests run against the real server of
tests/backends/conftest.py (this machine's), whose clock is this one."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator

import pytest

from panelauth.backends import open_store
from panelauth.clock import FrozenClock
from panelauth.core.clock_skew import Skew, SkewWatch, Verdict, judge, measure_skew
from panelauth.core.settings import ConfigError, Settings, settings_from_mapping
from panelauth.core.stores import Store
from panelauth.errors import StoreUnavailable
from tests.backends.conftest import postgresql_schema, postgresql_server, postgresql_store_url

__all__ = ["postgresql_schema", "postgresql_server", "postgresql_store_url"]

LOGGER = "panelauth.core.clock_skew"


class FakeStore:
    """A store whose clock reads `time` (None: no clock of its own); each call takes
    `delay` seconds of `ticks`, or raises `failure`."""

    def __init__(self, ticks: Ticks, time: float | None, delay: float = 0.0) -> None:
        self.ticks, self.time, self.delay = ticks, time, delay
        self.failure: Exception | None = None
        self.calls = 0

    async def store_time(self) -> float | None:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        self.ticks.now += self.delay / 2
        reading = self.time
        self.ticks.now += self.delay / 2
        return reading


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the decision -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "verdict"),
    [
        (0.0, Verdict.OK),
        (4.9, Verdict.OK),
        (5.0, Verdict.OK),  # at the threshold: not above it
        (-5.0, Verdict.OK),
        (5.01, Verdict.TOO_FAR),
        (-10.0, Verdict.TOO_FAR),
        (3600.0, Verdict.TOO_FAR),
    ],
)
def test_a_skew_above_the_threshold_either_way_is_too_far(seconds: float, verdict: Verdict) -> None:
    assert judge(Skew(seconds, 0.002), 5.0) is verdict


def test_a_store_without_a_clock_of_its_own_is_never_too_far() -> None:
    assert judge(None, 5.0) is Verdict.OK
    assert judge(None, 0.001) is Verdict.OK


def test_the_description_names_the_skew_its_direction_and_the_threshold() -> None:
    ahead = Skew(10.04, 0.004).describe(5.0)
    assert ahead.startswith("this node's clock is 10.0 s ahead of the store's")
    assert "±2.0 ms" in ahead and "max_clock_skew_seconds (5 s)" in ahead
    assert "7.5 s behind the store's" in Skew(-7.5, 0.0).describe(2.5)
    assert "(2.5 s)" in Skew(-7.5, 0.0).describe(2.5)


# -- the measurement ----------------------------------------------------------------------------


async def test_the_store_is_taken_to_read_its_clock_half_way_through_the_round_trip() -> None:
    ticks = Ticks()
    wall = FrozenClock(1_000.0)
    # the store reads 1_000.5 half-way through a 1 s round trip: no skew at all
    store = FakeStore(ticks, 1_000.5, delay=1.0)
    skew = await measure_skew(store, wall, monotonic=ticks, samples=1)
    assert skew == Skew(0.0, 1.0)
    assert skew.error == 0.5
    store.time = 990.5  # the store's clock 10 s behind: this node is 10 s ahead
    skew = await measure_skew(store, wall, monotonic=ticks, samples=1)
    assert skew is not None and skew.seconds == pytest.approx(10.0)


async def test_the_sample_with_the_shortest_round_trip_is_kept() -> None:
    ticks = Ticks()
    delays = iter([0.8, 0.1, 0.4])

    class Varying(FakeStore):
        async def store_time(self) -> float | None:
            self.delay = next(delays)
            return await super().store_time()

    store = Varying(ticks, 1_000.0)
    skew = await measure_skew(store, FrozenClock(1_000.0), monotonic=ticks, samples=3)
    assert store.calls == 3
    assert skew is not None and skew.round_trip == pytest.approx(0.1)
    assert skew.seconds == pytest.approx(0.05)  # the node's time at the midpoint, 50 ms later


async def test_a_store_without_a_clock_has_nothing_to_measure() -> None:
    store = FakeStore(Ticks(), None)
    assert await measure_skew(store, FrozenClock()) is None
    assert store.calls == 1


# -- every minute while serving -----------------------------------------------------------------


async def test_the_check_logs_an_error_with_the_numbers_while_the_skew_is_too_far(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    wall = FrozenClock(2_000.0)
    store = FakeStore(ticks, 2_000.0, delay=0.002)
    watch = SkewWatch(store, wall, 5.0, monotonic=ticks)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        skew = await watch.check()
        assert skew is not None and abs(skew.seconds) < 0.01
        assert not caplog.records  # within: nothing logged
        wall.advance(3.0)  # 3 s: still within
        await watch.check()
        assert not caplog.records
        wall.advance(9.0)  # the node's clock has run 12 s ahead
        await watch.check()
        await watch.check()  # every check while beyond
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    message = errors[0].getMessage()
    assert "clock skew (FT-10)" in message
    assert "12.0 s ahead of the store's" in message and "max_clock_skew_seconds (5 s)" in message
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        wall.advance(-12.0)  # set right
        await watch.check()
        await watch.check()
    [back] = caplog.records
    assert back.levelno == logging.WARNING and "back within 5 s" in back.getMessage()


async def test_a_store_that_does_not_answer_is_a_warning_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore(Ticks(), 0.0)
    store.failure = StoreUnavailable("connection refused")
    watch = SkewWatch(store, FrozenClock(), 5.0)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert await watch.check() is None
        assert await watch.check() is None
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith("cannot compare this node's clock with the store's")


async def test_the_watch_checks_every_interval() -> None:
    store = FakeStore(Ticks(), None)
    watch = SkewWatch(store, FrozenClock(), 5.0)
    runner = asyncio.create_task(watch.run(interval=0.01))
    try:
        deadline = time.monotonic() + 5
        while store.calls < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()
    assert store.calls >= 3


# -- against the real PostgreSQL server ---------------------------------------------------------


@pytest.fixture
async def postgresql(postgresql_store_url: str) -> AsyncIterator[Store]:
    store = await open_store(postgresql_store_url, migrate=True)
    yield store
    await store.aclose()


class AheadClock:
    """The system clock, `offset` seconds off."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset


async def test_the_skew_from_the_real_server_is_near_zero(postgresql: Store) -> None:
    skew = await measure_skew(postgresql, AheadClock(0.0))
    assert skew is not None
    assert abs(skew.seconds) < 0.25  # one machine: only the measurement's own error
    assert skew.round_trip < 0.5
    assert judge(skew, Settings().max_clock_skew_seconds) is Verdict.OK


async def test_a_node_clock_that_grows_ahead_of_the_real_server_is_logged(
    postgresql: Store, caplog: pytest.LogCaptureFixture
) -> None:
    wall = AheadClock(0.0)
    watch = SkewWatch(postgresql, wall, 5.0)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        await watch.check()
        assert not caplog.records
        wall.offset = 10.0
        skew = await watch.check()
    assert skew is not None and skew.seconds == pytest.approx(10.0, abs=0.25)
    [error] = caplog.records
    assert error.levelno == logging.ERROR
    assert "10.0 s ahead of the store's" in error.getMessage()


# -- the setting --------------------------------------------------------------------------------


def test_the_threshold_is_five_seconds_unless_set_to_a_positive_number() -> None:
    assert Settings().max_clock_skew_seconds == 5.0
    assert settings_from_mapping({"max_clock_skew_seconds": 2}).max_clock_skew_seconds == 2.0
    for wrong in (0, -1.5, math.nan, "5", True):
        with pytest.raises(ConfigError, match="max_clock_skew_seconds"):
            settings_from_mapping({"max_clock_skew_seconds": wrong})
