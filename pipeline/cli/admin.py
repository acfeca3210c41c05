"""`ppa backup`, `ppa restore-backup` and `ppa dq`: operators' commands."""

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
