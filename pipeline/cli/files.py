"""`ppa validate`, `ppa template`, `ppa restore` and `ppa erase --file`: one file at a time."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.cli import common
from pipeline.config import settings
from pipeline.names import unescape


def validate(file: Path, agency_code: str, feedback: bool = False) -> int:
    """Dry run: what the pipeline would make of one file (and, with --feedback, its feedback workbook)."""
    agency_code = common.agency(agency_code)
    common.existing_file(file, example=f"data/raw/{agency_code}/register_2024.xlsx")
    from pipeline.ingest.dryrun import dry_run
    from pipeline.registry import get_agency
    from pipeline.safefs import NotRegular

    agency = get_agency(agency_code)
    try:
        read, result = dry_run(file, agency)
    except NotRegular as exc:  # replaced by something else since it was checked
        raise common.Mistake("not_a_file", path=common.path_text(file), kind=exc.kind, example=file.name) from None
    except OSError as exc:
        raise common.Mistake("unreadable", path=common.path_text(file), reason=exc.strerror or type(exc).__name__) \
            from None
    common.say(f"File {common.path_text(file.name)} ({file.stat().st_size} bytes), agency {agency.code}")
    code = _describe_dry_run(read, result)
    if feedback:
        from pipeline.feedback.write import write_feedback_for_file

        written = write_feedback_for_file(file, agency, read, result)
        common.say()
        common.say(f"umpan balik / feedback: {common.path_text(written)}")
    return code


def _describe_dry_run(read, result) -> int:
    from pipeline.messages import render

    say = common.say
    if read.error_code and read.error_code != "no_register_sheet":
        detail = f" ({read.error_detail})" if read.error_detail else ""
        say(f"  DITOLAK / REJECTED: {render(read.error_code, detail=read.error_detail)}{detail}")
        return 1
    for sheet in read.sheets.itertuples():
        if sheet.is_recap in (True, 1):
            say()
            say(f"Sheet '{sheet.sheet}': recap (table of counts), header at row {sheet.header_row}, "
                f"lines by {sheet.recap_axis}{' (read turned)' if sheet.recap_turned else ''}, "
                f"{sheet.recap_cells} count cells")
            continue
        if not sheet.is_register:
            say()
            say(f"Sheet '{sheet.sheet}': {render(sheet.reason, sheet=sheet.sheet)}")
            continue
        say()
        say(f"Sheet '{sheet.sheet}'{'' if sheet.visible else ' (hidden)'}: header at row {sheet.header_row}"
            f"{' (two rows)' if sheet.header_rows == 2 else ''}; {sheet.data_rows} data rows, "
            f"{sheet.total_rows} total rows and {sheet.blank_rows} blank rows skipped")
        for column, header in json.loads(sheet.columns).items():
            say(f"  {header!r:32} -> {column}")
        for header in sheet.personal_headers:
            say(f"  {header!r:32} -> dropped (personal data)")
        for header in sheet.unknown_headers:
            say(f"  {header!r:32} -> ignored ({render('header_unknown', header=header)})")
    if read.error_code == "no_register_sheet":
        say()
        say(f"DITOLAK / REJECTED: {render('no_register_sheet')}")
        return 1
    say()
    say(f"Would load {len(result.staged)} rows, reject {len(result.rejected)}, "
        f"with {len(result.warnings)} cell warnings.")
    for _, row in result.rejected.iterrows():
        say(f"  row {row['_source_row']} ({row['_source_sheet']}): {row['reasons']}")
    if len(read.recap):
        say(f"Would load {len(result.recap.staged)} recap cells, reject {len(result.recap.rejected)}.")
        for _, row in result.recap.rejected.iterrows():
            say(f"  cell {row['_source_cell']} ({row['_source_sheet']}): {row['reasons']}")
    for _, row in result.warnings.iterrows():
        say(f"  row {row['_source_row']} ({row['_source_sheet']}) warning: {row['message']}")
    return 0


def template(agency: str, out: Path | None, recap: bool = False) -> int:
    from pipeline.feedback.template import write_recap_template, write_template

    agency = common.agency(agency)
    target = common.file_to_write(out or Path.cwd() / f"template_{'rekap' if recap else 'register'}_{agency}.xlsx")
    try:
        written = (write_recap_template if recap else write_template)(agency, target)
    except OSError as exc:
        raise common.Mistake("not_writable", path=common.path_text(target),
                             reason=exc.strerror or type(exc).__name__) from None
    common.say(f"templat / template: {common.path_text(written)}")
    return 0


SHA = re.compile(r"^[0-9a-f]{6,64}$")


def restore(sha: str, to_dir: Path | None) -> int:
    """Give back the exact bytes of an archived file, under its original name when the ledger knows it."""
    from pipeline.ingest import archive

    sha = sha.lower()
    if not SHA.match(sha):
        raise common.Mistake("bad_sha", sha=sha)
    if to_dir is not None and to_dir.exists() and not to_dir.is_dir():
        raise common.Mistake("not_a_folder", path=common.path_text(to_dir))
    matches = archive.find(settings().archive_dir, sha)
    if not matches:
        raise common.Mistake("archive_missing", sha=sha)
    if len(matches) > 1:
        raise common.Mistake("archive_ambiguous", sha=sha, count=len(matches))
    from pipeline.privacy import SecretError

    try:
        target = archive.restore(settings().archive_dir, sha, to_dir or Path.cwd(), _original_name(sha))
    except (archive.ArchiveError, SecretError) as exc:  # another key, a damaged copy, no key
        raise common.Mistake("archive_unreadable", detail=exc) from None
    common.say(f"dipulihkan / restored {common.path_text(target)}")
    return 0


def _original_name(sha: str) -> str | None:
    """The file's name as the ledger last knew it."""
    path = settings().warehouse_path
    if not path.exists():
        return None
    with common.read_only(path) as con:
        row = con.execute("SELECT path FROM meta.ingest_log WHERE starts_with(sha256, ?) ORDER BY last_seen DESC "
                          "LIMIT 1", [sha]).fetchone()
    return unescape(row[0].rsplit("/", 1)[-1]) if row else None

