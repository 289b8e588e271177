"""Folders 0700 and files 0600 whatever the umask: telemetry, phone numbers and secrets."""

from __future__ import annotations

import errno
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700, and tighten it if it already exists."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)  # mkdir's mode is cut by the umask; an old folder keeps its own
    return path


def open_private(path: Path, flags: int) -> int:
    """os.open a file as 0600 whatever the umask (an existing file is tightened too)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def touch_private(path: Path) -> None:
    """Create `path` empty as 0600 if missing, or tighten it (before SQLite opens it)."""
    os.close(open_private(path, os.O_RDWR))


def write_all(fd: int, data: bytes) -> None:
    """os.write until all of `data` is written (a short write is not an error by itself)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.EIO, "write returned 0")
        view = view[n:]
