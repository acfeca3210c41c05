"""Per-agency work spread over worker processes; results come back in order.

Reading, validating and writing feedback are pure per agency, so a run over many agencies
hands them to a pool of processes while the main process keeps the one DuckDB connection
and writes each result as it arrives. A handful of agencies (the sample, a sensor's run)
stays in one process: starting a worker costs about 2 s of imports.

PPA_WORKERS sets the number of processes (1 = never a pool). Unset: one per core, at most
MAX_WORKERS, and only from MIN_TASKS agencies on.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from pipeline.config import settings

T = TypeVar("T")
R = TypeVar("R")

MIN_TASKS = 24
MAX_WORKERS = 8
IN_FLIGHT_PER_WORKER = 2  # tasks queued per worker: enough to keep it busy, few frames held at once


def worker_count(tasks: int) -> int:
    """How many processes to use for `tasks` independent tasks."""
    if tasks <= 1:
        return 1
    configured = settings().workers
    if configured is not None:
        return max(1, min(configured, tasks))
    if tasks < MIN_TASKS:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS, tasks))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """fn(item) for every item, in the items' order.

    With workers > 1, fn runs in spawned processes (fn and items must pickle; fn must be a
    module-level function). Items are drawn lazily, at most workers * IN_FLIGHT_PER_WORKER
    ahead of the result being handed back, so memory follows the largest task, not the sum.
    An exception in a task is raised here, and the tasks not yet started are cancelled.
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    source = iter(items)
    # spawn, not fork: the parent runs Dagster's threads, which a fork would copy mid-state
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[Future] = deque()
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                break
        while pending:
            result = pending.popleft().result()
            for item in source:  # top up by one
                pending.append(pool.submit(fn, item))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to `size` consecutive items, drawn lazily."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
