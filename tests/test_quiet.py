"""A night with nothing to do starts no run (pipeline/automation/quiet.py, assets/refresh.py):
the calendar's next change, what counts as a change, and the stamp a full run leaves."""

import datetime as dt
import os

import dagster as dg
import pytest
from helpers import run_pipeline
from workbooks import agency_row, register

from pipeline.automation import quiet
from pipeline.config import settings

UTC = dt.datetime


def test_the_calendar_changes_when_a_month_starts_or_falls_due_in_the_agencies_zone():
    wita = [("Asia/Makassar", 10)]
    # 5 December 12:00 UTC: next is 10 December 00:00 WITA (16:00 UTC the day before), the due day
    moment, why = quiet.next_calendar_change(wita, UTC(2026, 12, 5, 12))
    assert moment == UTC(2026, 12, 9, 16) and "10" in why
    # then the day after the due day: the month is past due
    assert quiet.next_calendar_change(wita, moment)[0] == UTC(2026, 12, 10, 16)
    # after both: the month starts in WITA before it starts in UTC
    moment, why = quiet.next_calendar_change(wita, UTC(2026, 12, 20))
    assert moment == UTC(2026, 12, 31, 16) and "bulan" in why
    # another zone and due day count as well: 3 January 00:00 WIB is 2 January 17:00 UTC
    both = wita + [("Asia/Jakarta", 2)]
    assert quiet.next_calendar_change(both, UTC(2027, 1, 1, 12))[0] == UTC(2027, 1, 1, 17)
    assert quiet.next_calendar_change(both, UTC(2027, 1, 1, 17))[0] == UTC(2027, 1, 2, 17)


def test_areas_see_a_file_rewritten_with_its_size_and_time_kept(isolated_env):
    raw = isolated_env["raw"]
    book = register(raw / "kutim" / "register.xlsx", [agency_row("kutim")])
    cfg = settings()
    before = quiet.areas(cfg, ["kutim", "ppu"])
    assert quiet.areas(cfg, ["kutim", "ppu"]) == before  # listing twice changes nothing
    st = book.stat()
    data = bytearray(book.read_bytes())
    data[-1] ^= 1
    book.write_bytes(bytes(data))
    os.utime(book, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same time: only ctime tells
    after = quiet.areas(cfg, ["kutim", "ppu"])
    assert [k for k in after if after[k] != before[k]] == ["raw/kutim"]
    (raw / "kutim" / ".~lock.register.xlsx#").write_text("x")  # lock files are seen, as a run sees them
    (isolated_env["warehouse"] / "warehouse.duckdb.lock").write_text("")  # the writer's lock is not an output
    (isolated_env["warehouse"] / quiet.STAMP_FILE).write_text("{}")  # nor the stamp itself
    last = quiet.areas(cfg, ["kutim", "ppu"])
    assert [k for k in last if last[k] != after[k]] == ["raw/kutim"]
    (raw / "stray.xlsx").write_text("x")  # beside the agency folders
    assert quiet.areas(cfg, ["kutim", "ppu"])["raw (other)"] != last["raw (other)"]
    (raw / "ppu").mkdir(exist_ok=True)
    (raw / "ppu" / os.fsdecode(b"caf\xe9.xlsx")).write_text("x")  # a name that is not UTF-8
    assert quiet.areas(cfg, ["kutim", "ppu"])["raw/ppu"] != last["raw/ppu"]


def test_no_stamp_or_a_changed_setting_means_a_run(isolated_env, monkeypatch):
    cfg = settings()
    decision = quiet.decide(cfg, ["kutim"])
    assert not decision.skip and "no full run" in decision.reason
    stamp = quiet.make_stamp(cfg, ["kutim"], "run-1", UTC(2026, 12, 5))
    stamp.update(valid_until="2026-12-09T16:00:00", valid_why="due")
    quiet.write_stamp(cfg, stamp)
    assert quiet.decide(cfg, ["kutim"], UTC(2026, 12, 6)).skip
    assert not quiet.decide(cfg, ["kutim"], UTC(2026, 12, 9, 16)).skip  # the calendar's moment came
    monkeypatch.setenv("PPA_SUPPRESSION_K", "10")
    decision = quiet.decide(settings(), ["kutim"], UTC(2026, 12, 6))
    assert not decision.skip and "settings" in decision.reason
    monkeypatch.delenv("PPA_SUPPRESSION_K")
    (isolated_env["warehouse"] / quiet.STAMP_FILE).write_text("not json")
    assert not quiet.decide(cfg, ["kutim"], UTC(2026, 12, 6)).skip
    assert quiet.forget(cfg) and not quiet.forget(cfg)


@pytest.mark.slow  # two pipeline runs and the command line
def test_a_full_run_leaves_a_stamp_that_skips_the_next_night_until_something_changes(isolated_env):
    from typer.testing import CliRunner

    from pipeline.cli.app import app
    from pipeline.definitions import build_definitions
    from pipeline.registry import agency_codes

    raw, warehouse = isolated_env["raw"], isolated_env["warehouse"]
    register(raw / "kutim" / "register.xlsx", [agency_row("kutim", case_id=f"{i:03d}/PPA/2024") for i in range(8)])
    register(raw / "batam" / "register.xlsx", [agency_row("batam", case_id=f"{i:03d}/PPA/2024") for i in range(6)])
    codes, cfg = agency_codes(), settings()
    with dg.instance_for_test() as instance:
        result = run_pipeline(instance=instance)
        assert result.success
        stamp = quiet.read_stamp(cfg)
        assert stamp["run_id"] == result.run_id
        assert dt.datetime.fromisoformat(stamp["valid_until"]) > dt.datetime.now(dt.UTC).replace(tzinfo=None)
        decision = quiet.decide(cfg, codes)
        assert decision.skip and result.run_id[:8] in decision.reason

        # the nightly schedule skips, naming the run; not when that run had failed
        defs = build_definitions()
        schedule = defs.resolve_schedule_def("nightly_refresh")
        resources = {"drop_folder": defs.resources["drop_folder"], "warehouse": defs.resources["warehouse"]}

        def tick():
            with dg.build_schedule_context(instance=instance, resources=resources) as context:
                return schedule.evaluate_tick(context)

        data = tick()
        assert not data.run_requests and "Tidak ada yang berubah" in data.skip_message
        instance.report_run_failed(instance.get_run_by_id(result.run_id))
        assert len(tick().run_requests) == 1

    # `ppa run`: no run, nothing written, the tables as they are; --force runs
    outputs = sorted(p for p in [*warehouse.rglob("*"), *raw.rglob("*")] if p.is_file())
    times = {p: p.stat().st_mtime_ns for p in outputs}
    cli = CliRunner().invoke(app, ["run"])
    assert cli.exit_code == 0, cli.output
    assert "Tidak ada yang berubah" in cli.output and "--force" in cli.output and "kutim" in cli.output
    assert {p: p.stat().st_mtime_ns for p in outputs} == times
    with dg.DagsterInstance.get() as home:  # the instance `ppa run` uses (DAGSTER_HOME) has no run
        assert home.get_run_records() == []

    # something changes: each of these makes the next night run, and says what changed
    register(raw / "kutim" / "register_2.xlsx", [agency_row("kutim", case_id="100/PPA/2024")])
    decision = quiet.decide(cfg, codes)
    assert not decision.skip and decision.changed == ["raw/kutim"]
    (raw / "kutim" / "register_2.xlsx").unlink()
    assert quiet.decide(cfg, codes).skip  # the folder as it was (the stamp lists no removed file)
    (warehouse / "public" / "victims_by_region_year.csv").unlink()  # an output removed
    assert quiet.decide(cfg, codes).changed == ["warehouse"]

    # a run over one agency (the sensor's) removes the stamp: the next night runs everything
    assert run_pipeline("kutim").success
    assert quiet.read_stamp(cfg) is None and not quiet.decide(cfg, codes).skip
