"""The `.accesshash` file in a user's home directory (w§12)."""

from __future__ import annotations

import os
from pathlib import Path

FILE_NAME = ".accesshash"


def access_hash_path(home_root: Path, user: str) -> Path:
    # the user name was validated at creation; only root has an access hash (TK-9)
    return home_root / user / FILE_NAME


def write_access_hash_file(path: Path, text: str) -> Path:
    """Write to a temporary file (mode 0600) beside `path`; the caller renames it in place."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f"{FILE_NAME}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    return temporary


def read_access_hash_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
