"""The lock file beside the database that tells a restore a server is using it.

Every server holds a shared flock on `<db>.lock` while it runs; `run.py restore` needs it
exclusively. The kernel drops a flock when its process dies, so a crashed server never leaves a
stale lock behind, and a server cannot start while a restore is writing the file.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from app.private_files import private_file


class LockBusy(Exception):
    """Another process holds the lock in a conflicting mode."""


class ServeLock:
    """A flock on `<db>.lock`: shared for servers, exclusive for a restore."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self, *, exclusive: bool) -> None:
        """Take the lock without waiting; LockBusy when someone else holds it."""
        private_file(self.path)  # created 0600 like the database it guards
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(str(self.path)) from None
        self._fd = fd

    def release(self) -> None:
        """Let go (closing the descriptor drops the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
