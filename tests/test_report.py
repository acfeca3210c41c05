"""pipeline.publish (report, compare, charts): the two-agency comparison and the HTML report, on a small dataset run through the pipeline.

The dataset (write_registers) is small enough to count by hand:
- kutim 2023: one case per month, March has two victims -> 13 victims, 12 cases; 11 Seksual, 2 Fisik+Psikis.
- kutim 2024: one case per month except June -> 11 victims, 11 cases; the file covers the year, so June is
  a reported zero (data contract, section 8), not a missing month.
- batam 2023: one case per month -> 12 victims; batam 2024: two cases per month -> 24 victims.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from helpers import query, run_pipeline
from workbooks import register, row

from pipeline.marts.sql import USAGE_WARNING
from pipeline.publish import charts, compare, report, views
from pipeline.registry import get_agency, population_series

# (agency, year) -> (victims, cases)
EXPECTED = {("kutim", 2023): (13, 12), ("kutim", 2024): (11, 11), ("batam", 2023): (12, 12), ("batam", 2024): (24, 24)}


def write_registers(raw_dir: Path) -> None:
    """Registers for kutim and batam, 2023-2024 (see the module docstring)."""
    kutim_2023 = []
    for m in range(1, 13):
        forms = "Fisik, Psikis" if m == 3 else "Seksual"
        r = row(case_id=f"K{m:02d}/2023", report=dt.date(2023, m, 10), incident=dt.date(2023, m, 1),
                kecamatan="Sangatta Utara", forms=forms)
        kutim_2023 += [r, list(r)] if m == 3 else [r]  # March: one case, two victims
    kutim_2024 = [row(case_id=f"K{m:02d}/2024", report=dt.date(2024, m, 10), incident=dt.date(2024, m, 1),
                      kecamatan="Sangatta Utara", sex="L", age="30 th", forms="Fisik")
                  for m in range(1, 13) if m != 6]
    batam_2023 = [row(case_id=f"B{m:02d}/2023", report=dt.date(2023, m, 12), incident=dt.date(2023, m, 2),
                      kecamatan="Batam Kota", forms="Psikis") for m in range(1, 13)]
    batam_2024 = [row(case_id=f"B{m:02d}{k}/2024", report=dt.date(2024, m, 12 + k), incident=dt.date(2024, m, 2),
                      kecamatan="Batam Kota", forms="Seksual", age="8 th") for m in range(1, 13) for k in (0, 1)]
    register(raw_dir / "kutim" / "register_2023.xlsx", kutim_2023)
    register(raw_dir / "kutim" / "register_2024.xlsx", kutim_2024)
    register(raw_dir / "batam" / "register_2023.xlsx", batam_2023)
    register(raw_dir / "batam" / "register_2024.xlsx", batam_2024)


def build_analytics() -> Path:
    """Write the registers into PPA_RAW_DIR, run the pipeline in-process, return the analytics copy."""
    from pipeline.config import settings

    cfg = settings()
    write_registers(cfg.raw_dir)
    result = run_pipeline()
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert cfg.analytics_path.exists()
    return cfg.analytics_path


@pytest.fixture(scope="module")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pipeline run for the whole module, in its own folders."""
    base = tmp_path_factory.mktemp("report_data")
    with pytest.MonkeyPatch.context() as mp:
        for name, var in [("raw", "PPA_RAW_DIR"), ("warehouse", "PPA_WAREHOUSE_DIR"), ("reports", "PPA_REPORTS_DIR"),
                          ("archive", "PPA_ARCHIVE_DIR"), ("dagster_home", "DAGSTER_HOME")]:
            (base / name).mkdir()
            mp.setenv(var, str(base / name))
        (base / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        mp.setenv("PPA_HASH_SECRET", "test-secret-for-the-keyed-hashes-only")
        mp.delenv("PPA_REGISTRY", raising=False)
        return build_analytics()


def rate(agency: str, year: int, victims: int) -> float:
    pop = population_series(get_agency(agency).population, [year])[year][0]
    return round(victims * 100000.0 / pop, 2)


@pytest.fixture(scope="module")
def report_html(analytics: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = report.write_report(analytics, tmp_path_factory.mktemp("report_out"))
    assert path.name == report.REPORT_FILE and path.exists()
    return path.read_text(encoding="utf-8")


class Cell(NamedTuple):
    cls: str
    title: str
    text: str


class _Tables(HTMLParser):
    """Every table of a page with the heading (h2) above it: rows of (row attributes, cells)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[tuple[dict, list[Cell]]]]] = []
        self.heading, self._in_h2, self._cell = "", False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self._in_h2, self.heading = True, ""
        elif tag == "table":
            self.tables.append((self.heading, []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append((attrs, []))
        elif tag == "td":
            self._cell = [attrs.get("class") or "", attrs.get("title") or "", ""]

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag == "td" and self._cell is not None:
            self.tables[-1][1][-1][1].append(Cell(*self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._in_h2:
            self.heading += data
        if self._cell is not None:
            self._cell[2] += data


def rows_of(page: str, heading: str, key: str | None = "data-key", with_keys: bool = False):
    """The rows of the first table under the heading that starts with `heading`: by their `key`
    attribute (a dict), or in order (a list; with_keys: (data-key, cells) pairs)."""
    parser = _Tables()
    parser.feed(page)
    rows = next(r for h, r in parser.tables if h.strip().startswith(heading))
    rows = [(attrs, cells) for attrs, cells in rows if cells]  # the header row has no td
    if with_keys:
        return [(attrs.get("data-key", ""), cells) for attrs, cells in rows]
    if key is None:
        return [cells for _, cells in rows]
    return {attrs[key]: cells for attrs, cells in rows}


# ---------------------------------------------------------------- compare_table

def test_compare_table_values(analytics: Path) -> None:
    df = compare.compare_table(analytics, "kutim", "batam")
    assert list(df["year"]) == [2023, 2024]
    for field in compare.COMPARE_FIELDS:
        assert f"kutim_{field}" in df.columns and f"batam_{field}" in df.columns
    by_year = df.set_index("year")
    for (agency, year), (victims, cases) in EXPECTED.items():
        assert by_year.loc[year, f"{agency}_victims"] == victims
        assert by_year.loc[year, f"{agency}_cases"] == cases
        assert by_year.loc[year, f"{agency}_victims_per_100k"] == pytest.approx(rate(agency, year, victims))
    # first year: no change
    assert views.is_missing(by_year.loc[2023, "kutim_change_abs"])
    assert views.is_missing(by_year.loc[2023, "kutim_change_pct"])
    assert by_year.loc[2024, "kutim_change_abs"] == -2
    assert by_year.loc[2024, "kutim_change_pct"] == pytest.approx(round(-2 * 100 / 13, 1))
    assert by_year.loc[2024, "batam_change_abs"] == 12
    assert by_year.loc[2024, "batam_change_pct"] == pytest.approx(100.0)
    # kutim had no case in June 2024, in a register that covers the year: a zero, not a missing month
    assert bool(by_year.loc[2024, "kutim_incomplete"]) is False
    assert by_year.loc[2024, "kutim_months_reported"] == 12
    assert bool(by_year.loc[2024, "kutim_unstable"]) is True  # 11 victims: under 20
    assert (by_year.loc[2024, "kutim_victims_ci_low"], by_year.loc[2024, "kutim_victims_ci_high"]) == \
        pytest.approx((5.491, 19.682), abs=1e-3)
    assert not by_year.loc[2023, "kutim_incomplete"]
    assert not by_year["batam_incomplete"].any()


def test_yoy_and_compare_commands_import_neither_dagster_nor_pandas(analytics: Path) -> None:
    """`ppa yoy` and `ppa compare` read the analytics copy with DuckDB alone (python -X importtime
    lists every import); what they print is what compare_table gives."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PPA_WAREHOUSE_DIR": str(analytics.parent), "PPA_HASH_SECRET": "unused"}
    for args in (["yoy"], ["compare", "kutim", "batam"]):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline.cli", *args], capture_output=True,
                              text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "duckdb" in imported
        assert not imported & {"dagster", "pandas", "numpy", "scipy", "pandera", "great_expectations"}
        assert "turun 15%, belum bermakna secara statistik (p=0.69)" in done.stdout
    assert done.stdout.strip() == compare.format_compare(compare.compare_table(analytics, "kutim", "batam")).strip()


def test_yoy_for_one_agency_is_that_agencys_rows(analytics: Path, monkeypatch, capsys) -> None:
    """`ppa yoy --agency kutim` (and `ppa run --agency kutim`, which ends with it) prints kutim's rows."""
    from pipeline.cli import main

    every = compare.yoy_table(analytics)
    kutim = compare.yoy_table(analytics, "kutim")
    assert kutim and kutim == [r for r in every if r["agency"] == "kutim"] and len(kutim) < len(every)
    monkeypatch.setenv("PPA_WAREHOUSE_DIR", str(analytics.parent))
    monkeypatch.setenv("PPA_HASH_SECRET", "unused")
    assert main(["yoy", "--agency", "kutim"]) == 0
    printed = capsys.readouterr().out
    assert compare.format_yoy(kutim) in printed
    assert "batam" not in printed and "kukar" not in printed


def test_compare_table_rejects_bad_agencies(analytics: Path) -> None:
    with pytest.raises(ValueError, match="unknown agency"):
        compare.compare_table(analytics, "kutim", "nowhere")
    with pytest.raises(ValueError, match="different"):
        compare.compare_table(analytics, "kutim", "kutim")
    with pytest.raises(FileNotFoundError):
        compare.compare_table(analytics.parent / "missing.duckdb", "kutim", "batam")


def test_compare_table_agency_without_data(analytics: Path) -> None:
    """An agency with no files still gets a row per year, with zero victims."""
    df = compare.compare_table(analytics, "ppu", "kutim").set_index("year")
    assert list(df["ppu_victims"]) == [0, 0]
    assert list(df["kutim_victims"]) == [13, 11]


def test_format_compare(analytics: Path) -> None:
    text = compare.format_compare(compare.compare_table(analytics, "kutim", "batam"))
    assert "kutim" in text and "batam" in text
    line_2024 = next(line for line in text.splitlines() if line.startswith("2024"))
    for value in ["11", "5–20", "turun 15%, belum bermakna secara statistik (p=0.69)", "naik 100%", "unstable"]:
        assert value in line_2024
    assert USAGE_WARNING in text
    assert "p=0.00" not in text


# ---------------------------------------------------------------- HTML report

def test_report_is_self_contained(report_html: str) -> None:
    assert report_html.startswith("<!DOCTYPE html>")
    assert '<html lang="id">' in report_html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", report_html, re.I)
    assert "http://" not in report_html and "https://" not in report_html
    for tag in ("<script", "<link", "@import", "url("):
        assert tag not in report_html.lower()
    images = re.findall(r'<img [^>]*src="([^"]*)"', report_html)
    assert len(images) >= 4
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_report_has_warning_and_build_date(report_html: str, analytics: Path) -> None:
    assert html.escape(USAGE_WARNING) in report_html
    assert "bukan angka prevalensi" in report_html
    assert 'class="warning"' in report_html
    # the warning comes before the first table
    assert report_html.index('class="warning"') < report_html.index("<table")
    # in the agencies' time zones (registry): four in WITA first, Batam's WIB beside it; never UTC
    built = views.built_at(analytics).astimezone(ZoneInfo("Asia/Makassar"))
    line = re.search(r"Data dibangun: <strong>([^<]*)</strong>", report_html).group(1)
    assert line == (f"{built.day} {views.MONTHS_ID[built.month - 1]} {built.year}, pukul {built:%H.%M} WITA "
                    f"({built.astimezone(ZoneInfo('Asia/Jakarta')):%H.%M} WIB)")
    assert "UTC" not in line


def test_report_says_where_the_data_end_and_that_it_is_long_ago(report_html: str) -> None:
    assert "Januari 2023 s.d. Desember 2024 (bulan terakhir yang berisi data)" in report_html
    # the data end in 2024, years before the report: a visible note says so, per region
    note = re.search(r'<p class="stale"[^>]*>([^<]*)</p>', report_html).group(1)
    assert "Desember 2024: Batam, Kutai Timur" in note


def test_a_year_is_in_progress_only_where_its_data_end():
    import pandas as pd

    def comp(agency, last, year=2025):  # months of `year` up to `last` with data; the rest missing
        return [{"agency": agency, "year": year, "month": m, "has_data": m <= last, "victims": int(m <= last),
                 "coverage_status": "reported" if m <= last else "missing"} for m in range(1, 13)]

    frames = {"completeness": pd.DataFrame(comp("kutim", 11) + comp("batam", 12) + comp("batam", 0, 2026))}
    assert views.data_end(frames) == {"kutim": (2025, 11), "batam": (2025, 12)}
    notes = views.year_notes(frames)
    assert notes[("kutim", 2025)] == "TIDAK LENGKAP: belum ada laporan bulan Desember; data s.d. November"
    assert notes[("batam", 2025)] == ""  # a whole year, though the calendar has moved on


def test_times_in_the_agencies_zones():
    when = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)
    assert views.date_in_zones(when, ["Asia/Makassar"]) == "5 Desember 2026, pukul 07.30 WITA"
    assert views.date_in_zones(when, ["Asia/Jakarta", "Asia/Makassar", "Asia/Makassar"]) == \
        "5 Desember 2026, pukul 07.30 WITA (06.30 WIB)"
    assert views.date_in_zones(when, ["Asia/Jayapura"]) == "5 Desember 2026, pukul 08.30 WIT"


def test_report_has_the_numbers(report_html: str) -> None:
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", report_html)
    # victims table: kutim 2023 -> 12 cases, 13 victims, rate per 100,000
    assert views.fmt_id(rate("kutim", 2023, 13), 2) in cells
    assert views.fmt_id(rate("batam", 2024, 24), 2) in cells
    # population with Indonesian thousands separators
    assert "455.504" in cells
    # year-on-year change
    assert "-15,4%" in cells and "+100,0%" in cells
    # forms: kutim 2023, 11 of 13 sexual, 2 of 13 physical
    assert f"11 ({views.fmt_id(11 * 100 / 13, 1)}%)" in cells
    assert f"2 ({views.fmt_id(2 * 100 / 13, 1)}%)" in cells
    # completeness: kutim had no case in June 2024, in a register that covers the year: a zero, not missing
    grid = rows_of(report_html, "4. Kelengkapan")
    june = grid["kutim:2024"][2 + 5]
    assert (june.cls, june.text) == ("reported_zero", "0") and june.title == "Juni 2024: nihil / nol kasus"
    assert grid["kutim:2024"][-1].text == "12 dari 12"
    assert "Kutai Timur: Jun 2024" in report_html
    assert "TIDAK LENGKAP" not in " ".join(c.text for c in rows_of(report_html, "2. Perubahan")["kutim:2024"])
    # every section is there, with its explanation
    for section in ("1. Korban per wilayah dan tahun", "2. Perubahan dari tahun sebelumnya", "3. Bentuk kekerasan",
                    "4. Kelengkapan laporan per bulan", "5. Temuan kualitas data"):
        assert section in report_html
    assert report_html.count('class="explain"') == 5


def test_report_shows_intervals_tests_and_unstable_counts(report_html: str, analytics: Path) -> None:
    region = rows_of(report_html, "1. Korban")["kutim:2024"]
    mart = query(analytics.parent, "SELECT * FROM marts.victims_by_region_year WHERE agency = 'kutim' AND year = 2024",
                 db="analytics.duckdb").iloc[0]
    assert region[4].text == "5–20"  # 11 victims: 5.5 to 19.7
    assert region[10].text == views.interval(mart["victims_per_100k_ci_low"], mart["victims_per_100k_ci_high"], 2)
    assert "tidak stabil (< 20 korban)" in region[-1].text
    yoy = rows_of(report_html, "2. Perubahan")
    kutim = yoy["kutim:2024"]
    assert [c.text for c in kutim[2:5]] == ["11", "5–20", "13"]
    assert kutim[7].text == "turun 15%, belum bermakna secara statistik (p=0,69)" and kutim[7].cls == "words"
    assert yoy["batam:2024"][7].text == "naik 100%, belum bermakna secara statistik (p=0,07)"
    assert yoy["batam:2023"][7].text == "–"  # no year before
    assert "p=0,00" not in report_html


def test_report_marks_zero_missing_and_not_due_months_with_a_legend(report_html: str, analytics: Path) -> None:
    mart = query(analytics.parent, "SELECT agency, year, month, coverage_status FROM marts.reporting_completeness",
                 db="analytics.duckdb")
    grid = rows_of(report_html, "4. Kelengkapan")
    for a, y, m, status in mart.itertuples(index=False):
        assert grid[f"{a}:{y}"][1 + m].cls == status, (a, y, m)
    assert {"reported", "reported_zero", "missing", "not_due"} <= set(mart["coverage_status"])
    legend = re.search(r'<p class="legend">(.*?)</p>', report_html).group(1)
    for label in ("ada laporan", "nihil / nol kasus", "belum ada laporan", "belum jatuh tempo"):
        assert label in legend
    # the months past due without a report are listed, and their years are marked incomplete
    missing = mart[(mart["coverage_status"] == "missing") & (mart["agency"] == "kutim")]
    first = int(missing["year"].min())
    span = views.month_span(missing.loc[missing["year"] == first, "month"].tolist())
    assert f"<li>Kutai Timur: {span} {first}" in report_html
    ppu = rows_of(report_html, "1. Korban")["ppu:2023"]  # no file at all: no number, and why
    assert [ppu[3].text, ppu[4].text] == ["–", ""] and ppu[-1].text.startswith("belum ada laporan")


def test_report_lists_the_flags_with_their_reviews(analytics: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real_read = views.read_analytics

    def read(path):
        frames = real_read(path)
        flags = frames["flags"]
        first = flags.index[flags["severity"] != "info"][0]
        flags.loc[first, ["status", "note"]] = ["explained", "Satu kasus dengan 40 korban"]
        return frames

    monkeypatch.setattr(report, "read_analytics", read)
    page = report.write_report(analytics, tmp_path).read_text(encoding="utf-8")
    flags = real_read(analytics)["flags"]
    cells = [row for row in rows_of(page, "5. Temuan", key=None)]
    assert len(cells) == len(flags)
    reviews = {row[2].text: row[3] for row in cells}
    for f in flags.to_dict("records"):
        assert f["message"] in reviews
    explained = [c for c in reviews.values() if c.cls == "explained"]
    assert [c.text for c in explained] == ["dijelaskan: Satu kasus dengan 40 korban"]
    assert {c.text for c in reviews.values() if c.cls == "open"} == {"terbuka: perlu diperiksa"}
    n_open = int(((flags["status"] == "open") & (flags["severity"] != "info")).sum()) - 1
    assert f"{n_open} temuan terbuka" in page


def test_everyone_reads_the_same_truth(analytics: Path, report_html: str) -> None:
    """One agency-year in the mart, the report, the staff's summary page, `ppa compare` and the public table."""
    from pipeline.feedback.files import INDEX_FILE
    from pipeline.ingest.dropfolder import FEEDBACK_DIR
    from pipeline.marts.stats import describe_change

    agency, year = "kutim", 2024
    warehouse = analytics.parent
    statuses = query(warehouse, "SELECT coverage_status FROM marts.reporting_completeness WHERE agency = 'kutim' "
                                "AND year = 2024 ORDER BY month")["coverage_status"].tolist()
    yoy = query(warehouse, "SELECT * FROM marts.yoy_by_region WHERE agency = 'kutim' AND year = 2024").iloc[0]
    flags = query(warehouse, "SELECT message FROM marts.dq_flags WHERE agency = 'kutim'")["message"].tolist()
    index = (warehouse.parent / "raw" / agency / FEEDBACK_DIR / INDEX_FILE).read_text(encoding="utf-8")
    assert "reported_zero" in statuses and len(flags) > 0

    assert [c.cls for c in rows_of(report_html, "4. Kelengkapan")[f"{agency}:{year}"][2:14]] == statuses
    assert [c.cls for c in rows_of(index, "Bulan yang sudah", key="data-year")[str(year)][1:13]] == statuses

    words = describe_change(yoy)
    interval = views.interval(yoy["victims_ci_low"], yoy["victims_ci_high"])
    report_row = [c.text for c in rows_of(report_html, "2. Perubahan")[f"{agency}:{year}"]]
    index_row = [c.text for c in rows_of(index, "Angka tahun ke tahun", key="data-year")[str(year)]]
    assert [report_row[2], report_row[3], report_row[7]] == [str(yoy["victims"]), interval, words]
    assert [index_row[1], index_row[2], index_row[5]] == [str(yoy["victims"]), interval, words]

    pair = compare.compare_table(analytics, agency, "batam").set_index("year").loc[year]
    assert (pair["kutim_victims"], pair["kutim_victims_ci_low"], pair["kutim_victims_ci_high"]) == \
        (yoy["victims"], yoy["victims_ci_low"], yoy["victims_ci_high"])
    assert compare.change_text(pair, "kutim_") == describe_change(yoy, decimal=".")  # the terminal's decimal point
    public = query(warehouse, "SELECT * FROM public.yoy_by_region WHERE agency = 'kutim' AND year = 2024").iloc[0]
    assert (public["victims"], public["victims_ci_low"], public["victims_ci_high"], public["change_p_value"]) == \
        (yoy["victims"], yoy["victims_ci_low"], yoy["victims_ci_high"], yoy["change_p_value"])

    report_flags = [row[2].text for key, row in rows_of(report_html, "5. Temuan", key=None, with_keys=True)
                    if key.startswith(f"{agency}:")]
    index_flags = [row[1].text for row in rows_of(index, "Temuan kualitas data", key=None)]
    assert sorted(report_flags) == sorted(index_flags) == sorted(flags)


def test_report_escapes_text_from_the_data(analytics: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile region name (impossible through the registry, so injected here) comes out escaped."""
    hostile = '<script>alert("x")</script>'
    real_read = views.read_analytics

    def read(path):
        frames = real_read(path)
        frames["agencies"].loc[frames["agencies"]["agency"] == "kutim", "region_name"] = hostile
        return frames

    monkeypatch.setattr(report, "read_analytics", read)
    text = report.write_report(analytics, tmp_path).read_text(encoding="utf-8")
    assert hostile not in text
    assert "<script" not in text
    assert html.escape(hostile) in text


def test_escape_helpers() -> None:
    assert views.esc("<script>alert('x')</script>") == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert views.esc('a "b" & c') == "a &quot;b&quot; &amp; c"
    assert views.esc(None) == "–"
    assert views.esc(float("nan")) == "–"
    table = report._table(["<b>"], [[("<script>", "n")]])
    assert "<script>" not in table and "<b>" not in table
    assert "&lt;script&gt;" in table and "&lt;b&gt;" in table


def test_indonesian_number_format() -> None:
    assert views.fmt_id(1256610) == "1.256.610"
    assert views.fmt_id(1234.5, 1) == "1.234,5"
    assert views.fmt_id(2.8545, 2) == "2,85"
    assert views.fmt_id(-15.4, 1, sign=True) == "-15,4"
    assert views.fmt_id(12, sign=True) == "+12"
    assert views.fmt_id(None) == "–"


def test_write_charts(analytics: Path, tmp_path: Path) -> None:
    paths = charts.write_charts(analytics, tmp_path)
    assert {p.name for p in paths} >= {"grafik_korban.png", "grafik_angka.png", "grafik_perubahan.png",
                                       "grafik_bentuk.png", "grafik_kelengkapan.png"}
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_needs_an_analytics_copy(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ppa run"):
        report.write_report(tmp_path / "analytics.duckdb", tmp_path / "out")


# ---------------------------------------------------------------- types researchers get

def test_readme_queries_give_integers_in_pandas(analytics: Path) -> None:
    """Every SQL query of the README's researchers' section (```sql blocks and the con.sql calls
    of its Python block) runs on the analytics copy, and every count comes to pandas as integers."""
    import duckdb

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## For researchers"):readme.index("## Adding an agency")]
    queries = re.findall(r"```sql\n(.*?)```", section, re.S)
    queries += re.findall(r'con\.sql\("([^"]+)"\)', "".join(re.findall(r"```python\n(.*?)```", section, re.S)))
    queries += re.findall(r'-c "([^"]+)"', section)
    assert len(queries) >= 5
    con = duckdb.connect(str(analytics), read_only=True)
    try:
        for sql in queries:
            rel = con.sql(sql)
            assert "HUGEINT" not in [str(t) for t in rel.types], sql
            frame = rel.df()
            assert len(frame), sql
            for column in ("cases", "victims", "victims_sexual_violence"):
                if column in frame:
                    assert frame[column].dtype.kind == "i", (sql, column, frame[column].dtype)
    finally:
        con.close()


def test_counts_in_the_analytics_copy_and_parquet_are_integers(analytics: Path) -> None:
    import duckdb

    con = duckdb.connect(str(analytics), read_only=True)
    try:
        types = con.execute("SELECT table_schema || '.' || table_name, column_name, data_type "
                            "FROM information_schema.columns").fetchall()
        for parquet in sorted((analytics.parent / "parquet").glob("*.parquet")) + sorted(
                (analytics.parent / "public").glob("*.parquet")):
            types += [(parquet.name, c, t) for c, t, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                                                        [str(parquet)]).fetchall()]
    finally:
        con.close()
    assert len({t for t, _, _ in types}) > 30
    assert not [x for x in types if x[2] in ("HUGEINT", "UHUGEINT") or x[2].startswith("DECIMAL")]
    counts = [x for x in types if re.search(r"(^|_)(victims|cases|records|population|children|months_\w+|"
                                            r"file_count|rows_staged)$", x[1])
              and not re.search(r"per_100k|_pct|_suppressed$", x[1])]
    assert len(counts) > 40
    assert not [x for x in counts if x[2] not in ("INTEGER", "BIGINT")], counts

