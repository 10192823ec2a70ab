"""The server's clock: opened from the data directory, kept there while serving (FT-9)."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from pathlib import Path

import pytest

from panelauth.clock import EffectiveClock, HighWaterMark
from panelauth.server.datadir import DataDir
from panelauth.server.effective_time import keep_persisted, last_checkpoint, open_clock


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path)


def test_a_worker_clock_writes_its_mark_at_once(data_dir: DataDir) -> None:
    clock = open_clock(data_dir)
    stored = json.loads(data_dir.effective_time.read_text())
    assert stored["effective"] <= clock.now()
    assert stat.S_IMODE(data_dir.effective_time.stat().st_mode) == 0o600


def test_a_worker_clock_starts_from_a_mark_ahead_of_the_wall_clock(data_dir: DataDir) -> None:
    ahead = EffectiveClock(HighWaterMark(data_dir.effective_time), wall=lambda: 4_000_000_000.0)
    ahead.checkpoint()
    assert open_clock(data_dir).now() >= 4_000_000_000.0


async def test_the_mark_is_kept_while_serving_and_failures_are_logged_once(
    data_dir: DataDir, caplog: pytest.LogCaptureFixture
) -> None:
    clock = open_clock(data_dir)
    calls: list[bool] = []

    def checkpoint(*, force: bool = False) -> None:
        calls.append(force)
        if len(calls) in (2, 3):
            raise OSError(28, "No space left on device")

    clock.checkpoint = checkpoint  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="panelauth.server.effective_time"):
        task = asyncio.create_task(keep_persisted(clock, interval=0.001))
        while len(calls) < 5:
            await asyncio.sleep(0.001)
        task.cancel()
    assert calls[:5] == [False] * 5
    assert caplog.text.count("cannot persist the effective time; will retry") == 1


def test_the_last_checkpoint_forces_a_write_and_never_raises(
    data_dir: DataDir, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = open_clock(data_dir)
    data_dir.effective_time.unlink()
    last_checkpoint(clock)
    assert data_dir.effective_time.exists()

    def disk_full(self: HighWaterMark, effective: float, monotonic: float) -> float:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(HighWaterMark, "merge", disk_full)
    with caplog.at_level(logging.WARNING, logger="panelauth.server.effective_time"):
        last_checkpoint(clock)  # the shutdown goes on
    assert "cannot persist the effective time at shutdown" in caplog.text
