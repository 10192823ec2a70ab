"""The server's clock (FT-9): an EffectiveClock seeded from, and kept in, the data directory.

Every worker opens its own clock after the fork, from `<data dir>/effective-time.json`, and
merges its effective time into that file about once a second while it serves (in a thread,
so the event loop never waits for the disk), and once more when it stops.
"""

from __future__ import annotations

import asyncio
import logging

from panelauth.clock import EffectiveClock, HighWaterMark
from panelauth.server.datadir import DataDir

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 1.0


def open_clock(data_dir: DataDir) -> EffectiveClock:
    """The clock of a worker: seeded from the persisted mark, which it writes at once."""
    clock = EffectiveClock(HighWaterMark(data_dir.effective_time))
    clock.checkpoint(force=True)  # an unwritable data directory stops the start here
    return clock


async def keep_persisted(clock: EffectiveClock, interval: float = CHECKPOINT_SECONDS) -> None:
    """Checkpoint `clock` every `interval` seconds until cancelled; failures are logged once."""
    failing = False
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(clock.checkpoint)
        except OSError as error:
            if not failing:
                log.warning("cannot persist the effective time; will retry: %s", error)
            failing = True
        else:
            failing = False


def last_checkpoint(clock: EffectiveClock) -> None:
    """The checkpoint at shutdown: a failure is logged, never raised."""
    try:
        clock.checkpoint(force=True)
    except OSError as error:
        log.warning("cannot persist the effective time at shutdown: %s", error)
