"""Time as a dependency: code asks a Clock, tests move a FrozenClock (never patch time).

The server asks an `EffectiveClock` (FT-9): a non-decreasing "effective now", the later of the
wall clock and the last effective time plus the monotonic time elapsed since. A clock set back
never extends a session, token, lock or ban; a clock set forward can only expire things early.
The effective time is persisted in a small file of the data directory (`HighWaterMark`), so it
also holds across a restart and between the pre-forked workers of one data directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# the wall clock this far behind the effective time is worth a warning (once per episode)
BEHIND_WARNING_SECONDS = 5.0


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = when


class _SourceClock:
    """A Clock over a plain time source (the wall clock an EffectiveClock wraps)."""

    def __init__(self, source: Callable[[], float]) -> None:
        self._source = source

    def now(self) -> float:
        return self._source()


def current_boot_id(path: Path = BOOT_ID) -> str:
    """The kernel's boot id: monotonic readings compare only within one boot ("" if unknown)."""
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class Mark:
    """An effective time and the monotonic reading it was taken at, in boot `boot`."""

    effective: float
    monotonic: float
    boot: str

    def carried(self, monotonic: float, boot: str) -> float:
        """This mark moved on to `monotonic`: by the elapsed time when in the same boot."""
        if boot and boot == self.boot and monotonic > self.monotonic:
            return self.effective + (monotonic - self.monotonic)
        return self.effective


class HighWaterMark:
    """The highest effective time of a data directory, in a small JSON file (mode 0600).

    A file rather than a store row: it is a property of this host (its monotonic clock and
    boot), a store may be shared by several hosts, and a write a second per worker should not
    compete with requests for SQLite's write lock. Several workers share it: each merges under
    an exclusive `flock` of `<file>.lock` and writes `max(own, file)` to a temporary file that
    is renamed over the old one, so the file never goes back and is never half written.
    """

    def __init__(self, path: Path, *, boot: str | None = None) -> None:
        self.path = path
        self.boot = current_boot_id() if boot is None else boot

    def read(self) -> Mark | None:
        """The persisted mark; None when missing or unreadable (then the wall clock seeds)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            mark = Mark(float(raw["effective"]), float(raw["monotonic"]), str(raw["boot"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as error:
            log.warning("ignoring an unreadable clock high-water mark %s: %s", self.path, error)
            return None
        if not (math.isfinite(mark.effective) and math.isfinite(mark.monotonic)):
            log.warning("ignoring a clock high-water mark that is not finite: %s", self.path)
            return None
        return mark

    def merge(self, effective: float, monotonic: float) -> float:
        """Persist `max(effective, the file's mark carried to monotonic)` and return it."""
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stored = self.read()
            if stored is not None:
                effective = max(effective, stored.carried(monotonic, self.boot))
            self._write(Mark(effective, monotonic, self.boot))
        finally:
            os.close(lock)  # releases the lock
        return effective

    def _write(self, mark: Mark) -> None:
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        text = json.dumps(
            {"effective": mark.effective, "monotonic": mark.monotonic, "boot": mark.boot}
        )
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise


class EffectiveClock:
    """`now()` is the later of the wall clock and the last effective time plus the monotonic
    time elapsed since: it never goes back, and keeps advancing in real time (FT-9).

    `now()` does no I/O (it sits on every request); `checkpoint()` persists to the high-water
    mark and adopts a later time another worker wrote there. The server calls `checkpoint()`
    about once a second off the event loop, and once more when it stops. `wall` is the plain
    wall clock, for what must follow the system clock (TOTP codes).
    """

    def __init__(
        self,
        mark: HighWaterMark | None = None,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall, self._monotonic, self._mark = wall, monotonic, mark
        self.wall: Clock = _SourceClock(wall)
        reading = monotonic()
        effective = wall()
        if mark is not None and (stored := mark.read()) is not None:
            effective = max(effective, stored.carried(reading, mark.boot))
        # (effective time, monotonic reading it was taken at), replaced whole: the loop thread
        # and the checkpoint thread share it without a lock (a lost update only delays the
        # adoption of another worker's time to the next checkpoint; it never goes back)
        self._state = (effective, reading)
        self._read_since_checkpoint = True  # so the first checkpoint writes the file
        self._warned = False

    def now(self) -> float:
        self._read_since_checkpoint = True
        return self._advance()[0]

    def _advance(self) -> tuple[float, float]:
        """Move the effective time to this moment: (effective time, monotonic reading)."""
        wall, reading = self._wall(), self._monotonic()
        effective, anchor = self._state
        carried = effective + (reading - anchor if reading > anchor else 0.0)
        state = self._state = (wall if wall > carried else carried, reading)
        return state

    def behind(self) -> float:
        """How far the wall clock is behind the effective time, in seconds (0 when not)."""
        return max(0.0, self._advance()[0] - self._wall())

    def checkpoint(self, *, force: bool = False) -> None:
        """Merge with the high-water mark, if read since the last checkpoint (or `force`)."""
        if self._mark is None or not (force or self._read_since_checkpoint):
            return
        self._read_since_checkpoint = False
        effective, reading = self._advance()
        try:
            best = self._mark.merge(effective, reading)  # file I/O
        except OSError:
            self._read_since_checkpoint = True  # the next checkpoint tries again
            raise
        # another worker may have written a later time: carry it to this moment, adopt it
        current, now_reading = self._advance()
        adopted = best + max(0.0, now_reading - reading)
        if adopted > current:
            self._state = (adopted, now_reading)
        self._warn_when_behind()

    def _warn_when_behind(self) -> None:
        behind = self.behind()
        if behind >= BEHIND_WARNING_SECONDS and not self._warned:
            log.warning(
                "the system clock is %.0f s behind panelauth's effective time (it was set back);"
                " expiry decisions keep following the effective time (FT-9)",
                behind,
            )
        self._warned = behind >= BEHIND_WARNING_SECONDS
