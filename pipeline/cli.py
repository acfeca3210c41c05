"""`ppa`: the command line for analysts.

ppa run [--agency A] [--reload]   run the pipeline (no daemon needed), print the year-on-year table
ppa status [--agency A]     the ledger in short: files, status, row counts
ppa validate FILE --agency A [--feedback]   a dry run of one file, without touching the warehouse
ppa template --agency A [--recap]   a standard register workbook with drop-down lists (or a recap sheet)
ppa yoy                     print the year-on-year table
ppa compare A B             two agencies' year-on-year tables side by side
ppa report [--out DIR]      the HTML report in Bahasa Indonesia for heads of agency
ppa restore SHA [--to DIR]  give back an archived file by its content hash (decrypted)
ppa erase --file SHA | --case AGENCY CASE_ID   erase a file or a case everywhere, then run (UU 27/2022)
ppa retention               apply the retention periods now (every run applies them too)
ppa backup DEST             a consistent backup of the warehouse, instance, archive, registry and key
ppa restore-backup SRC      restore a backup into empty folders
ppa sample                  regenerate the synthetic sample in the raw folder
ppa docs                    regenerate docs/data-dictionary.md
ppa dq list [--agency A] [--all]              data-quality flags to review
ppa dq review ID --status S [--note TEXT]     record a review (kept across runs)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from pipeline.config import ensure_dagster_home, settings
from pipeline.names import clean, escape, shown, unescape
from pipeline.registry import agency_codes, get_agency


def _table(frame: pd.DataFrame) -> str:
    """A table for the terminal; text that came from files has its control characters replaced."""
    from tabulate import tabulate

    frame = frame.astype(object).where(frame.notna(), None)
    frame = frame.map(lambda v: clean(v) if isinstance(v, str) else v)
    return tabulate(frame, headers="keys", tablefmt="simple", showindex=False, missingval="–")


def run(agency: str | None, verbose: bool, reload: bool = False) -> int:
    ensure_dagster_home()
    import dagster as dg

    from pipeline.assets.ingest import RELOAD_TAG
    from pipeline.automation.recovery import fail_dead_runs
    from pipeline.definitions import FULL_REFRESH, defs

    codes = agency_codes()
    if agency and agency not in codes:
        print(f"unknown agency {agency!r}; registered: {', '.join(codes)}", file=sys.stderr)
        return 2
    job = defs.resolve_job_def(FULL_REFRESH)
    run_config = {} if verbose else {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    tags = {RELOAD_TAG: "true"} if reload else {}
    kwargs = {"partition_key": agency, "tags": tags} if agency else {"tags": {
        **tags, "dagster/asset_partition_range_start": codes[0], "dagster/asset_partition_range_end": codes[-1]}}
    with dg.DagsterInstance.get() as instance:
        recovered = fail_dead_runs(instance)
        for run_id in recovered.failed:
            print(f"run {run_id} had been killed; marked failed (run ini dimatikan paksa; ditandai gagal)")
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config, **kwargs)
    print(f"run {result.run_id}: {'ok' if result.success else 'FAILED'}")
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                print(clean(f"  {event.step_key}: {failure_text(event)}"), file=sys.stderr)
        return 1
    status(agency, brief=True)
    print()
    yoy()
    return 0


def _ledger(agency: str | None) -> pd.DataFrame:
    from pipeline.warehouse.db import connect, query_df

    path = settings().warehouse_path
    if not path.exists():
        return pd.DataFrame()
    with connect(path) as con:
        sql = "SELECT * FROM meta.ingest_log" + (" WHERE agency = ?" if agency else "") + " ORDER BY agency, path"
        return query_df(con, sql, [agency] if agency else [])


def status(agency: str | None = None, brief: bool = False) -> int:
    ledger = _ledger(agency)
    if ledger.empty:
        print("the ledger is empty: run `ppa run` first")
        return 0
    counts = ["data_rows", "rows_staged", "rows_rejected", "rows_superseded"]
    per_agency = ledger.groupby("agency")[counts].sum().reset_index()
    files = ledger.groupby("agency").size().rename("files").reset_index()
    print(_table(files.merge(per_agency)))
    if brief:
        return 0
    for code, group in ledger.groupby("agency"):
        print(f"\n{code}")
        table = group.assign(path=group["path"].map(shown), note=group["message"].fillna("").map(
            lambda m: clean(m, 90)))[["path", "status", *counts, "note"]].rename(columns=lambda c: c.replace("rows_", ""))
        print(_table(table))
        erased = int(group["rows_erased"].fillna(0).sum()) if "rows_erased" in group else 0
        if erased:
            print(f"{erased} rows of erased cases left out (ppa erase; baris kasus yang dihapus tidak dimuat)")
    strays = _not_read()
    if strays:
        print("\nNot read (tidak dibaca):")
        print("\n".join(f"  {clean(line)}" for line in strays))
    print()
    print(recent_runs())
    return 0


def failure_text(event) -> str:
    """A failure event's message and the message of the error beneath Dagster's wrappers (a full
    disk, a weak key: the cause, not only that the step failed)."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None:  # Dagster wraps the error that says why
        error = error.cause
    cause = error.message.strip() if error is not None else ""
    return f"{event.message} {cause}" if cause else str(event.message)


def _not_read() -> list[str]:
    from pipeline.assets.ingest import not_read

    return not_read(settings().raw_dir, agency_codes())


def recent_runs(limit: int = 5) -> str:
    """The latest runs in the Dagster instance, with the reason of a failure."""
    ensure_dagster_home()
    import dagster as dg

    lines = ["Recent runs (run terakhir):"]
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records(limit=limit):
            run = record.dagster_run
            trigger = run.tags.get("ppa/trigger") or run.tags.get("dagster/schedule_name") or "manual"
            when = record.create_timestamp.strftime("%Y-%m-%d %H:%M UTC")
            line = f"  {when}  {run.status.value:<9} {trigger:<12} {run.run_id[:8]}"
            if run.status == dg.DagsterRunStatus.FAILURE:
                failures = instance.get_records_for_run(
                    run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=3).records
                reasons = {f.event_log_entry.dagster_event.step_key: failure_text(f.event_log_entry.dagster_event)
                           for f in failures}
                if not reasons:  # failed outside any step (say, killed and marked failed afterwards)
                    ended = instance.get_records_for_run(
                        run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE, limit=1, ascending=False).records
                    reasons = {"run": r.event_log_entry.message for r in ended}
                line += "".join(f"\n      {step}: {clean(msg, 400)}" for step, msg in reasons.items())
            lines.append(line)
    return "\n".join(lines) if len(lines) > 1 else "No runs recorded yet."


def yoy() -> int:
    from pipeline.publish.compare import format_yoy, yoy_table

    try:
        table = yoy_table(settings().analytics_path)
    except FileNotFoundError:
        print("no analytics copy yet: run `ppa run` first")
        return 0
    print("Victims per agency and year (korban per wilayah dan tahun)")
    print(format_yoy(table))
    return 0


def dq(action: str, flag: str | None, status: str | None, note: str | None, agency: str | None,
       show_all: bool) -> int:
    """`ppa dq list` and `ppa dq review ID --status explained --note "..."`."""
    from pipeline.marts.reviews import ReviewError, list_flags, review

    path = settings().warehouse_path
    if not path.exists():
        print("no warehouse yet: run `ppa run` first", file=sys.stderr)
        return 2
    if action == "list":
        flags = list_flags(path, agency, include_reviewed=show_all)
        print(_table(flags) if len(flags) else "no open data-quality flag (tidak ada temuan terbuka)")
        return 0
    try:
        review(path, flag or "", status or "", note)
    except ReviewError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{flag}: {status} (tersimpan; berlaku untuk setiap run berikutnya)")
    return 0


def validate(file: Path, agency_code: str, feedback: bool = False) -> int:
    """Dry run: what the pipeline would make of one file (and, with --feedback, its feedback workbook)."""
    from pipeline.ingest.dryrun import dry_run
    from pipeline.safefs import NotRegular

    agency = get_agency(agency_code)
    try:
        read, result = dry_run(file, agency)
    except NotRegular as exc:
        print(f"{shown(escape(str(file)))}: not a regular file ({exc.kind}): not read", file=sys.stderr)
        return 1
    print(f"File {shown(escape(file.name))} ({file.stat().st_size} bytes), agency {agency.code}")
    code = _describe_dry_run(read, result)
    if feedback:
        from pipeline.feedback.write import write_feedback_for_file

        print(f"\numpan balik / feedback: {shown(escape(str(write_feedback_for_file(file, agency, read, result))))}")
    return code


def _describe_dry_run(read, result) -> int:
    from pipeline.messages import render

    if read.error_code and read.error_code != "no_register_sheet":
        print(clean(f"  REJECTED: {render(read.error_code, detail=read.error_detail)}"))
        return 1
    for sheet in read.sheets.itertuples():
        if sheet.is_recap in (True, 1):
            print(clean(f"\nSheet '{sheet.sheet}': recap (table of counts), header at row {sheet.header_row}, "
                        f"lines by {sheet.recap_axis}{' (read turned)' if sheet.recap_turned else ''}, "
                        f"{sheet.recap_cells} count cells"))
            continue
        if not sheet.is_register:
            print(clean(f"\nSheet '{sheet.sheet}': {render(sheet.reason, sheet=sheet.sheet)}"))
            continue
        print(clean(f"\nSheet '{sheet.sheet}'{'' if sheet.visible else ' (hidden)'}: header at row {sheet.header_row}"
                   f"{' (two rows)' if sheet.header_rows == 2 else ''}; {sheet.data_rows} data rows, "
                   f"{sheet.total_rows} total rows and {sheet.blank_rows} blank rows skipped"))
        for column, header in json.loads(sheet.columns).items():
            print(clean(f"  {header!r:32} -> {column}"))
        for header in sheet.personal_headers:
            print(clean(f"  {header!r:32} -> dropped (personal data)"))
        for header in sheet.unknown_headers:
            print(clean(f"  {header!r:32} -> ignored ({render('header_unknown', header=header)})"))
    if read.error_code == "no_register_sheet":
        print(f"\nREJECTED: {render('no_register_sheet')}")
        return 1
    print(f"\nWould load {len(result.staged)} rows, reject {len(result.rejected)}, "
          f"with {len(result.warnings)} cell warnings.")
    for _, row in result.rejected.iterrows():
        print(clean(f"  row {row['_source_row']} ({row['_source_sheet']}): {row['reasons']}"))
    if len(read.recap):
        print(f"Would load {len(result.recap.staged)} recap cells, reject {len(result.recap.rejected)}.")
    for _, row in result.recap.rejected.iterrows():
        print(clean(f"  cell {row['_source_cell']} ({row['_source_sheet']}): {row['reasons']}"))
    for _, row in result.warnings.iterrows():
        print(clean(f"  row {row['_source_row']} ({row['_source_sheet']}) warning: {row['message']}"))
    return 0


def compare(a: str, b: str) -> int:
    from pipeline.publish.compare import compare_table, format_compare

    try:
        print(format_compare(compare_table(settings().analytics_path, a, b)))
    except (ValueError, FileNotFoundError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def report(out_dir: Path | None) -> int:
    from pipeline.publish.report import write_report

    cfg = settings()
    try:
        path = write_report(cfg.analytics_path, out_dir or cfg.reports_dir)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"laporan ditulis / report written: {path}")
    return 0


def restore(sha: str, to_dir: Path | None) -> int:
    """Give back the exact bytes of an archived file, under its original name when the ledger knows it."""
    from pipeline.ingest import archive
    from pipeline.privacy import SecretError

    cfg = settings()
    ledger = _ledger(None)
    name = None
    if len(ledger):
        match = ledger[ledger["sha256"].fillna("").str.startswith(sha.lower())]
        if len(match):
            name = unescape(match["path"].iloc[0].rsplit("/", 1)[-1])
    try:
        target = archive.restore(cfg.archive_dir, sha, to_dir or Path.cwd(), name)
    except (FileNotFoundError, ValueError, SecretError) as exc:  # ArchiveError: another key, a damaged copy
        print(clean(exc), file=sys.stderr)
        return 1
    print(f"restored {shown(escape(str(target)))}")
    return 0


def erase(sha: str | None, case: list[str] | None, then_run: bool = True) -> int:
    """Erase a file (by sha256) or a case everywhere; then a run rebuilds what is derived from them."""
    from pipeline.erasure import EraseError, erase_case, erase_file
    from pipeline.warehouse.db import connect

    cfg = settings()
    if not cfg.warehouse_path.exists():
        print("no warehouse yet: nothing to erase", file=sys.stderr)
        return 2
    if case and case[0] not in agency_codes():
        print(f"unknown agency {case[0]!r}; registered: {', '.join(agency_codes())}", file=sys.stderr)
        return 2
    try:
        with connect(cfg.warehouse_path) as con:
            done = (erase_file(con, sha, cfg.raw_dir, cfg.archive_dir) if sha
                    else erase_case(con, case[0], case[1], cfg.raw_dir, cfg.archive_dir))
    except EraseError as exc:
        print(clean(exc), file=sys.stderr)
        return 1
    what = f"file {done.sha256}" if done.kind == "file" else f"a case of {done.agencies[0]} (key {done.case_key})"
    print(f"erased / dihapus: {what}: {done.rows_removed} warehouse rows, {len(done.archive_files)} archived files, "
          f"{len(done.feedback_files)} feedback files; recorded in meta.erasures")
    for path in done.in_drop_folder:
        print(clean(f"still in the drop folder: {shown(path)}: later runs leave "
                    f"{'it' if done.kind == 'file' else 'the case'} out (ask the agency to remove "
                    f"{'it' if done.kind == 'file' else 'the case from its register'})"))
    return run(None, False) if then_run else 0


def retention() -> int:
    from pipeline.retention import sweep
    from pipeline.warehouse.db import connect

    cfg = settings()
    if not cfg.warehouse_path.exists():
        print("no warehouse yet: nothing to sweep", file=sys.stderr)
        return 2
    with connect(cfg.warehouse_path) as con:
        done = sweep(con, cfg)
    print("\n".join(done.lines()) or "retention: nothing past its period (tidak ada yang melewati masa simpan)")
    return 0


def backup(dest: Path) -> int:
    from pipeline.automation.backup import BackupError
    from pipeline.automation.backup import backup as write_backup

    try:
        done = write_backup(dest)
    except BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"backup written / cadangan ditulis: {done.path} in {done.seconds:.1f} s; archive: {done.copied_files} "
          f"files copied ({done.copied_bytes / 1e6:.1f} MB), {done.linked_files} already in the previous backup")
    for note in done.notes:
        print(f"note: {note}")
    return 0


def restore_backup(src: Path) -> int:
    from pipeline.automation.backup import BackupError
    from pipeline.automation.backup import restore as restore_from

    try:
        done = restore_from(src)
    except BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"restored / dipulihkan: {done.path} in {done.seconds:.1f} s ({done.copied_files} archived files)")
    return 0


def template(agency: str, out: Path | None, recap: bool = False) -> int:
    from pipeline.feedback.template import write_recap_template, write_template

    target = out or Path.cwd() / f"template_{'rekap' if recap else 'register'}_{agency}.xlsx"
    write = write_recap_template if recap else write_template
    print(f"template: {write(get_agency(agency), target)}")
    return 0


def docs() -> int:
    """Regenerate docs/data-dictionary.md from the table declarations (pipeline/warehouse/tables.py)."""
    from pipeline.publish import docs as docs_module
    from pipeline.warehouse.db import connect

    path = settings().warehouse_path
    if not path.exists():
        print("no warehouse yet: run `ppa run` first", file=sys.stderr)
        return 2
    with connect(path) as con:
        missing = docs_module.missing_descriptions(con)
        target = docs_module.write(con)
    print(f"wrote {target}")
    if missing:
        print(f"columns in the warehouse that pipeline/warehouse/tables.py does not declare: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def sample() -> int:
    from pipeline.sample.generate import write_sample

    raw_dir = settings().raw_dir
    manifest = write_sample(raw_dir)
    total = sum(manifest.expected_victims.values())
    print(f"wrote {len(manifest.files)} files to {raw_dir}: {total} victims expected")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ppa", description="ppa-pipeline: agency case registers to year-on-year marts")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the whole pipeline (or one agency) and print the year-on-year table")
    p.add_argument("--agency")
    p.add_argument("-v", "--verbose", action="store_true", help="show Dagster's step log")
    p.add_argument("--reload", action="store_true",
                   help="read and stage every agency again, even those whose files did not change")
    p = sub.add_parser("status", help="the ledger: per agency, the files, their status and row counts")
    p.add_argument("--agency")
    p = sub.add_parser("validate", help="dry run of one file: sheets, header, mapping, rows that would load or be rejected")
    p.add_argument("file", type=Path)
    p.add_argument("--agency", required=True)
    p.add_argument("--feedback", action="store_true", help="also write the feedback workbook beside the file")
    p = sub.add_parser("template", help="write a standard register workbook with drop-down lists and a nil-report "
                                        "sheet (laporan nihil)")
    p.add_argument("--agency", required=True)
    p.add_argument("--out", type=Path, help="the .xlsx to write (default: ./template_register_<agency>.xlsx, "
                                            "with --recap ./template_rekap_<agency>.xlsx)")
    p.add_argument("--recap", action="store_true", help="a standard recap sheet (counts per month) instead")
    sub.add_parser("yoy", help="print the year-on-year table")
    p = sub.add_parser("compare", help="two agencies' year-on-year tables side by side")
    p.add_argument("a")
    p.add_argument("b")
    p = sub.add_parser("report", help="write the HTML report in Bahasa Indonesia (laporan.html)")
    p.add_argument("--out", type=Path, help="folder (default: PPA_REPORTS_DIR)")
    p = sub.add_parser("restore", help="copy an archived file back out by its sha256 (or a prefix of it)")
    p.add_argument("sha")
    p.add_argument("--to", type=Path, help="folder to write to (default: the current folder)")
    p = sub.add_parser("erase", help="erase a file (by sha256) or a case everywhere: warehouse, archive, feedback, "
                                     "and (by the run that follows) the marts and analytics copies; later runs leave "
                                     "it out")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", metavar="SHA", help="the file's sha256 (or at least 6 characters of it)")
    target.add_argument("--case", nargs=2, metavar=("AGENCY", "CASE_ID"), help="an agency and a case id")
    p.add_argument("--no-run", action="store_true", help="do not run the pipeline afterwards")
    sub.add_parser("retention", help="apply the retention periods (PPA_RETAIN_*) now")
    p = sub.add_parser("backup", help="a consistent backup of the warehouse, the Dagster instance, the archive "
                                      "(only what is new since the last backup in DEST), the registry and the key")
    p.add_argument("dest", type=Path, help="the folder of backups; each backup is a new folder in it")
    p = sub.add_parser("restore-backup", help="restore a backup (or the newest in a folder of backups) into empty "
                                              "folders")
    p.add_argument("src", type=Path)
    sub.add_parser("sample", help="regenerate the synthetic sample in the raw folder")
    sub.add_parser("docs", help="regenerate docs/data-dictionary.md")
    p = sub.add_parser("dq", help="the data-quality review: list flags, or record a review of one")
    p.add_argument("action", choices=["list", "review"])
    p.add_argument("flag", nargs="?", help="the flag id (for review), e.g. kutim:2024-10:outlier_monthly_victims")
    p.add_argument("--status", choices=["open", "explained", "confirmed"], help="the review (for review)")
    p.add_argument("--note", help="why: required for explained")
    p.add_argument("--agency", help="list one agency's flags")
    p.add_argument("--all", action="store_true", help="list reviewed flags too")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.agency, args.verbose, args.reload)
    if args.command == "status":
        return status(args.agency)
    if args.command == "validate":
        return validate(args.file, args.agency, args.feedback)
    if args.command == "template":
        return template(args.agency, args.out, args.recap)
    if args.command == "yoy":
        return yoy()
    if args.command == "compare":
        return compare(args.a, args.b)
    if args.command == "report":
        return report(args.out)
    if args.command == "restore":
        return restore(args.sha, args.to)
    if args.command == "erase":
        return erase(args.file, args.case, not args.no_run)
    if args.command == "retention":
        return retention()
    if args.command == "backup":
        return backup(args.dest)
    if args.command == "restore-backup":
        return restore_backup(args.src)
    if args.command == "docs":
        return docs()
    if args.command == "dq":
        if args.action == "review" and not (args.flag and args.status):
            parser.error("dq review needs a flag id and --status")
        return dq(args.action, args.flag, args.status, args.note, args.agency, args.all)
    return sample()


if __name__ == "__main__":
    sys.exit(main())
