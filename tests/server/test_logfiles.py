"""Log files: whole lines under concurrency, rotation, failures never fatal (LG-5, FT-6)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from panelauth.server import logfiles
from panelauth.server.logfiles import LogFile, reopen_all


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
