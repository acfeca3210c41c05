"""`ppa`: the command line for analysts and operators.

`app.py` declares the commands and options (typer) and `main`, which turns every mistake into
one line and an exit code; each group of commands has its module: `run.py` (the pipeline, with
its progress), `status.py` (the ledger, without Dagster), `files.py` (validate, template,
restore), `tables.py` (yoy, compare, report, docs, sample), `admin.py` (backup,
restore-backup, erase, retention, dq), `runs.py` (the latest runs from Dagster); `common.py` is what they share.
"""

from pipeline.cli.app import app, main, script
from pipeline.cli.runs import failure_text, recent_runs

__all__ = ["app", "failure_text", "main", "recent_runs", "script"]
