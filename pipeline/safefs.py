"""Reading and writing files without following links or leaving the pipeline's folders.

Agency staff can put anything into their folder: a symbolic link to another agency's
file, an `umpan-balik` link to a folder elsewhere, a FIFO. So the pipeline

- opens files to read with `open_regular`: no link is followed (O_NOFOLLOW; below a root,
  every folder on the way opened the same way), a FIFO never blocks (O_NONBLOCK), and only
  a regular file is read;
- writes every file with `atomic_write` (or `safe_dir(...).write`): the folder is reached
  from a root the caller names (PPA_RAW_DIR, PPA_WAREHOUSE_DIR, PPA_ARCHIVE_DIR or
  PPA_REPORTS_DIR for the pipeline) one folder at a time, refusing a link on the way; the
  content goes to a temporary file created with its final mode (0600 for the archive) and
  then replaces the target in one rename. On any error, a full disk included, the
  temporary file is removed. Temporary files of processes that were killed are removed
  by `remove_leftovers`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.names import escape, shown

TMP_PREFIX = ".ppa-tmp-"
LEFTOVER = re.compile(r"^\.ppa-tmp-(\d+)-")  # a temporary file of ours, and the process that made it
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


class UnsafePath(OSError):
    """A path the pipeline refuses to go through: a symbolic link, or outside its folder."""


class NotRegular(OSError):
    """Not a regular file (a link, folder, FIFO, socket or device): never read."""

    def __init__(self, path: Path | str, kind: str):
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", str(path))
        self.kind = kind


def kind_of(mode: int) -> str:
    """'file', 'symlink', 'folder', 'FIFO', 'socket' or 'device' for a st_mode."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def _parts(root: Path, folder: Path) -> tuple[str, ...]:
    root, folder = Path(os.path.abspath(root)), Path(os.path.abspath(folder))
    try:
        return folder.relative_to(root).parts
    except ValueError:
        raise UnsafePath(errno.EXDEV, f"outside the folder {shown(escape(str(root)))}", str(folder)) from None


def _open_dir(root: Path, folder: Path, create: bool) -> int:
    """A descriptor of `folder`, reached from `root` one folder at a time without following
    a link (missing folders are made when `create`). The root itself is trusted."""
    parts = _parts(root, folder)
    if create:
        os.makedirs(root, exist_ok=True)
    fd = os.open(root, _DIR & ~os.O_NOFOLLOW)
    try:
        here = Path(root)
        for part in parts:
            here = here / part
            try:
                nfd = os.open(part, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
                nfd = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    kind = kind_of(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
                    raise UnsafePath(exc.errno, f"is a {kind}, not a folder: not followed", str(here)) from None
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: Path, root: Path | None = None) -> int:
    """A read-only descriptor of `path`, only if it is a regular file reached without a link
    (through folders below `root` when given). Raises NotRegular, UnsafePath or OSError."""
    path = Path(path)
    parent = _open_dir(Path(root), path.parent, create=False) if root is not None else None
    try:
        fd = os.open(path if parent is None else path.name, _READ, dir_fd=parent)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise NotRegular(path, "symlink") from None
    finally:
        if parent is not None:
            os.close(parent)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular(path, kind_of(mode))
    return fd


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SafeDir:
    """A folder opened by `safe_dir`: every name is used relative to it, never followed."""

    def __init__(self, fd: int, path: Path):
        self.fd, self.path = fd, path

    def kind(self, name: str) -> str | None:
        try:
            return kind_of(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return None

    def names(self) -> list[str]:
        return os.listdir(self.fd)

    def open_file(self, name: str) -> BinaryIO | None:
        """The regular file `name` to read, or None (missing, a link, not a file)."""
        try:
            fd = os.open(name, _READ, dir_fd=self.fd)
        except OSError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb")

    def remove(self, name: str) -> None:
        """Remove the entry `name` itself (a link is removed, never what it points to)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self.fd)

    def temp_name(self) -> str:
        return f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"

    def commit(self, tmp: str, name: str) -> Path:
        """Move the finished temporary file `tmp` into place as `name` (one rename)."""
        if self.kind(name) == "folder":
            self.remove(tmp)
            raise UnsafePath(errno.EISDIR, "is a folder: not replaced", str(self.path / name))
        os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        return self.path / name

    def write(self, name: str, writer: Callable[[BinaryIO], None], mode: int = 0o644,
              keep_if_same: Callable[[BinaryIO, BinaryIO], bool] | None = None) -> Path:
        """Write `name` atomically: `writer` fills a new temporary file (created with `mode`,
        so nobody else can read a file meant to be private even while it is written), which
        then replaces `name`. With `keep_if_same(new, old)` true, the old file stays as it is.
        On any error the temporary file is removed; a full disk names the folder."""
        tmp = self.temp_name()
        with self._removed_on_error(tmp):
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                         dir_fd=self.fd)
            with os.fdopen(fd, "w+b") as handle:
                writer(handle)
                handle.flush()
                if keep_if_same is not None:
                    old = self.open_file(name)
                    if old is not None:
                        with old:
                            handle.seek(0)
                            if keep_if_same(handle, old):
                                self.remove(tmp)
                                return self.path / name
            return self.commit(tmp, name)

    @contextlib.contextmanager
    def temp_path(self, name: str, keep_if_same: bool = False) -> Iterator[Path]:
        """A temporary path in this folder for a writer that needs a path (DuckDB); moved
        into place as `name` when the block ends without error, else removed. With
        `keep_if_same`, a file `name` with the same bytes stays as it is (not even its time changes)."""
        tmp = self.temp_name()
        with self._removed_on_error(tmp, f"{tmp}.wal"):
            yield self.path / tmp
            if keep_if_same and self._same_bytes(tmp, name):
                self.remove(tmp)
                return
            self.commit(tmp, name)

    def _same_bytes(self, tmp: str, name: str) -> bool:
        old = self.open_file(name)
        if old is None:
            return False
        with old, self.open_file(tmp) as new:
            return same_bytes(new, old)

    @contextlib.contextmanager
    def _removed_on_error(self, *temporary: str) -> Iterator[None]:
        """Remove the temporary files on any error; a full disk becomes DiskFull, naming the folder."""
        try:
            yield
        except BaseException as exc:
            for name in temporary:
                self.remove(name)
            if isinstance(exc, OSError) and exc.errno in DISK_FULL and not isinstance(exc, DiskFull):
                raise DiskFull(exc.errno, exc.strerror, str(self.path)) from None
            raise

    def remove_leftovers(self, pattern: re.Pattern = LEFTOVER) -> list[str]:
        """Remove temporary files of processes that no longer run (killed mid-write): names
        matching `pattern`, whose (first matched) group is the process id."""
        removed = []
        for name in self.names():
            found = pattern.search(name)
            pid = next((int(g) for g in found.groups() if g), None) if found else None
            if pid is not None and not _alive(pid) and self.kind(name) != "folder":
                self.remove(name)
                removed.append(name)
        return removed


class DiskFull(OSError):
    """No space left (ENOSPC) or over quota (EDQUOT) where the pipeline writes."""

    def __str__(self) -> str:
        code = errno.errorcode.get(self.errno, str(self.errno))
        return (f"disk full: no space left in {shown(escape(self.filename))} ({code}: {self.strerror}); "
                f"partial files were removed. Free space there and run again "
                f"(disk penuh: kosongkan ruang di folder itu lalu jalankan lagi)")


@contextlib.contextmanager
def safe_dir(folder: Path, root: Path, create: bool = True) -> Iterator[SafeDir]:
    """`folder` (below `root`, or `root` itself) opened without following a link."""
    fd = _open_dir(Path(root), Path(folder), create)
    try:
        yield SafeDir(fd, Path(folder))
    finally:
        os.close(fd)


def atomic_write(target: Path, writer: Callable[[BinaryIO], None], root: Path, mode: int = 0o644,
                 keep_if_same: Callable[[BinaryIO, BinaryIO], bool] | None = None) -> Path:
    """Write `target` (below `root`) atomically, never through a link; see SafeDir.write."""
    target = Path(target)
    with safe_dir(target.parent, root) as folder:
        folder.remove_leftovers()
        return folder.write(target.name, writer, mode, keep_if_same)


def same_bytes(new: BinaryIO, old: BinaryIO) -> bool:
    """Whether two files open at their start hold the same bytes (read a MiB at a time): the
    `keep_if_same` of a file that is only ever compared byte for byte."""
    if os.fstat(new.fileno()).st_size != os.fstat(old.fileno()).st_size:
        return False
    while True:
        a, b = new.read(1 << 20), old.read(1 << 20)
        if a != b:
            return False
        if not a:
            return True


def write_text(target: Path, text: str, root: Path) -> Path:
    return atomic_write(target, lambda handle: handle.write(text.encode("utf-8")), root)


def describe(exc: OSError) -> str:
    """An operating-system error as a message: what failed and where (the path escaped)."""
    if isinstance(exc, DiskFull):
        return str(exc)
    code = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__
    where = f": {shown(escape(str(exc.filename)))}" if exc.filename else ""
    return f"{type(exc).__name__} [{code}] {exc.strerror or ''}{where}"
