"""Files only the server's user may read: the data directory 0700, what is in it 0600.

The database and its -wal/-shm hold password hashes, session state and Cloud API tokens; the
backups hold the same. The modes are set explicitly (not left to the umask) and before any data
is written. SQLite creates a database's -wal, -shm and -journal with the database file's own
permissions, so creating the database file 0600 ourselves, before SQLite opens it, covers them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("condorito.files")

DIR_MODE = 0o700
FILE_MODE = 0o600
# The files SQLite keeps beside a database in WAL mode (and in rollback mode, for backups).
SIDECARS = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten: bool = True) -> None:
    """Create `path` (and its parents) with the new leaf 0700; tighten an existing one we own.

    A shared directory (sticky, like /tmp, or owned by someone else) is left alone with a
    warning: changing it would break its other users, and the files in it are 0600 anyway.
    """
    try:
        path.mkdir(parents=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)  # mkdir's mode went through the umask
        return
    except FileExistsError:
        pass
    if not tighten:
        return
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077:
        return
    if st.st_mode & stat.S_ISVTX or st.st_uid != os.getuid():
        log.warning("data directory is shared; its files are private, the directory is left as is",
                    extra={"fields": {"path": str(path), "mode": oct(mode)}})
        return
    os.chmod(path, DIR_MODE)
    log.info("data directory made private", extra={"fields": {"path": str(path), "was": oct(mode)}})


def private_file(path: Path) -> bool:
    """Make sure `path` exists with mode 0600 before anything is written to it.

    Creates it empty when absent (SQLite takes an empty file for a new database) and returns
    True; an existing file we own is tightened and False is returned.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten(path)
        return False
    try:
        os.fchmod(fd, FILE_MODE)  # os.open's mode went through the umask
    finally:
        os.close(fd)
    return True


def tighten(path: Path) -> None:
    """Take group and other permissions away from an existing file we own."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
        os.chmod(path, FILE_MODE)
        log.info("file made private", extra={"fields": {"path": str(path)}})


def private_database(path: Path) -> None:
    """The database file and whatever SQLite keeps beside it, 0600; its directory 0700."""
    private_dir(path.parent)
    private_file(path)
    for suffix in SIDECARS:
        tighten(Path(f"{path}{suffix}"))
