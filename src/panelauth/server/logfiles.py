"""Append-only log files: one `write()` per line, reopened when rotated, never fatal.

* LG-5: each line goes out in a single O_APPEND write, so lines from several workers never
  interleave or tear.
* Rotation: the file is reopened on SIGHUP (`reopen_all`) or when the path no longer names the
  open file (checked at most once a second).
* FT-6: a failed write (disk full) falls back to stderr with a warning; requests go on.
"""

from __future__ import annotations

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


class LogFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._inode: tuple[int, int] | None = None
        self._checked_at = 0.0
        self._failing = False
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
        # the formatters escape; this is the last guard: nothing any reader takes for a line
        # break (every `str.splitlines()` separator) reaches the file inside a line (w§14.4)
        data = (_LINE_BREAKS.sub(" ", line) + "\n").encode("utf-8", "replace")
        if self._fd < 0 or self._rotated():
            self._open()
        try:
            os.write(self._fd, data)
            self._failing = False
        except OSError as error:
            self._warn(f"cannot write {self.path}: {error}")
            with contextlib.suppress(OSError):
                sys.stderr.write(data.decode("utf-8"))

    def _warn(self, message: str) -> None:
        if not self._failing:
            self._failing = True
            with contextlib.suppress(OSError):
                sys.stderr.write(f"panelauth: log failure: {message}\n")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def reopen_all() -> None:
    """Reopen every log file (SIGHUP after an external rotation)."""
    for log_file in list(_OPEN_FILES):
        log_file.reopen()


class JsonLinesLog:
    """One JSON document per line (the audit log, w§14.4)."""

    def __init__(self, path: Path) -> None:
        self._file = LogFile(path)

    def write(self, **fields: Any) -> None:
        # json_line escapes what JSON encoders leave raw (U+2028, NEL, DEL): one record, one line
        self._file.write_line(json_line(fields))

    def close(self) -> None:
        self._file.close()
