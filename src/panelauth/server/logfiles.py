"""Append-only log files: lines written in batches, reopened when rotated, never fatal.

* Buffer (issue 9): in the server (`flush_interval` > 0, inside a running event loop) a line
  goes to a per-file buffer; the buffer is written at most `flush_interval` seconds after its
  first line (a loop timer, armed only when a line enters an empty buffer: no timer when idle),
  at once when it holds `buffer_limit` characters, before a reopen (SIGHUP: lines written
  before it go to the old file) and on `flush`/`close` (graceful shutdown). A kill -9 loses at
  most the last `flush_interval` of lines. Without a running loop, or with `flush_interval` 0
  (the CLI, the app log), each line is written at once. Buffered files are written from the
  event loop's thread.
* LG-5: each batch goes out in a single O_APPEND write of whole lines, so lines from several
  workers never interleave or tear; whole batches of different workers alternate, so their
  lines may be out of time order by up to `flush_interval`.
* Rotation: the file is reopened on SIGHUP (`reopen_all`) or when the path no longer names the
  open file (checked at most once a second, before a write).
* FT-6: a failed write (disk full) falls back to stderr with a warning; requests go on.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import sys
import time
import weakref
from pathlib import Path
from typing import Any

from panelauth.protocol.logformat import json_line

_OPEN_FILES: weakref.WeakSet[LogFile] = weakref.WeakSet()
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CHECK_INTERVAL = 1.0
FLUSH_INTERVAL = 0.1  # seconds: what a kill -9 may lose at most (docs/data-directory.md)
BUFFER_LIMIT = 64 * 1024  # characters buffered before a write without waiting for the timer


def _joined(lines: list[str]) -> str:
    """The lines, each ended by LF, with nothing else any reader takes for a line break.

    The formatters escape, so this is the last guard (w§14.4): every `str.splitlines()`
    separator inside a line becomes a space. Checked once per batch: an ASCII batch holding
    exactly one LF per line and none of the other ASCII separators (the rest are not ASCII) is
    written as it is; only a batch failing that check is cleaned line by line.
    """
    lines.append("")
    text = "\n".join(lines)
    if (
        text.isascii()
        and text.count("\n") == len(lines) - 1
        and "\r" not in text
        and "\x0b" not in text
        and "\x0c" not in text
        and "\x1c" not in text
        and "\x1d" not in text
        and "\x1e" not in text
    ):
        return text
    return "\n".join([_LINE_BREAKS.sub(" ", line) for line in lines])


class LogFile:
    def __init__(
        self, path: Path, *, flush_interval: float = 0.0, buffer_limit: int = BUFFER_LIMIT
    ) -> None:
        self.path = path
        self._fd = -1
        self._inode: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._failing = False
        self._flush_interval = flush_interval
        self._buffer_limit = buffer_limit
        self._pending: list[str] = []
        self._pending_size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._open()
        _OPEN_FILES.add(self)

    def _open(self) -> None:
        try:
            # private whatever the umask: the directory 0700, the file 0600 (data-directory modes)
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            self._warn(f"cannot open {self.path}: {error}")
            return
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        stat = os.fstat(fd)
        self._inode = (stat.st_dev, stat.st_ino)

    def reopen(self) -> None:
        """Write what is buffered to the file open now, then open the path afresh (SIGHUP)."""
        self._flush(check_rotation=False)
        self._open()

    def _rotated(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at < _CHECK_INTERVAL:
            return False
        self._checked_at = now
        try:
            stat = os.stat(self.path)
        except OSError:
            return True
        return (stat.st_dev, stat.st_ino) != self._inode

    def write_line(self, line: str) -> None:
        pending = self._pending
        if pending:  # the common case under load: the timer is armed already
            pending.append(line)
            self._pending_size += len(line)
            if self._pending_size >= self._buffer_limit:
                self.flush()
            return
        if self._flush_interval > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a thread, a script): nothing would flush later
                pass
            else:
                pending.append(line)
                self._pending_size = len(line)
                if self._pending_size >= self._buffer_limit:
                    self.flush()
                else:
                    self._timer = loop.call_later(self._flush_interval, self.flush)
                return
        self._write([line], check_rotation=True)

    def flush(self) -> None:
        """Write every buffered line now (the timer, the size bound, shutdown)."""
        self._flush(check_rotation=True)

    def _flush(self, *, check_rotation: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines = self._pending
        if lines:
            self._pending = []
            self._pending_size = 0
            self._write(lines, check_rotation=check_rotation)

    def _write(self, lines: list[str], *, check_rotation: bool) -> None:
        data = _joined(lines).encode("utf-8", "replace")
        if self._fd < 0 or (check_rotation and self._rotated()):
            self._open()
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # only after a short write (a full disk, a signal)
                data = data[written:]
                written = os.write(self._fd, data)
            self._failing = False
        except OSError as error:  # what is not written goes to stderr
            self._warn(f"cannot write {self.path}: {error}")
            with contextlib.suppress(OSError):
                sys.stderr.write(data.decode("utf-8", "replace"))

    def _warn(self, message: str) -> None:
        if not self._failing:
            self._failing = True
            with contextlib.suppress(OSError):
                sys.stderr.write(f"panelauth: log failure: {message}\n")

    def close(self) -> None:
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def reopen_all() -> None:
    """Reopen every log file (SIGHUP after an external rotation), its buffer written first."""
    for log_file in list(_OPEN_FILES):
        log_file.reopen()


def flush_all() -> None:
    """Write every buffered line of every log file of this process, to the files open now."""
    for log_file in list(_OPEN_FILES):
        log_file._flush(check_rotation=False)


atexit.register(flush_all)  # a normal exit that skipped `close` still writes what is buffered


class JsonLinesLog:
    """One JSON document per line (the audit log, w§14.4)."""

    def __init__(self, file: Path | LogFile) -> None:
        self._file = file if isinstance(file, LogFile) else LogFile(file)

    def write(self, **fields: Any) -> None:
        self.write_document(fields)

    def write_document(self, document: dict[str, Any]) -> None:
        # json_line escapes what JSON encoders leave raw (U+2028, NEL, DEL): one record, one line
        self._file.write_line(json_line(document))

    def write_serialised(self, line: str) -> None:
        """A document already serialised as one line by `json_line` (or `timed_json_line`)."""
        self._file.write_line(line)

    def close(self) -> None:
        self._file.close()
