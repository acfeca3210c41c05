"""Per-agency work in worker processes: same results as one process, in order, bounded."""

import os

import pytest
from helpers import query, run_pipeline
from workbooks import register, row

from pipeline.parallel import IN_FLIGHT_PER_WORKER, MIN_TASKS, chunks, ordered_map, worker_count


def square(n: int) -> int:
    if n == 13:
        raise ValueError("thirteen")
    return n * n


def test_worker_count_follows_the_setting_and_the_task_count(monkeypatch):
    monkeypatch.delenv("PPA_WORKERS", raising=False)
    assert worker_count(1) == 1
    assert worker_count(MIN_TASKS - 1) == 1  # a sensor's run or the sample: no start-up cost
    assert worker_count(MIN_TASKS) == min(len(os.sched_getaffinity(0)), 8, MIN_TASKS)
    monkeypatch.setenv("PPA_WORKERS", "3")
    assert worker_count(2) == 2 and worker_count(100) == 3
    monkeypatch.setenv("PPA_WORKERS", "1")
    assert worker_count(500) == 1


def counted(stop: int, drawn: list[int]):
    """range(stop), noting in `drawn` each item as it is drawn."""
    for n in range(stop):
        drawn.append(n)
        yield n


def test_one_process_keeps_order_and_draws_items_lazily():
    drawn = []
    out = ordered_map(square, counted(6, drawn), 1)
    assert next(out) == 0 and drawn == [0]
    assert list(out) == [1, 4, 9, 16, 25]


def test_chunks_are_drawn_lazily_and_keep_every_item_in_order():
    drawn = []
    out = chunks(counted(7, drawn), 3)
    assert next(out) == [0, 1, 2] and drawn == [0, 1, 2]
    assert list(out) == [[3, 4, 5], [6]]
    assert list(chunks([], 3)) == []


@pytest.mark.slow
def test_worker_processes_keep_order_bound_what_is_in_flight_and_raise_errors():
    drawn, results = [], []
    for result in ordered_map(square, counted(12, drawn), 2):
        # when a result is handed back, at most the queue of 2 workers was drawn ahead of it
        assert len(drawn) <= len(results) + 1 + 2 * IN_FLIGHT_PER_WORKER
        results.append(result)
    assert results == [n * n for n in range(12)]
    with pytest.raises(ValueError, match="thirteen"):
        list(ordered_map(square, iter(range(20)), 2))


@pytest.mark.slow
def test_a_run_in_worker_processes_writes_what_one_process_writes(isolated_env, monkeypatch, tmp_path):
    raw = isolated_env["raw"]
    register(raw / "kukar/a.xlsx", [row(case_id="K1"), row(case_id="K1", age="9"), row(case_id="K2", sex="X")])
    register(raw / "kutim/b.xlsx", [row(case_id="T1", forms="Psikis"), row(case_id="T2", age="200")])
    register(raw / "batam/c.xlsx", [row(case_id="B1")])
    tables = {
        "staging.case_victims": "SELECT * EXCLUDE (_load_id, _ingested_at) FROM staging.case_victims",
        "staging.rejected_rows": "SELECT * EXCLUDE (_load_id, _ingested_at) FROM staging.rejected_rows",
        "meta.ingest_log": "SELECT agency, path, status, data_rows, rows_staged, rows_rejected FROM meta.ingest_log",
    }
    seen = []
    for workers in ("1", "2"):  # each from an empty warehouse and archive, so every file is read
        monkeypatch.setenv("PPA_WORKERS", workers)
        for name in ("warehouse", "archive"):
            (tmp_path / f"{name}-{workers}").mkdir()
            monkeypatch.setenv(f"PPA_{name.upper()}_DIR", str(tmp_path / f"{name}-{workers}"))
        result = run_pipeline()
        assert result.success
        log = query(tmp_path / f"warehouse-{workers}", "SELECT bool_and(parsed) AS parsed FROM meta.ingest_log")
        assert log["parsed"].item()
        seen.append({name: query(tmp_path / f"warehouse-{workers}", f"{sql} ORDER BY ALL")
                     for name, sql in tables.items()})
    for name in tables:
        assert len(seen[0][name]) and seen[0][name].equals(seen[1][name]), name
