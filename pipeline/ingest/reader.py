"""Workbooks are read in a guarded child process: a parser can fail, a run cannot.

calamine is native code. A file it cannot afford makes it abort the whole process (an
allocation it cannot get), and a bug in it could crash or loop. So every workbook is
opened in a child process that limits its own address space (RLIMIT_AS) and core dumps
before it imports calamine, and its CPU time for each file (RLIMIT_CPU); the parent gives
each file a wall-clock timeout and kills the child past it. When the child dies, that file
is rejected with a reason (`reader_out_of_memory`, `reader_crashed`, `reader_timeout`), a
new child is started for the next file, and the run goes on.

One child per process that reads (the main process, or each worker of a pool), started at
the first file and kept: it imports only what reading needs (about 0.15 s, 30 MB) and is
started with subprocess (no fork of a process that runs threads, no preexec_fn). Requests
and results travel as pickles over its stdin and stdout; the parent unpickles only the
reader's own result classes and plain values.
"""

from __future__ import annotations

import io
import multiprocessing.util
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pipeline.ingest.limits import UnreadableFile

FRAME = struct.Struct("<Q?")  # each pickle's length, and whether the child exits after it
START_SECONDS = 60  # for the child to start and import what it needs
CPU_MARGIN = 5  # seconds of CPU a file may use beyond its wall-clock timeout (the parent kills first)
STDERR_TAIL = 8192  # bytes of the child's stderr read to name how it died
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
# what a reply may hold besides plain values (str, int, float, bool, None, lists, tuples, dicts)
_RESULT_CLASSES = {(f"{__package__}.workbook", n) for n in ("WorkbookResult", "SheetResult")} | {
    (f"{__package__}.rows", n) for n in ("Header", "DataRow")} | {
    (f"{__package__}.recap", n) for n in ("RecapTable", "RecapColumn", "RecapLine")} | {
    ("datetime", n) for n in ("datetime", "date", "time", "timedelta")}


class ReaderUnavailable(RuntimeError):
    """The reader process cannot start: a set-up problem (install, memory limit), not a file's."""


def read_workbook(path: Path, contract, max_rows: int, limits, memory_mb: int, timeout_s: float):
    """excel.read_workbook in the guarded child; UnreadableFile also when the child dies over it."""
    return _reader().call("read_workbook", (str(path), contract, max_rows, limits), memory_mb, timeout_s)


def sheet_values(path: Path, max_rows: int, checked: bool, memory_mb: int, timeout_s: float):
    """excel.sheet_values in the guarded child."""
    return _reader().call("sheet_values", (str(path), max_rows, checked), memory_mb, timeout_s)


# ---------------------------------------------------------------- the parent's side

class _Reader:
    """The child process of this process, started when needed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one request at a time, whatever thread asks
        self.proc: subprocess.Popen | None = None
        self.stderr = None
        self.memory_mb = 0
        self.contract = None  # the contract the child holds

    def call(self, op: str, args: tuple, memory_mb: int, timeout_s: float):
        with self.lock:
            if self.proc is not None and (self.proc.poll() is not None or self.memory_mb != memory_mb):
                self.close()  # died while idle, or another memory limit was asked for
            if self.proc is None:
                self._start(memory_mb)
            if op == "read_workbook":
                contract = args[1]
                args = (args[0], None if contract is self.contract else contract, *args[2:])
                self.contract = contract
            env = {k: v for k, v in os.environ.items() if k.startswith("PPA_")}
            try:
                self._send((op, args, env, int(timeout_s) + CPU_MARGIN))
                reply, exiting = self._receive(time.monotonic() + timeout_s)
            except _Died as died:
                raise UnreadableFile(*self._cause(died.timed_out, memory_mb, timeout_s)) from None
            if exiting:  # the child ends after this reply (out of memory, a panic, much memory held)
                self.close()
            if reply[0] == "ok":
                return reply[1]
            if reply[0] == "unreadable":
                raise UnreadableFile(reply[1], reply[2])
            from pipeline.privacy import ScrubbedError

            raise (RuntimeError if os.environ.get("PPA_DEBUG") == "1" else ScrubbedError)(reply[1])

    def _start(self, memory_mb: int) -> None:
        self.stderr = tempfile.TemporaryFile()
        code = (f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); "
                f"from pipeline.ingest.reader import serve; serve({int(memory_mb)})")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        self.memory_mb, self.contract = memory_mb, None
        try:
            self._receive(time.monotonic() + START_SECONDS)  # ("ready",)
        except _Died as died:
            tail = self._stderr_tail().decode("utf-8", "replace").strip()
            self.close()
            raise ReaderUnavailable(f"the reader process did not start ({died.how()}) with "
                                    f"PPA_READER_MEMORY_MB={memory_mb}: {tail[-1500:]}") from None

    def _send(self, message: object) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(FRAME.pack(len(data), False) + data)
            self.proc.stdin.flush()
        except OSError:  # the child is gone
            raise _Died(self.proc, timed_out=False) from None

    def _receive(self, deadline: float) -> tuple[tuple, bool]:
        """The next reply and whether the child exits after it, read before the deadline; _Died
        when the child dies, runs out of time or announces more than its memory could hold."""
        fd = self.proc.stdout.fileno()
        size, exiting = FRAME.unpack(self._read(fd, FRAME.size, deadline))
        if size > self.memory_mb << 20:
            self.proc.kill()
            raise _Died(self.proc, timed_out=False)
        return _Unpickler(io.BytesIO(self._read(fd, size, deadline))).load(), exiting

    def _read(self, fd: int, n: int, deadline: float) -> bytearray:
        buffer = bytearray(n)
        view, got = memoryview(buffer), 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.proc.kill()
                raise _Died(self.proc, timed_out=True)
            count = os.readv(fd, [view[got:]])
            if count == 0:
                raise _Died(self.proc, timed_out=False)
            got += count
        return buffer

    def _cause(self, timed_out: bool, memory_mb: int, timeout_s: float) -> tuple[str, str]:
        """Why the child died over a file: a reason code and its detail; the child is cleared."""
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        tail = self._stderr_tail()
        self.close()
        if timed_out:
            return "reader_timeout", f"> {timeout_s:g} s"
        if code == -signal.SIGXCPU:
            return "reader_timeout", f"CPU > {int(timeout_s) + CPU_MARGIN} s"
        if b"memory allocation of" in tail or b"MemoryError" in tail:  # Rust's abort, Python's error
            return "reader_out_of_memory", f"> {memory_mb} MB"
        if code >= 0:
            return "reader_crashed", f"exit {code}"
        try:
            return "reader_crashed", signal.Signals(-code).name
        except ValueError:
            return "reader_crashed", f"signal {-code}"

    def _stderr_tail(self) -> bytes:
        size = os.fstat(self.stderr.fileno()).st_size
        return os.pread(self.stderr.fileno(), STDERR_TAIL, max(0, size - STDERR_TAIL))

    def close(self) -> None:
        """End the child: its stdin closed, it exits; killed if it does not within a second."""
        proc, self.proc, self.contract = self.proc, None, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


class _Died(Exception):
    def __init__(self, proc: subprocess.Popen, timed_out: bool):
        super().__init__()
        self.proc, self.timed_out = proc, timed_out

    def how(self) -> str:
        code = self.proc.poll()
        return "timed out" if self.timed_out or code is None else f"exit {code}"


class _Unpickler(pickle.Unpickler):
    """Only the reader's result classes: the child reads hostile files, the parent trusts no code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _RESULT_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not a reader result")
        return super().find_class(module, name)


_READERS: dict[int, _Reader] = {}  # by process id: a forked process starts its own child
_READERS_LOCK = threading.Lock()


def _reader() -> _Reader:
    with _READERS_LOCK:
        if os.getpid() not in _READERS:
            _READERS[os.getpid()] = _Reader()
            # at exit, end the child and wait for it, in a pool's worker too (multiprocessing runs
            # these finalizers there, not atexit): its CPU time then counts in the run's
            multiprocessing.util.Finalize(None, _close, exitpriority=10)
        return _READERS[os.getpid()]


def _close() -> None:
    reader = _READERS.pop(os.getpid(), None)
    if reader is not None:
        reader.close()


# ---------------------------------------------------------------- the child's side

def serve(memory_mb: int) -> None:
    """The child: set its limits, import the reader, then answer requests until stdin closes."""
    import resource

    limit = _lower_limit(resource.RLIMIT_AS, memory_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not into the replies
    requests = sys.stdin.buffer

    import python_calamine  # noqa: F401  (a memory limit too low for it fails here, at the start)

    from pipeline.ingest import workbook as excel

    ops = {"read_workbook": excel.read_workbook, "sheet_values": excel.sheet_values}
    out_of_memory = ("unreadable", "reader_out_of_memory", f"> {memory_mb} MB")
    contract = None
    _write(replies, pickle.dumps(("ready",)), False)
    while True:
        header = requests.read(FRAME.size)
        if len(header) < FRAME.size:
            return  # the parent is done (or gone)
        op, args, env, cpu_seconds = pickle.loads(requests.read(FRAME.unpack(header)[0]))
        for key in [k for k in os.environ if k.startswith("PPA_") and k not in env]:
            del os.environ[key]
        os.environ.update(env)
        used = int(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]))
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(resource.RLIMIT_CPU, (_lower_limit(resource.RLIMIT_CPU, used + cpu_seconds), hard))
        if op == "read_workbook":
            contract = args[1] or contract
            args = (args[0], contract, *args[2:])
        fatal = True  # the child ends after a reply that leaves it in doubt
        try:
            reply = ("ok", ops[op](Path(args[0]), *args[1:]))
            fatal = False
        except UnreadableFile as exc:
            reply, fatal = ("unreadable", exc.code, exc.detail), False
        except MemoryError:
            reply = out_of_memory
        except Exception as exc:
            reply, fatal = ("error", _describe(exc)), False
        except BaseException as exc:  # a Rust panic surfaces as pyo3's PanicException
            if type(exc).__name__ != "PanicException":
                raise
            reply = ("unreadable", "reader_crashed", "panic")
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data, fatal = pickle.dumps(out_of_memory), True
        del reply  # the rows are in `data` now: free them before the parent makes its copy
        # a large file leaves memory behind (freed, not returned): the next file gets a fresh child
        fatal = fatal or _mapped() - len(data) > limit // 2
        _write(replies, data, fatal)
        if fatal:
            return


def _write(replies, data: bytes, exiting: bool) -> None:
    replies.write(FRAME.pack(len(data), exiting))
    replies.write(data)
    replies.flush()


def _lower_limit(which: int, value: int) -> int:
    """`value`, or the hard limit the process was given when that is lower."""
    import resource

    hard = resource.getrlimit(which)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _mapped() -> int:
    """The child's address space now, in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _describe(exc: Exception) -> str:
    """An unexpected error, as the parent will raise it: scrubbed of values unless PPA_DEBUG=1."""
    if os.environ.get("PPA_DEBUG") == "1":
        import traceback

        return "".join(traceback.format_exception(exc))
    from pipeline.privacy import scrubbed

    return str(scrubbed(exc, "reading a workbook"))
