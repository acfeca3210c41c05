"""The allow-lists of pipeline/versions.py cover every module the code behind a stored result imports.

A module missed there would let a run keep a slice, cached rows or a feedback workbook made
by older code. The imports are read from the source (any depth, inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline import versions
from pipeline.config import PACKAGE_DIR


def module_path(name: str) -> Path | None:
    """The file of a pipeline module (or package), None for other modules."""
    if not name.startswith("pipeline."):  # the empty top-level __init__ shapes nothing
        return None
    base = PACKAGE_DIR.parent / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported(path: Path) -> set[str]:
    """The pipeline modules a file imports (`from pipeline.x import y` may name a module y)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names if module_path(f"{node.module}.{a.name}"))
    return {name for name in out if module_path(name)}


def closure(*roots: str) -> set[Path]:
    """The files of the roots and of every pipeline module they import, transitively; a package's
    __init__ counts for each module in it."""
    seen: set[Path] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        path = module_path(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # parent packages run their __init__
        if path is None or path in seen:
            continue
        seen.add(path)
        todo += sorted(imported(path))
    return seen


CASES = {
    "PARSER": ("pipeline.ingest.workbook", "pipeline.ingest.read"),
    "SLICE": ("pipeline.ingest.load",),
    "FEEDBACK": tuple(f"pipeline.feedback.{p.stem}" for p in (PACKAGE_DIR / "feedback").glob("*.py")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_module_the_code_imports_is_hashed(name):
    hashed = set(versions.files_of(getattr(versions, name)))
    missing = sorted(p.relative_to(PACKAGE_DIR).as_posix() for p in closure(*CASES[name]) - hashed)
    assert not missing, f"add to versions.{name}: {missing}"


def test_a_change_in_a_subfolder_changes_the_hash(tmp_path, monkeypatch):
    (tmp_path / "layer" / "deep").mkdir(parents=True)
    module = tmp_path / "layer" / "deep" / "rule.py"
    module.write_text("A = 1\n")
    (tmp_path / "data.yaml").write_text("x: 1\n")
    monkeypatch.setattr(versions, "PACKAGE_DIR", tmp_path)
    before = versions.source_hash.__wrapped__(("layer", "data.yaml"))
    module.write_text("A = 2\n")
    assert versions.source_hash.__wrapped__(("layer", "data.yaml")) != before


def test_a_name_that_is_not_there_is_an_error():
    with pytest.raises(FileNotFoundError):
        versions.files_of(["no_such_module.py"])
