"""The structured application log: JSON lines in logs/panelauth.log, warnings also on stderr."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from panelauth.protocol.logformat import json_line
from panelauth.server.logfiles import LogFile


class JsonLinesHandler(logging.Handler):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = LogFile(path)

    def emit(self, record: logging.LogRecord) -> None:
        document = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = logging.Formatter().formatException(record.exc_info)
        self._file.write_line(json_line(document))  # printable ASCII: one record, one line


def configure_logging(log_dir: Path, *, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(JsonLinesHandler(log_dir / "panelauth.log"))
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("panelauth: %(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    # aiohttp's per-request access logger is replaced by panelauth's access_log
    logging.getLogger("aiohttp.access").disabled = True
