"""`ppa backup`, `ppa restore-backup`, `ppa erase`, `ppa retention` and `ppa dq`: operators' commands."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import common


def backup(dest: Path) -> int:
    from pipeline.automation.backup import BackupError
    from pipeline.automation.backup import backup as write_backup

    if dest.exists() and not dest.is_dir():
        raise common.Mistake("not_a_folder", path=common.path_text(dest))
    try:
        done = write_backup(dest)
    except BackupError as exc:
        raise common.Mistake("backup_failed", detail=exc) from None
    common.say(f"cadangan ditulis / backup written: {common.path_text(done.path)} in {done.seconds:.1f} s; archive: "
               f"{done.copied_files} files copied ({done.copied_bytes / 1e6:.1f} MB), {done.linked_files} already "
               "in the previous backup")
    for note in done.notes:
        common.say(f"catatan / note: {note}")
    return 0


def restore_backup(src: Path) -> int:
    from pipeline.automation.backup import BackupError
    from pipeline.automation.backup import restore as restore_from

    common.existing_folder(src)
    try:
        done = restore_from(src)
    except BackupError as exc:
        raise common.Mistake("backup_failed", detail=exc) from None
    common.say(f"dipulihkan / restored: {common.path_text(done.path)} in {done.seconds:.1f} s "
               f"({done.copied_files} archived files)")
    return 0


def dq_list(agency: str | None, show_all: bool) -> int:
    from pipeline.marts.reviews import list_flags

    agency = common.agency(agency)
    flags = list_flags(common.warehouse(), agency, include_reviewed=show_all)
    if not len(flags):
        common.say("tidak ada temuan terbuka / no open data-quality flag")
        return 0
    rows = flags.astype(object).where(flags.notna(), None).values.tolist()
    for line in common.table(list(flags.columns), rows):
        common.say(line)
    return 0


def dq_review(flag: str, status: str, note: str | None) -> int:
    from pipeline.marts.reviews import ReviewError, review

    try:
        review(common.warehouse(), flag, status, note)
    except ReviewError as exc:
        raise common.Mistake("review_refused", detail=exc) from None
    common.say(f"{flag}: {status} (tersimpan; berlaku untuk setiap run berikutnya / recorded for every later run)")
    return 0


def erase(sha: str | None, case: list[str] | None, then_run: bool = True) -> int:
    """Erase a file (by sha256) or a case everywhere; then a run rebuilds what is derived from them."""
    from pipeline.config import settings
    from pipeline.erasure import EraseError, erase_case, erase_file
    from pipeline.warehouse.db import connect

    if bool(sha) == bool(case):
        raise common.Mistake("erase_what")
    if case:
        common.agency(case[0])
    cfg, path = settings(), common.warehouse()
    try:
        with connect(path) as con:
            done = (erase_file(con, sha, cfg.raw_dir, cfg.archive_dir) if sha
                    else erase_case(con, case[0], case[1], cfg.raw_dir, cfg.archive_dir))
    except EraseError as exc:
        raise common.Mistake("erase_refused", detail=exc) from None
    what = f"file {done.sha256}" if done.kind == "file" else f"a case of {done.agencies[0]} (key {done.case_key})"
    common.say(f"dihapus / erased: {what}: {done.rows_removed} warehouse rows, {len(done.archive_files)} archived "
               f"files, {len(done.feedback_files)} feedback files; recorded in meta.erasures")
    for path in done.in_drop_folder:
        it = "it" if done.kind == "file" else "the case"
        common.say(f"masih di folder kiriman / still in the drop folder: {common.path_text(path)}: later runs leave "
                   f"{it} out (ask the agency to remove {'it' if done.kind == 'file' else 'the case from its register'})")
    if not then_run:
        return 0
    from pipeline.cli.run import run

    return run(None, 0, False)


def retention() -> int:
    """Apply the retention periods (PPA_RETAIN_*) now."""
    from pipeline.config import settings
    from pipeline.retention import sweep
    from pipeline.warehouse.db import connect

    with connect(common.warehouse()) as con:
        done = sweep(con, settings())
    for line in done.lines() or ["tidak ada yang melewati masa simpan / retention: nothing past its period"]:
        common.say(line)
    return 0
