"""The readers' side of the one-writer lock (the standard library only, so that `ppa status`
stays light).

A writer holds an exclusive flock on `<warehouse>.lock` while connected
(`warehouse.db.writer_lock`). DuckDB itself refuses a read-write connection while another
process has the file open read-only, so a reader of the warehouse takes a shared flock on the
same file for as long as it is connected: a writer then waits for the reader instead of failing
with "Could not set lock".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class WarehouseLockTimeout(RuntimeError):
    """The warehouse stayed busy for longer than the caller would wait."""


class ReaderLockTimeout(WarehouseLockTimeout):
    """A writer held the warehouse for longer than a reader would wait."""


def wait_for_flock(fd: int, mode: int, timeout_s: float, error: type[WarehouseLockTimeout]) -> None:
    """flock(fd, mode), trying every 0.1 s for at most `timeout_s`, then raising `error`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise error(f"warehouse busy for more than {timeout_s:.0f}s") from None
            time.sleep(0.1)


@contextlib.contextmanager
def reader_lock(db_path: Path, timeout_s: float) -> Iterator[None]:
    """A shared flock on `<db_path>.lock`, waiting at most `timeout_s` for a writer to finish. No
    lock file means no writer ever ran: nothing to wait for."""
    try:
        fd = os.open(f"{db_path}.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield
        return
    try:
        wait_for_flock(fd, fcntl.LOCK_SH, timeout_s, ReaderLockTimeout)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
