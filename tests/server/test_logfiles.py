"""Log files: whole lines under concurrency, rotation, failures never fatal (LG-5, FT-6), and
the buffer: lines in batches, written within FLUSH_INTERVAL, before a reopen and at close."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from panelauth.server import logfiles
from panelauth.server.logfiles import LogFile, flush_all, reopen_all


def test_concurrent_writers_never_tear_or_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "session_log"
    writers = [LogFile(path) for _ in range(4)]

    def write(index: int) -> None:
        for number in range(500):
            writers[index].write_line(f"writer={index} line={number} " + "x" * 200)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 2000
    assert all(line.endswith("x" * 200) and line.startswith("writer=") for line in lines)


def test_newlines_inside_a_line_never_split_it(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    log.write_line("one\ntwo\rthree")
    assert (tmp_path / "log").read_text() == "one two three\n"


def test_reopen_after_the_file_is_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles, "_CHECK_INTERVAL", 0.0)
    path = tmp_path / "access_log"
    log = LogFile(path)
    log.write_line("before")
    os.rename(path, tmp_path / "access_log.1")
    log.write_line("after")
    assert (tmp_path / "access_log.1").read_text() == "before\n"
    assert path.read_text() == "after\n"


def test_sighup_reopens_every_log(tmp_path: Path) -> None:
    path = tmp_path / "login_log"
    log = LogFile(path)
    log.write_line("before")
    os.rename(path, tmp_path / "login_log.1")
    reopen_all()
    log.write_line("after")
    assert path.read_text() == "after\n"


def test_a_failing_log_goes_to_stderr_and_never_raises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = LogFile(tmp_path / "log")
    log.close()
    log._fd = 10_000  # a closed descriptor: every write fails, like a full disk
    log.write_line("kept anyway")
    log.write_line("and again")
    captured = capsys.readouterr().err
    assert "kept anyway" in captured and "and again" in captured
    assert captured.count("log failure") == 1


# the buffer (issue 9): batches, at most FLUSH_INTERVAL late, flushed before a reopen and at close


def buffered(path: Path, **options: Any) -> LogFile:
    return LogFile(path, flush_interval=logfiles.FLUSH_INTERVAL, **options)


async def wait_for_text(path: Path, expected: str, timeout: float = 2.0) -> float:
    """Seconds until `path` holds `expected`; fails after `timeout`."""
    started = time.monotonic()
    while path.read_text() != expected:
        assert time.monotonic() - started < timeout, path.read_text()
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_a_buffered_line_reaches_the_file_within_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    log = buffered(path)
    assert log._timer is None  # idle: no timer
    log.write_line("one")
    log.write_line("two")
    assert path.read_text() == ""  # buffered, not written yet
    assert log._timer is not None  # armed by the first line only
    waited = await wait_for_text(path, "one\ntwo\n")
    assert waited <= logfiles.FLUSH_INTERVAL + 0.4  # the timer alone (slack for a busy host)
    assert log._timer is None  # idle again: no timer
    assert path.stat().st_mode & 0o777 == 0o600
    log.write_line("three")
    await wait_for_text(path, "one\ntwo\nthree\n")


async def test_a_burst_over_the_size_bound_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "access_log"
    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: Any) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    log = buffered(path)
    line = "x" * 99
    number = logfiles.BUFFER_LIMIT // len(line) + 1  # just over the bound
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", counting_write)
        for _ in range(number):
            log.write_line(line)
    assert path.read_text() == (line + "\n") * number  # no await: the bound, not the timer
    assert writes == [number * 100]  # one write for the whole batch
    assert log._timer is None
    log.write_line("one line alone longer than the bound" + "y" * logfiles.BUFFER_LIMIT)
    assert path.read_text().count("\n") == number + 1


async def test_sighup_writes_buffered_lines_to_the_old_file_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # even when the once-a-second "moved?" check is due: lines written before the SIGHUP belong
    # to the file that was open then (logrotate renames, then signals)
    monkeypatch.setattr(logfiles, "_CHECK_INTERVAL", 0.0)
    path = tmp_path / "access_log"
    log = buffered(path)
    log.write_line("before one")
    log.write_line("before two")
    os.rename(path, tmp_path / "access_log.1")
    reopen_all()
    assert (tmp_path / "access_log.1").read_text() == "before one\nbefore two\n"
    log.write_line("after")
    assert path.read_text() == ""
    await wait_for_text(path, "after\n")
    assert (tmp_path / "access_log.1").read_text() == "before one\nbefore two\n"


async def test_close_and_flush_all_write_everything_buffered(tmp_path: Path) -> None:
    first, second = buffered(tmp_path / "a"), buffered(tmp_path / "b")
    first.write_line("a1")
    second.write_line("b1")
    flush_all()
    assert (tmp_path / "a").read_text() == "a1\n" and (tmp_path / "b").read_text() == "b1\n"
    first.write_line("a2")
    first.close()  # shutdown
    assert (tmp_path / "a").read_text() == "a1\na2\n"
    assert first._timer is None
    second.close()


def test_without_a_running_loop_a_buffered_file_writes_at_once(tmp_path: Path) -> None:
    log = buffered(tmp_path / "log")
    log.write_line("now")  # a script or a thread: no loop would ever flush it
    assert (tmp_path / "log").read_text() == "now\n"


async def test_a_batch_never_carries_a_line_break_inside_a_line(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = buffered(path)
    for line in ["clean", "a\u2028b", "c\rd\ne", "caf\u00e9 \x85 f", "x\x1cy", "last"]:
        log.write_line(line)
    log.flush()
    text = path.read_text()
    assert text == "clean\na b\nc d e\ncaf\u00e9   f\nx y\nlast\n"
    assert text.splitlines() == text[:-1].split("\n")


@pytest.mark.parametrize("separator", ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\n"])
def test_each_ascii_separator_fails_the_batch_check(separator: str) -> None:
    assert logfiles._joined(["a", f"b{separator}c"]) == "a\nb c\n"
    assert logfiles._joined(["a", "b"]) == "a\nb\n"


def test_a_short_write_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def short_write(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(os, "write", short_write)
    log = LogFile(tmp_path / "log")
    log.write_line("a longer line")
    assert (tmp_path / "log").read_text() == "a longer line\n"
