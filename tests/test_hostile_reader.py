"""One odd file can never stop a run: the reader's side.

- personal values are masked in time linear in the cell, whatever the cell holds;
- a cell's text is bounded (Excel's 32,767 characters) before anything scans it;
- the container is checked the way calamine reads it (relationships followed, any XML quoting);
- every file is read in a guarded child process: a crash, an abort or a timeout rejects that
  file with a reason, and the run and every other file go on.

Every hostile file is generated here; nothing is committed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import query, run_pipeline
from pipeline import privacy
from pipeline.contract import load_contract
from pipeline.excel import read_workbook
from test_hostile import SHEET, rewrite
from workbooks import register, row

C = load_contract()
EXCEL_MAX_CHARS = 32_767


# ---------------------------------------------------------------- masking in linear time

_REFERENCE = (("nik", privacy.NIK), ("phone", privacy.PHONE), ("email", privacy.EMAIL))


def reference_mask(text: str) -> tuple[str, list[str]]:
    """The masking as the detectors' patterns define it (re.subn: quadratic on some texts)."""
    found = []
    for kind, pattern in _REFERENCE:
        text, n = pattern.subn(privacy.MASKS[kind], text)
        if n:
            found.append(kind)
    return text, found


# characters that start, continue or end the detectors' matches, and others
PIECES = st.text(alphabet="a1.@-+ ,eE5_(0)8\nZ\u00e9\u0661x62", min_size=0, max_size=40)


@settings(max_examples=600)
@given(PIECES)
def test_linear_masking_finds_what_the_patterns_define(text):
    assert privacy.mask(text) == reference_mask(text)
    assert privacy.detect(text) == [kind for kind, p in _REFERENCE if p.search(text)]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["ab", "a.b", "x@y", "@", ".", "-", "+", "1", "08", "0812", "e15", "1,", " ",
                                  "z.co", "@a.b", "@@"]), min_size=1, max_size=30))
def test_linear_masking_on_e_mail_shaped_texts(parts):
    text = "".join(parts)
    assert privacy.mask(text) == reference_mask(text)


def _seconds(fn, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - start)
    return best


ADVERSARIAL = ["a", "1", "1.", "a.", "a-", "x@a-", "1,1 ", "a@", "0812 ", "ab+", "\u00e9"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(ADVERSARIAL), min_size=1, max_size=3), st.sampled_from(["", "@", "1", "@x"]))
def test_masking_time_grows_linearly_with_the_cell(unit, tail):
    """At 4k and 32k characters (8 times longer) the time grows about 8 times; the patterns'
    own search took seconds at 32k (64 times its 4k time) on these texts."""
    unit = "".join(unit)

    def cell(n: int) -> str:
        return (unit * (n // len(unit) + 1))[: n - len(tail)] + tail

    small, big = _seconds(privacy.mask, cell(4096)), _seconds(privacy.mask, cell(32_768))
    assert big < max(24 * small, 0.05), (unit, tail, small, big)


def test_a_full_cell_of_each_adversarial_kind_is_masked_quickly():
    benign = _seconds(privacy.mask, ("Rumah Tangga 1 " * 3000)[:EXCEL_MAX_CHARS])
    for unit in ADVERSARIAL:
        text = (unit * EXCEL_MAX_CHARS)[: EXCEL_MAX_CHARS - 1] + "@"
        assert _seconds(privacy.mask, text) < max(20 * benign, 0.05), unit


# ---------------------------------------------------------------- each cell's text bounded before it is scanned

def long_cells(path: Path) -> Path:
    """A register whose place holds 40,000 characters (openpyxl would cut it: written as XML here) and
    whose status holds a full 32,767-character cell that made the e-mail search quadratic ('a.a. … @')."""
    full = ("a." * EXCEL_MAX_CHARS)[: EXCEL_MAX_CHARS - 1] + "@"
    good = register(path.with_suffix(".tmp"), [row(case_id="L1", place="PLACE", status="STATUS")])
    out = rewrite(good, path, SHEET, lambda d: d.replace(b">PLACE<", b">" + b"Rumah " * 6000 + b"Tangga" * 670 + b"<")
                  .replace(b">STATUS<", b">" + full.encode() + b"<"))
    good.unlink()
    return out


def test_a_cell_is_cut_to_excels_limit_before_it_is_masked_or_mapped(tmp_path):
    path = long_cells(tmp_path / "panjang.xlsx")
    start = time.perf_counter()
    [sheet] = read_workbook(path, C).registers
    [data] = sheet.rows
    assert time.perf_counter() - start < 5
    assert len(data.values["place"]) == EXCEL_MAX_CHARS and data.values["place"].startswith("Rumah Rumah")
    assert data.values["case_status"] == ("a." * EXCEL_MAX_CHARS)[: EXCEL_MAX_CHARS - 1] + "@"  # exactly the limit
    assert data.cut == ["place"]


@pytest.mark.slow
def test_a_cut_cell_loads_with_a_warning(isolated_env):
    long_cells(isolated_env["raw"] / "kutim" / "panjang.xlsx")
    assert run_pipeline("kutim").success
    wh = isolated_env["warehouse"]
    assert query(wh, "SELECT status, rows_staged FROM meta.ingest_log").values.tolist() == [["loaded", 1]]
    raw = query(wh, "SELECT length(place) AS n, _cells_cut FROM raw.case_rows").iloc[0]
    assert (raw["n"], raw["_cells_cut"]) == (EXCEL_MAX_CHARS, "place")
    warnings = query(wh, "SELECT \"column\", header, value, code, message FROM staging.cell_warnings "
                         "WHERE code = 'cell_text_cut'")
    assert warnings[["column", "header", "code"]].values.tolist() == [["place", "Tempat Kejadian", "cell_text_cut"]]
    assert warnings["value"][0] == "Rumah " * 10 + "…"
    assert warnings["message"][0].startswith("Isian di kolom 'Tempat Kejadian' lebih dari 32.767 karakter")
