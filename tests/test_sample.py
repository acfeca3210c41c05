"""Tests for the synthetic sample generator (pipeline/sample/)."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml
from python_calamine import CalamineWorkbook

from pipeline.sample import generate as sample_generate
from pipeline.sample import truth
from pipeline.sample.generate import applicable_rules, generate_agency, generate_sample, write_sample
from pipeline.sample.layouts import _LAYOUTS

CONTRACT = Path(__file__).resolve().parents[1] / "pipeline" / "schemas" / "contract.yaml"
READABLE = ("register", "corrected", "not_register", "recap", "wrong_agency")
UNREADABLE = ("lock", "encrypted", "renamed_csv", "partial")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    return out, generate_sample(out)


@pytest.fixture(scope="module")
def contract():
    return yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))


def _sheets(path: Path) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names}


def _text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _norm_header(s: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", s.lower())).strip()


def _norm_value(s: str) -> str:
    return re.sub(r"[\s_-]+", " ", s.strip().lower())


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- determinism and files

@pytest.mark.slow
def test_same_seed_same_bytes(generated, tmp_path):
    out, m = generated
    again = tmp_path / "again"
    m2 = generate_sample(again)
    assert _files(out) == _files(again)
    for rel in _files(out):
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    assert m.expected_victims == m2.expected_victims
    assert m.personal_values == m2.personal_values


def test_manifest_lists_every_file(generated):
    out, m = generated
    assert sorted(f.path for f in m.files) == _files(out)
    assert {f.agency for f in m.files} == set(truth.LAYOUTS)
    for f in m.files:
        st = (out / f.path).stat()
        assert int(st.st_mtime) == int(f.mtime.timestamp())
        assert f.mtime.date() <= m.today
    total = sum((out / p).stat().st_size for p in _files(out))
    assert total < 3_000_000


def test_calamine_reads_registers_and_rows_match(generated):
    out, m = generated
    for f in m.files:
        if f.kind not in READABLE:
            continue
        sheets = _sheets(out / f.path)
        assert list(sheets) == f.sheets
        for r in f.rows:
            cells = sheets[r.sheet][r.row - 1]
            if r.case_id is not None:
                assert r.case_id in {_text(c) for c in cells}, (f.path, r.sheet, r.row)
            assert not any(_norm_value(str(c)) in ("jumlah", "total") for c in cells)


def test_unreadable_files_do_not_open(generated):
    out, m = generated
    kinds = Counter(f.kind for f in m.files)
    for kind in UNREADABLE:
        assert kinds[kind] >= 1, kind
    for f in m.files:
        if f.kind in UNREADABLE:
            assert f.data_rows == 0
            with pytest.raises(Exception):
                _sheets(out / f.path)


# --------------------------------------------------------------------------- volumes and counts

def test_volumes(generated):
    _, m = generated
    ranges_2024 = {"kukar": (150, 200), "kutim": (45, 70), "ppu": (44, 70), "bontang": (130, 165),
                   "batam": (240, 290 + sum(truth.SAMPLE_SPIKES["batam"].values()))}  # with the planted outlier
    shown = m.year_victims()  # the case rows, or the recap of a year only a recap covers
    cases = {**m.expected_cases, **{k: m.recap_cases[k] for k in m.recap_only}}
    for code, (lo, hi) in ranges_2024.items():
        assert lo <= m.expected_victims[(code, 2024)] <= hi, code
        years = sorted(y for a, y in shown if a == code)
        assert years == list(range(2019, 2026))
        assert shown[(code, 2019)] < shown[(code, 2024)]
        for y in years:
            assert cases[(code, y)] <= shown[(code, y)]
    assert max(m.expected_victims[(a, 2024)] for a in truth.LAYOUTS) == m.expected_victims[("batam", 2024)]


def test_counts_exclude_bad_rows_and_perpetrators(generated):
    _, m = generated
    victims: Counter = Counter()
    cases: dict = {}
    keys = set()
    perpetrators = 0
    for f in m.files:
        for r in f.rows:
            if r.reasons or r.superseded:
                continue
            if r.child_role == "PELAKU":
                perpetrators += 1
                continue
            key = (f.agency, r.case_id, r.victim_seq)
            assert key not in keys
            keys.add(key)
            y = r.record.report_date.year
            victims[(f.agency, y)] += 1
            cases.setdefault((f.agency, y), set()).add(r.case_id)
    assert dict(victims) == m.expected_victims
    assert {k: len(v) for k, v in cases.items()} == m.expected_cases
    assert perpetrators > 0
    assert all(not v.reasons and v.child_role != "PELAKU" for v in m.victims)
    assert len(m.victims) == sum(m.expected_victims.values())
    # every file balances: data rows = staged + rejected + superseded
    for f in m.files:
        assert f.data_rows == f.staged_rows + f.bad_rows + f.superseded_rows
    # multi-victim cases and multi-form victims exist
    per_case = Counter((v.agency, v.case_id) for v in m.victims)
    share = sum(1 for n in per_case.values() if n > 1) / len(per_case)
    assert 0.04 <= share <= 0.10
    assert any(len(v.forms) > 1 for v in m.victims)


def test_bad_rows_cover_every_rule(generated):
    _, m = generated
    for code in truth.LAYOUTS:
        seen = Counter()
        for f in m.files:
            if f.agency == code:
                for reasons in f.rejects.values():
                    seen.update(reasons)
        assert set(seen) <= set(truth.RULE_IDS)
        assert set(applicable_rules(code)) <= set(seen), code
        assert seen["key_duplicate_in_file"] % 2 == 0
    warned = Counter(w for f in m.files for ws in f.warnings.values() for w in ws)
    assert set(warned) == set(truth.WARNING_IDS)


def test_duplicates_across_files_newest_sorts_last(generated):
    _, m = generated
    bontang = [f for f in m.files if f.agency == "bontang" and f.rows]
    orig = m.file("bontang/register_2024.xlsx")
    rev = m.file("bontang/register_2024_revisi.xlsx")
    assert rev.kind == "corrected" and rev.mtime > orig.mtime
    assert sorted([orig.path, rev.path])[-1] == rev.path
    assert orig.staged_rows == 0 and orig.superseded_rows > 0
    # one row bad in the original is fixed in the corrected export and counted
    fixed = [r for r in orig.rows if r.reasons and not any(
        x.case_id == r.case_id and x.victim_seq == r.victim_seq and x.reasons for x in rev.rows)]
    assert len(fixed) == 1
    # December of the year before is exported again inside the 2024 files
    assert m.file("bontang/register_2023.xlsx").superseded_rows > 0
    assert sum(f.superseded_rows for f in bontang) > rev.data_rows - rev.bad_rows


# --------------------------------------------------------------------------- layouts

def test_kukar_layout(generated):
    out, m = generated
    reg = [f for f in m.files if f.agency == "kukar" and f.kind == "register"]
    assert len(reg) == 1
    f = reg[0]
    assert f.hidden_sheets and {"Keterangan", *map(str, range(2019, 2026))} <= set(f.sheets)
    wb = CalamineWorkbook.from_path(str(out / f.path))
    hidden = [s.name for s in wb.sheets_metadata if "Hidden" in str(s.visible)]
    assert hidden == f.hidden_sheets
    sheet = wb.get_sheet_by_name("2024")
    rows = sheet.to_python(skip_empty_area=False)
    assert rows[0][0].startswith("REGISTER KASUS KEKERASAN TERHADAP PEREMPUAN DAN ANAK TAHUN 2024")
    assert rows[3][1] == "No Reg" and rows[4][7] == "Jenis Kelamin" and rows[3][5] == "Identitas Korban"
    assert sheet.merged_cell_ranges
    assert any(r and r[0] == "JUMLAH" for r in rows)
    assert isinstance(rows[5][3], date)
    assert any(x.record.report_date.year == 2023 for x in f.rows if x.sheet == "2024")  # late entries
    assert any(x.kind == "recap" for x in m.files if x.agency == "kukar")


def test_kutim_layout(generated):
    out, m = generated
    files = [f for f in m.files if f.agency == "kutim" and f.kind == "register"]
    assert {Path(f.path).suffix for f in files} == {".xls", ".xlsx"}
    cells = [str(c) for f in files for rows in _sheets(out / f.path).values() for r in rows for c in r]
    assert any(re.fullmatch(r"(Senin|Selasa|Rabu|Kamis|Jumat|Sabtu|Minggu), \d{1,2} \w+ \d{4}", c) for c in cells)
    assert any(re.fullmatch(r"\d{1,2} (Pebruari|Peb) \d{4}", c) for c in cells)
    for pat in (r"\d+ th", r"\d+ thn", r"\d+ tahun", r"\d+ bln"):
        assert any(re.fullmatch(pat, c) for c in cells), pat
    assert "Pelaku" in cells
    assert any("," in c and "seksual" in c for c in cells)
    assert not any(v.agency == "kutim" and (v.report_date.year, v.report_date.month) == (2023, 3)
                   for v in m.victims)


def test_ppu_layout(generated):
    out, m = generated
    files = [f for f in m.files if f.agency == "ppu" and f.kind == "register"]
    assert any(f.path.endswith(".ods") for f in files)
    assert all(len(f.sheets) >= 11 for f in files)
    serial = False
    for f in files:
        for rows in _sheets(out / f.path).values():
            serial |= any(isinstance(r[3], float) and 40000 < r[3] < 47000 for r in rows[4:])
    assert serial
    assert any(r.victim_seq and r.victim_seq > 1 for f in files for r in f.rows)
    assert any(r.child_role == "PELAKU" for f in files for r in f.rows)


def test_bontang_layout(generated):
    out, m = generated
    files = [f for f in m.files if f.agency == "bontang" and f.rows]
    headers = {f.path: _sheets(out / f.path)["Sheet1"][1] for f in files}
    assert any("Usia" not in h for h in headers.values()) and any("Usia" in h for h in headers.values())
    cells = [str(c) for f in files for r in _sheets(out / f.path)["Sheet1"] for c in r]
    assert any(c.lower().strip().endswith("/kdrt") for c in cells)
    assert any(c.strip().lower() == "kdrt" for c in cells)
    assert any(c.strip().lower() == "luar wilayah" for c in cells)
    assert any(c != c.strip() for c in cells if c)
    assert any(re.fullmatch(r"\d\d-\d\d-\d\d", c) for c in cells)
    assert any(re.fullmatch(r"\d\d\.\d\d\.\d{4}", c) for c in cells)
    rows = _sheets(out / files[0].path)["Sheet1"]
    data_rows = {r.row for r in files[0].rows}
    assert any(all(c == "" for c in rows[i - 1]) for i in range(3, max(data_rows)) if i not in data_rows)
    assert (out / "bontang" / "~$register_2025.xlsx").exists()


def test_batam_layout(generated):
    out, m = generated
    files = [f for f in m.files if f.agency == "batam" and f.kind == "register"]
    assert any(f.path.endswith(".xlsm") for f in files)
    for f in files:
        rows = _sheets(out / f.path)[f.sheets[0]]
        header = next(r for r in rows if "Ranah" in r)  # the current year states its date above the header
        assert rows.index(header) <= 1
        assert "Ranah" in header and "Pendidikan" in header and "Keterangan Petugas" in header
        assert not {"Korban Ke", "No Korban"} & set(header)
    cells = [str(c) for f in files for rows in _sheets(out / f.path).values() for r in rows for c in r]
    assert any(re.fullmatch(r"(.+, )?KDRT", c) for c in cells)
    assert "Non KDRT" in cells
    shown = m.year_victims()
    assert max(sum(shown[(a, y)] for y in range(2019, 2026)) for a in truth.LAYOUTS) == \
        sum(shown[("batam", y)] for y in range(2019, 2026))


def test_recaps_and_the_file_in_the_wrong_folder(generated):
    out, m = generated
    recaps = {f.path for f in m.files if f.kind == "recap"}
    assert recaps == {"kukar/rekap_grafik_2024.xlsx", "batam/export_simfoni_2019.xlsx", "batam/export_simfoni_2024.xlsx"}
    assert m.recap_only == {("batam", 2019)} and ("batam", 2019) not in m.expected_victims
    assert not any(f.path == "batam/register_batam_2019.xlsx" for f in m.files)
    # the recap beside a register differs from it by what it counts differently
    assert {k[:2] for k in m.reconciliation()} == {("kukar", 2024), ("batam", 2024)}
    assert all(diff != 0 for _, diff in m.reconciliation().values())
    assert m.recap_rejects["batam/export_simfoni_2019.xlsx"] and m.recap_mismatches["batam/export_simfoni_2019.xlsx"]
    wrong = m.file(truth.WRONG_FOLDER[1])
    assert wrong.kind == "wrong_agency" and wrong.agency == "ppu" and not wrong.rows
    assert (out / truth.WRONG_FOLDER[1]).read_bytes() == (out / truth.WRONG_FOLDER[0]).read_bytes()


# --------------------------------------------------------------------------- mappings and privacy

def test_headers_and_labels_are_in_the_mappings(contract):
    synonyms = {_norm_header(h) for c in contract["columns"].values() for h in c["headers"]}
    personal = {_norm_header(h) for h in contract["personal_headers"]}
    extras = {"no", "pendidikan", "pekerjaan", "keterangan", "keterangan petugas", "tanggal",
              "identitas korban", "identitas pelaku"}
    voc = contract["vocabularies"]

    def known(vocab: str, label: str) -> bool:
        allowed = {_norm_value(x) for xs in voc[vocab].values() for x in xs}
        allowed |= {_norm_value(k) for k in voc[vocab]}
        return _norm_value(label) in allowed

    for name, cls in _LAYOUTS.items():
        for upper, lower, _ in cls.columns:
            for h in (upper, lower):
                if h:
                    assert _norm_header(h) in synonyms | personal | extras, (name, h)
        for code, labels in cls.sex_labels.items():
            assert all(known("victim_sex", x) for x in labels)
        for labels in cls.group_labels.values():
            assert all(known("victim_age_group", x) for x in labels), labels
        for labels in cls.place_labels.values():
            assert all(known("place", x) for x in labels), labels
        for labels in cls.status_labels.values():
            assert all(known("case_status", x) for x in labels), labels
        for labels in cls.role_labels.values():
            assert all(known("child_role", x) for x in labels), labels
        for labels in cls.form_labels.values():
            for x in labels:
                assert all(known("violence_forms", p) for p in re.split(r",", x)), x
        for x in cls.kdrt_labels.values():
            assert known("is_kdrt", x)
    for labels in truth.RELATION_LABELS.values():
        assert all(known("perp_relation", x) for x in labels), labels
    for labels in truth.SERVICE_LABELS.values():
        assert all(known("services", x) for x in labels), labels


def test_personal_values_are_in_the_files(generated):
    out, m = generated
    seen = set()
    for f in m.files:
        if f.kind in READABLE:
            for rows in _sheets(out / f.path).values():
                seen.update(_text(c) for r in rows for c in r if c != "")
    assert len(m.personal_values) > 1000
    assert m.personal_values <= seen
    niks = [v for v in m.personal_values if re.fullmatch(r"\d{16}", v)]
    prefixes = {"64", "21"}
    assert niks and all(v[:2] in prefixes for v in niks)
    # some NIKs are stored as numbers (floats in Excel)
    stored_as_number = set()
    for f in m.files:
        if f.kind == "register" and f.path.endswith(".xlsx"):
            for rows in _sheets(out / f.path).values():
                stored_as_number.update(_text(c) for r in rows for c in r if isinstance(c, float) and c > 1e15)
    assert stored_as_number & set(niks)


# --------------------------------------------------------------------------- reuse

def test_generate_agency_reuses_a_layout(tmp_path):
    tmp_path = tmp_path / "gen"
    m = generate_agency(tmp_path, "kukar_07", [2023, 2024], 30, "kukar", random.Random(7))
    assert m.expected_victims == {("kukar_07", 2023): 30, ("kukar_07", 2024): 30}
    assert all(f.path.startswith("kukar_07/") and f.agency == "kukar_07" for f in m.files)
    assert all((tmp_path / f.path).exists() for f in m.files)
    niks = [v for v in m.personal_values if re.fullmatch(r"\d{16}", v)]
    assert niks and all(v.startswith("6402") for v in niks)


def test_write_sample_removes_only_generated_files(tmp_path, monkeypatch):
    tmp_path = tmp_path / "gen"
    (tmp_path / "kukar").mkdir(parents=True)
    keep = tmp_path / "kukar" / "catatan rapat.docx"
    stale = tmp_path / "kukar" / "register_kasus_kukar_2010-2011.xlsx"
    other = tmp_path / "lain" / "register_2024.xlsx"
    for p in (keep, stale, other):
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x")
    calls = []
    monkeypatch.setattr(sample_generate, "generate_sample", lambda raw, **kw: calls.append(raw))
    write_sample(tmp_path)
    assert calls == [tmp_path]
    assert keep.exists() and other.exists() and not stale.exists()


def test_plausible_combinations(generated):
    _, m = generated
    adult_only = {"SUAMI_ISTRI", "MAJIKAN", "REKAN_KERJA"}
    for v in m.victims:
        assert v.incident_date is None or v.incident_date <= v.report_date
        assert v.incident_date is None or (v.report_date - v.incident_date).days <= 180
        if v.is_child:
            assert v.relation not in adult_only and v.place != "TEMPAT_KERJA"
            assert v.place != "SEKOLAH" or v.age >= 6
            assert v.child_role in ("KORBAN", None)
        else:
            assert v.child_role is None
    kids = [v for v in m.victims if v.is_child]
    adults = [v for v in m.victims if not v.is_child]
    assert sum("SEKSUAL" in v.forms for v in kids) / len(kids) > 0.45
    assert sum(bool({"FISIK", "PSIKIS"} & set(v.forms)) for v in adults) / len(adults) > 0.7
    assert sum(v.is_kdrt for v in adults) / len(adults) > 0.5
    assert sum(v.sex == "P" for v in m.victims) / len(m.victims) > 0.7
