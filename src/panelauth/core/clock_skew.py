"""This node's clock against the shared store's (FT-10).

Nodes sharing a store decide with their own clocks and store the times they decide with: a
session's expiry, a lock's end, a block's, the step of a TOTP code. Two nodes whose clocks
disagree by more than a few seconds disagree about those decisions (a session one node ended
goes on on the other; a code one node finds too old the other accepts). So each node compares
its wall clock with the store server's: at start, where a skew above `max_clock_skew_seconds`
refuses the start (`panelauth serve`, before any worker is forked), and every minute while it
serves, where it is logged as an error with the numbers (`SkewWatch`, one per worker).

The node's wall clock, not its effective time: the wall clock is what TOTP codes follow and
what an effective time starts from; the effective time may be held ahead of it after the clock
was set back (FT-9, panelauth.clock), which is no skew between machines.

The measurement (`measure_skew`), as NTP's: read the wall clock, ask the store for its time,
and take the store's reading to have been made half-way through the round trip. The skew is
the node's time at that midpoint minus the store's; its error is at most half the round trip
(timed with the monotonic clock), and of a few samples the one with the shortest round trip
is kept. A store without a clock of its own (SQLite: this machine's) has no skew to measure.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from panelauth.clock import Clock
from panelauth.core.stores import StoreClock
from panelauth.errors import PanelauthError

log = logging.getLogger(__name__)

SAMPLES: Final = 3  # round trips per measurement; the shortest is kept
CHECK_SECONDS: Final = 60.0  # between two checks while serving


@dataclass(frozen=True, slots=True)
class Skew:
    """One measurement: `seconds` is this node's clock minus the store's (positive: the node is
    ahead), known within ± half of `round_trip`."""

    seconds: float
    round_trip: float

    @property
    def error(self) -> float:
        """The most the measurement can be off by: half the round trip."""
        return self.round_trip / 2

    def describe(self, threshold: float) -> str:
        """One line with the numbers, for the refusal and the log."""
        direction = "ahead of" if self.seconds > 0 else "behind"
        return (
            f"this node's clock is {abs(self.seconds):.1f} s {direction} the store's "
            f"(measured to ±{self.error * 1000:.1f} ms), more than max_clock_skew_seconds "
            f"({threshold:g} s) allows"
        )


class Verdict(enum.Enum):
    OK = "ok"  # within the threshold, or a store without a clock of its own
    TOO_FAR = "too far"


def judge(skew: Skew | None, threshold: float) -> Verdict:
    """Whether a measured skew (None: nothing to compare with) is beyond `threshold` seconds."""
    if skew is None or abs(skew.seconds) <= threshold:
        return Verdict.OK
    return Verdict.TOO_FAR


async def measure_skew(
    store: StoreClock,
    wall: Clock,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    samples: int = SAMPLES,
) -> Skew | None:
    """This node's skew from the store (see the module's doc); None if the store has no clock
    of its own. A store that cannot answer raises StoreUnavailable."""
    best: Skew | None = None
    for _ in range(max(1, samples)):
        started = monotonic()
        node = wall.now()
        stored = await store.store_time()
        round_trip = max(0.0, monotonic() - started)
        if stored is None:
            return None
        skew = Skew(node + round_trip / 2 - stored, round_trip)
        if best is None or skew.round_trip < best.round_trip:
            best = skew
    return best


class SkewWatch:
    """The check while serving: an error in the app log at every check whose skew is beyond the
    threshold (with the numbers), a warning once when it is back within."""

    def __init__(
        self,
        store: StoreClock,
        wall: Clock,
        threshold: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._wall = wall
        self._threshold = threshold
        self._monotonic = monotonic
        self._beyond = False
        self._unreadable = False

    async def check(self) -> Skew | None:
        """One measurement, logged as the class says; None when there was nothing to measure
        (a store without a clock, or one that did not answer: a warning, once)."""
        try:
            skew = await measure_skew(self._store, self._wall, monotonic=self._monotonic)
        except PanelauthError as error:
            if not self._unreadable:
                log.warning("cannot compare this node's clock with the store's: %s", error.message)
            self._unreadable = True
            return None
        self._unreadable = False
        if judge(skew, self._threshold) is Verdict.TOO_FAR:
            assert skew is not None
            log.error(
                "clock skew (FT-10): %s; decisions this node shares with the others (expiry, "
                "locks, TOTP steps) drift apart: set this machine's time right (NTP)",
                skew.describe(self._threshold),
            )
            self._beyond = True
        elif self._beyond and skew is not None:
            log.warning(
                "clock skew (FT-10): this node's clock is back within %g s of the store's "
                "(%+.1f s)",
                self._threshold,
                skew.seconds,
            )
            self._beyond = False
        return skew

    async def run(self, interval: float = CHECK_SECONDS) -> None:
        """Check every `interval` seconds until cancelled (the start was checked already)."""
        while True:
            await asyncio.sleep(interval)
            await self.check()
