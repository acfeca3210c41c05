"""The `ppa` command line (typer): its commands and options, and `main`, which turns every
mistake into one line in Bahasa Indonesia and English and an exit code, never a traceback
(unless PPA_DEBUG=1)."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import enum
import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli import admin, common, files, releases, run, status, tables

app = typer.Typer(name="ppa", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="ppa-pipeline: agency case registers to a DuckDB warehouse with year-on-year marts.")
dq_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                     help="The data-quality review: list flags, or record a review of one.")
app.add_typer(dq_app, name="dq")

Agency = Annotated[str | None, typer.Option("--agency", help="one agency's code (see pipeline/schemas/agencies.yaml)")]
NeededAgency = Annotated[str, typer.Option("--agency", help="the agency's code, e.g. kutim")]


class ReviewStatus(enum.StrEnum):
    open = "open"
    explained = "explained"
    confirmed = "confirmed"


@app.command("run")
def run_command(
    agency: Agency = None,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True,
                                         help="-v: our steps' messages; -vv: Dagster's log of every event")] = 0,
    reload: Annotated[bool, typer.Option("--reload", help="read and stage every agency again, even those whose "
                                                          "files did not change")] = False,
    force: Annotated[bool, typer.Option("--force", help="run even when nothing changed since the last full run "
                                                        "(by default no run starts then)")] = False,
) -> int:
    """Run the whole pipeline (or one agency), then print the ledger summary and the year-on-year table.
    Without --agency, no run starts when nothing changed since the last full run and the calendar
    changes nothing (no month started or fell due, no retention period ended): it says so."""
    return run.run(agency, verbose, reload, force)


@app.command("status")
def status_command(
    agency: Agency = None,
    as_json: Annotated[bool, typer.Option("--json", help="everything as JSON, for scripts")] = False,
    runs: Annotated[bool, typer.Option("--runs", help="the latest runs from Dagster, with why a run failed")] = False,
) -> int:
    """The ledger: per agency, every file, its status, row counts and why."""
    return status.status(agency, as_json, runs)


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="the workbook to check", show_default=False)],
    agency: NeededAgency,
    feedback: Annotated[bool, typer.Option("--feedback", help="also write the feedback workbook beside the file")]
    = False,
) -> int:
    """A dry run of one file: sheets, header, mapping, rows that would load or be rejected. Never touches the
    warehouse."""
    return files.validate(file, agency, feedback)


@app.command("template")
def template_command(
    agency: NeededAgency,
    out: Annotated[Path | None, typer.Option("--out", help="the .xlsx to write (default: "
                                                           "./template_register_<agency>.xlsx, with --recap "
                                                           "./template_rekap_<agency>.xlsx)")] = None,
    recap: Annotated[bool, typer.Option("--recap", help="a standard recap sheet (counts per month) instead")] = False,
) -> int:
    """Write a standard register workbook with drop-down lists and a nil-report sheet (laporan nihil)."""
    return files.template(agency, out, recap)


@app.command("yoy")
def yoy_command(agency: Agency = None) -> int:
    """Print the year-on-year table from the analytics copy (every agency's, or one agency's)."""
    return tables.yoy(agency)


@app.command("compare")
def compare_command(a: Annotated[str, typer.Argument(help="an agency's code")],
                    b: Annotated[str, typer.Argument(help="another agency's code")]) -> int:
    """Two agencies' year-on-year tables side by side."""
    return tables.compare(a, b)


@app.command("report")
def report_command(
    out: Annotated[Path | None, typer.Option("--out", help="folder (default: PPA_REPORTS_DIR)")] = None,
) -> int:
    """Write the HTML report in Bahasa Indonesia (laporan.html)."""
    return tables.report(out)


@app.command("restore")
def restore_command(
    sha: Annotated[str, typer.Argument(help="the sha256 of the file, or its first characters (at least 6)")],
    to: Annotated[Path | None, typer.Option("--to", help="folder to write to (default: the current folder)")] = None,
) -> int:
    """Copy an archived file back out by its sha256 (or a prefix of it)."""
    return files.restore(sha, to)


@app.command("erase")
def erase_command(
    file: Annotated[str | None, typer.Option("--file", metavar="SHA", help="the file's sha256 (or at least 6 "
                                                                          "characters of it)")] = None,
    case: Annotated[tuple[str, str] | None, typer.Option("--case", metavar="AGENCY CASE_ID",
                                                         help="an agency and a case id")] = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="do not run the pipeline afterwards")] = False,
) -> int:
    """Erase a file or a case everywhere (warehouse, archive, feedback; the run that follows rebuilds the marts
    and analytics copies); later runs leave it out (UU 27/2022)."""
    return admin.erase(file, list(case) if case else None, not no_run)


@app.command("retention")
def retention_command() -> int:
    """Apply the retention periods (PPA_RETAIN_*) now; every run applies them too."""
    return admin.retention()


@app.command("backup")
def backup_command(
    dest: Annotated[Path, typer.Argument(help="the folder of backups; each backup is a new folder in it")],
) -> int:
    """A consistent backup of the warehouse, the Dagster instance, the archive (only what is new since the last
    backup in DEST), the registry and the key."""
    return admin.backup(dest)


@app.command("restore-backup")
def restore_backup_command(
    src: Annotated[Path, typer.Argument(help="a backup folder, or a folder of backups (the newest is used)")],
) -> int:
    """Restore a backup into empty folders."""
    return admin.restore_backup(src)


@app.command("sample")
def sample_command() -> int:
    """Regenerate the synthetic sample in the raw folder."""
    return tables.sample()


@app.command("docs")
def docs_command() -> int:
    """Regenerate docs/data-dictionary.md."""
    return tables.docs()


@dq_app.command("list")
def dq_list_command(
    agency: Agency = None,
    show_all: Annotated[bool, typer.Option("--all", help="list reviewed flags too")] = False,
) -> int:
    """The data-quality flags to review."""
    return admin.dq_list(agency, show_all)


@dq_app.command("review")
def dq_review_command(
    flag: Annotated[str, typer.Argument(help="the flag id, e.g. kutim:2024-10:outlier_monthly_victims")],
    review_status: Annotated[ReviewStatus, typer.Option("--status", help="the review")],
    note: Annotated[str | None, typer.Option("--note", help="why: required for explained")] = None,
) -> int:
    """Record a review of one flag (kept across runs)."""
    return admin.dq_review(flag, review_status.value, note)


@app.command("changes")
def changes_command(
    agency: Agency = None,
    since: Annotated[str | None, typer.Option("--since", help="a date (YYYY-MM-DD), a release version or a run id: "
                                                               "every change from then on (default: the last build "
                                                               "that changed a figure)")] = None,
) -> int:
    """What changed in the figures (victims, cases, by form) and which files caused it."""
    return releases.changes(agency, since)


@app.command("approve")
def approve_command(
    agency: NeededAgency,
    year: Annotated[int, typer.Option("--year", help="the year approved")],
    by: Annotated[str, typer.Option("--by", help="the name of who approves (the head of the agency)")],
    month: Annotated[int | None, typer.Option("--month", help="one month (1-12) instead of the whole year")] = None,
) -> int:
    """Approve (sign off) the figures of an agency's year or month as they are now."""
    return releases.approve(agency, year, month, by)


@app.command("approvals")
def approvals_command(agency: Agency = None) -> int:
    """Every approved period: approved, or a revision pending (the figures changed since)."""
    return releases.approvals(agency)


@app.command("release")
def release_command(
    version: Annotated[str | None, typer.Option("--version", help="the version (default: today's date, "
                                                                   "e.g. 2026.12.05, or 2026.12.05-2)")] = None,
) -> int:
    """Write a versioned, never-changed release: public tables, researchers' copy, dictionary, notes, validation."""
    return releases.release(version)


def _plain_conversion(command) -> None:
    """typer 0.29 converts every parameter's value through a pydantic TypeAdapter, and importing
    pydantic costs about 0.25 s of each command's start, half of what `ppa status` may take. Our
    parameters are text, paths, counts and flags, which need no more than str(), Path() or int()
    of what Click gives: they get that (enums keep typer's conversion). This reaches into typer's
    internals (pinned exactly in pyproject.toml); should they change, nothing breaks, the commands
    only start as slowly as typer makes them (tests/test_cli_mistakes.py checks the imports)."""
    try:
        from typer._click import Context
        from typer._coercion import RuntimeParam
    except ImportError:
        return

    @dataclasses.dataclass(frozen=True)
    class Plain(RuntimeParam):
        def _coerce_value(self, value, param, ctx):
            return self.annotation(value)

    params = [*command.params]
    if command.add_help_option:  # made once per command, and kept (Click caches it)
        params.append(command.get_help_option(Context(command)))
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (descriptor is not None and descriptor.annotation in (str, Path, int, bool)
                and descriptor.file_annotation is None and not param.multiple and hasattr(param, "_runtime_param")):
            param._runtime_param = Plain(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
    for sub in getattr(command, "commands", {}).values():
        _plain_conversion(sub)


def main(argv: list[str] | None = None) -> int:
    """`ppa`: the exit code of the command; a mistake is one line on stderr, never a traceback."""
    command = typer.main.get_command(app)
    _plain_conversion(command)
    try:
        result = command.main(args=argv, prog_name="ppa", standalone_mode=False)
    except common.Mistake as mistake:
        return common.fail(mistake)
    except typer.TyperException as exc:  # Click's usage errors (typer vendors Click)
        return _usage(exc)
    except KeyboardInterrupt:
        return common.fail(common.Mistake("interrupted"))
    except Exception as exc:
        if common.debug():
            raise
        return common.fail(_known(exc))
    return result if isinstance(result, int) else 0


def script() -> None:
    """The `ppa` console script: `main`, then an exit without Python's last collection of every object.

    After a run the process holds Dagster's, pandas' and Great Expectations' objects, and Python's
    own exit walks them all (about 1.2 s after `ppa run`, 1.0 s after importing them alone) before
    the prompt comes back. By the time `main` returns, the command's work is written and its
    connections are closed; the exit handlers still run (logging's flush among them) and stdout and
    stderr are flushed, then the process ends with the command's code. When another thread still
    runs, or this Python cannot run its exit handlers, the usual exit waits for it instead.
    """
    code = main()
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if run_handlers is None or others:
        sys.exit(code)
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe (`ppa yoy | head`) has nothing left to take
            stream.flush()
    os._exit(code)


def _usage(exc) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        print(ctx.get_help())
        return 2
    where = ctx.command_path if ctx is not None else "ppa"
    return common.fail(common.Mistake("usage", detail=exc.format_message().rstrip("."), command=where)) if getattr(
        exc, "exit_code", 2) == 2 else common.fail(common.Mistake("unexpected", detail=exc.format_message()))


def _known(exc: Exception) -> common.Mistake:
    """What an exception means for the user."""
    import duckdb

    from pipeline.warehouse.db import WarehouseLockTimeout

    if isinstance(exc, WarehouseLockTimeout) or (isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()):
        return common.Mistake("warehouse_busy")
    if isinstance(exc, OSError):
        where = common.path_text(exc.filename) if exc.filename else "?"
        return common.Mistake("file_error", path=where, reason=exc.strerror or type(exc).__name__)
    from pipeline.privacy import scrubbed

    return common.Mistake("unexpected", detail=scrubbed(exc, "ppa"))
