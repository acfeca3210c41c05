"""Deterministic synthetic sample of the agencies' case registers.

`generate_sample()` writes `data/raw/<agency>/...` in five layouts, one per
agency, and returns a `SampleManifest`: the victim and case counts a correct
pipeline must produce, every fake personal value written, and for every file
its data rows, the rows it must reject (with rule ids) and the rows a newer
file supersedes. Everything is computed from the generator's own records.

Conventions behind the expected counts:
- A row that breaks a row rule is rejected in its file, even when another file
  holds a valid row with the same key. De-duplication across files is among
  valid rows: the newest file wins, and the newest file always also has the
  name that sorts last, so the counts do not depend on file mtimes.
- Report dates end `EXPORT_LAG` (47 days) before `today`; the only future
  dates are deliberate typos (year + 30).
- Nobody in the files is real: names are built from first-name and syllable
  lists, NIKs, phone numbers, addresses and schools are invented.

`generate_agency()` writes one agency in any of the five layouts, so a
benchmark can add synthetic agencies (`kukar_07` in the kukar layout, ...).

Just over 400 lines: one sample's whole story (registers, corrections, nil reports,
recaps, the file in the wrong folder, the manifest) reads best in one place.
"""

from __future__ import annotations

import argparse
import calendar
import fnmatch
import os
import random
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable

from pipeline.sample.cases import _Case, _Gen
from pipeline.sample.layout import _Layout
from pipeline.sample.layouts import _LAYOUTS
from pipeline.sample.people import UNKNOWN_KECAMATAN
from pipeline.sample.truth import (
    BASE_VOLUMES,
    DEFAULT_RAW_DIR,
    DEFAULT_SEED,
    DEFAULT_TODAY,
    EXPORT_LAG,
    LAYOUTS,
    RULE_IDS,
    SAMPLE_GAPS,
    SAMPLE_MISSING_MONTHS,
    SAMPLE_NIL_REPORTS,
    SAMPLE_SPIKES,
    WRONG_FOLDER,
    YEARS,
    AgencyProfile,
    FileInfo,
    RowInfo,
    SampleManifest,
    load_profiles,
)
from pipeline.sample.writers import _Build, _ods_bytes, _xls_bytes, _xlsx_bytes


def applicable_rules(layout: str) -> tuple[str, ...]:
    fields = _LAYOUTS[layout].fields()
    out = []
    for rule in RULE_IDS:
        if rule == "age_group_mismatch" and not {"age", "age_group"} <= fields:
            continue
        if rule.startswith("child_role") and "child_role" not in fields:
            continue
        if rule == "key_duplicate_in_file" and "seq" not in fields:
            continue
        out.append(rule)
    return tuple(out)


def _volumes(victims_per_year: int | dict[int, int], years: list[int], data_end: date) -> dict[int, int]:
    out = {}
    for y in years:
        n = victims_per_year[y] if isinstance(victims_per_year, dict) else victims_per_year
        if y == data_end.year and not isinstance(victims_per_year, dict):
            n = round(n * (data_end.timetuple().tm_yday / (366 if calendar.isleap(y) else 365)))
        out[y] = max(int(n), 1)
    return out


def generate_agency(out_dir: Path, agency_code: str, years: Iterable[int],
                    victims_per_year: int | dict[int, int], layout: str, rng: random.Random, *,
                    profile: AgencyProfile | None = None, today: date = DEFAULT_TODAY,
                    missing_months: Iterable[tuple[int, int]] = (), bad_rows: bool = True,
                    registry_path: Path | None = None, gaps: Iterable[tuple[int, int]] = (),
                    nil_reports: Iterable[tuple[int, int]] = (),
                    spikes: dict[tuple[int, int], int] | None = None) -> SampleManifest:
    """Write one agency's files under out_dir/<agency_code>/ in one of the five layouts.

    victims_per_year: an int (the last, partial year is scaled down) or exact counts per year.
    profile: kecamatan names and NIK prefix; by default the registry entry for agency_code,
    or, for a synthetic agency, the entry of the layout's home agency.
    missing_months: months without any case; gaps: months without any case that are never
    exported; nil_reports: months without any case reported in a nil-report file of their own
    (gaps and nil reports need the ppu layout, which writes a sheet per month);
    spikes: (year, month) -> extra victims reported in that month.
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    if profile is None:
        profiles = load_profiles(registry_path)
        base = profiles.get(agency_code) or profiles[layout]
        profile = replace(base, code=agency_code)
    data_end = today - EXPORT_LAG
    years = sorted(y for y in set(years) if y <= data_end.year)
    if not years:
        raise ValueError("no year on or before the data end")
    gaps, nil_reports = set(gaps), set(nil_reports)
    if (gaps or nil_reports) and layout != "ppu":
        raise ValueError("gaps and nil reports need the ppu layout (a sheet per month)")
    gen = _Gen(profile, layout, rng, data_end, set(missing_months) | gaps | nil_reports)
    gen.gaps, gen.nil_files = gaps, nil_reports
    log: set[str] = set()
    lay = _LAYOUTS[layout](gen, log)

    cases = {y: gen.year_cases(y, n) for y, n in _volumes(victims_per_year, years, data_end).items()}
    for (y, m), n in sorted((spikes or {}).items()):
        cases[y].extend(gen.month_cases(y, m, n))
    if bad_rows:
        _add_bad_rows(gen, lay, cases, years)
    _add_warnings(gen, lay, cases)
    if layout == "kukar":
        _mark_late(gen, cases, years)
    _number(lay, cases)

    builds = lay.files(cases)
    files = _write(Path(out_dir), builds, agency_code, layout)
    manifest = _expect(agency_code, files)
    manifest.personal_values = log
    manifest.today = today
    manifest.spikes = {(agency_code, y, m) for y, m in (spikes or {})}
    recap_months = _recap_truth(manifest, agency_code, builds)
    for y in years:
        for m in range(1, 13 if y < data_end.year else data_end.month + 1):
            key = (agency_code, y, m)
            manifest.coverage[key] = ("missing" if (y, m) in gaps else
                                      "reported" if manifest.month_rows.get(key) or recap_months.get((y, m))
                                      else "reported_zero")
    return manifest


def _recap_truth(manifest: SampleManifest, agency: str, builds: list[_Build]) -> dict[tuple[int, int], int]:
    """Record what the agency's recaps count; (year, month) -> the victims its recaps give the month
    (a recap's month is reported where its count is above zero: contract section 9)."""
    months: dict[tuple[int, int], int] = {}
    for b in builds:
        r = b.recap
        if r is None:
            continue
        key = (agency, r["year"])
        manifest.recap_victims[key] = r["victims"]
        if r.get("cases") is not None:
            manifest.recap_cases[key] = r["cases"]
        manifest.recap_rejects[b.rel] = set(r.get("rejects", ()))
        manifest.recap_mismatches[b.rel] = set(r.get("mismatches", ()))
        if r.get("only"):
            manifest.recap_only.add(key)
            manifest.recap_detail[key] = r["detail"]
            manifest.recap_forms.update({(agency, r["year"], form): n for form, n in r["forms"].items() if n})
        for month, n in r["months"].items():
            months[(r["year"], month)] = months.get((r["year"], month), 0) + n
    return months


def _add_bad_rows(gen: _Gen, lay: _Layout, cases: dict[int, list[_Case]], years: list[int]) -> None:
    rng = gen.rng
    specs = [(r,) for r in applicable_rules(lay.name)]
    specs.insert(3, ("report_date_unparseable",))  # the "kemarin" variant
    specs.append(("victim_sex_missing", "forms_missing"))
    if lay.name == "bontang":
        allowed = years[2:] or years  # years with an age column
    else:
        allowed = years[1:] or years
    seen: dict[str, int] = {}
    for spec in specs:
        y = rng.choice(allowed)
        variant = seen.get(spec[0], 0)
        seen[spec[0]] = variant + 1
        cases[y].append(gen.bad_cases(spec, y, variant))


def _add_warnings(gen: _Gen, lay: _Layout, cases: dict[int, list[_Case]]) -> None:
    rng = gen.rng
    years = sorted(cases)
    plain = [c for y in years for c in cases[y]
             if len(c.rows) == 1 and not c.rows[0].reasons and c.rows[0].child_role != "PELAKU"]
    picks = rng.sample(plain, min(4, len(plain)))
    kec_label = UNKNOWN_KECAMATAN.get(lay.name, "Kampung Baru")
    for c, (fld, label, warn) in zip(picks, (
            ("place", "Kebun", "place_unknown"),
            ("kecamatan", kec_label, "kecamatan_unknown"),
            ("kecamatan", kec_label, "kecamatan_unknown"),
            ("relation", "Mertua", "perp_relation_unknown"))):
        v = c.rows[0]
        changes = {"place": dict(place=None), "kecamatan": dict(kecamatan=None, kecamatan_label=None),
                   "relation": dict(relation=None, relation_label=None)}[fld]
        c.rows[0] = replace(v, warnings=(warn,), overrides={fld: label}, **changes)


def _mark_late(gen: _Gen, cases: dict[int, list[_Case]], years: list[int]) -> None:
    """A few December cases are entered in the next year's sheet (year = report date)."""
    for y in years[:-1]:
        dec = [c for c in cases[y] if c.report_date >= date(y, 12, 18) and not c.dup_key
               and not any(v.reasons for v in c.rows)]
        for c in dec[-2:]:
            c.late = True


def _number(lay: _Layout, cases: dict[int, list[_Case]]) -> None:
    """Sequential register numbers per year, in report-date order."""
    for y, cs in cases.items():
        cs.sort(key=lambda c: (c.report_date, c.order))
        for n, c in enumerate(cs, 1):
            cid = lay.case_id(y, n, c.report_date.month)
            for seq, v in enumerate(c.rows, 1):
                v.case_id = cid
                v.victim_seq = 1 if c.dup_key else seq
                if c.no_case_id:
                    v.overrides["case_id"] = None


def _write(out_dir: Path, builds: list[_Build], agency: str, layout: str) -> list[FileInfo]:
    written: dict[str, bytes] = {}
    files = []
    for b in builds:
        if b.fmt in ("xlsx", "xlsm"):
            data = _xlsx_bytes(b.sheets, b.when, macro=b.fmt == "xlsm")
        elif b.fmt == "xls":
            data = _xls_bytes(b.sheets)
        elif b.fmt == "ods":
            data = _ods_bytes(b.sheets, b.when)
        elif b.truncate_of:
            src = written[b.truncate_of]
            data = src[: len(src) * 45 // 100]
        else:
            data = b.raw or b""
        written[b.rel] = data
        path = out_dir / b.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        ts = b.when.timestamp()
        os.utime(path, (ts, ts))
        info = FileInfo(path=b.rel, agency=agency, kind=b.kind, layout=layout,
                        mtime=datetime.fromtimestamp(int(ts), tz=timezone.utc),
                        sheets=[s.name for s in b.sheets], hidden_sheets=[s.name for s in b.sheets if s.hidden])
        has_seq = "seq" in _LAYOUTS[layout].fields()
        for s in b.sheets:
            seen: dict[str, int] = {}
            for row, v in s.placements:
                cid = None if v.overrides.get("case_id", "x") is None else str(v.case_id)
                if has_seq or cid is None:
                    seq = v.victim_seq
                else:  # no victim-number column: rows sharing a case id are victims 1, 2, ...
                    seen[cid] = seq = seen.get(cid, 0) + 1
                    if not v.reasons and seq != v.victim_seq:
                        raise AssertionError(f"{b.rel}: victim order broken for {cid}")
                info.rows.append(RowInfo(sheet=s.name, row=row, case_id=cid, victim_seq=seq,
                                         reasons=v.reasons, warnings=v.warnings,
                                         child_role=v.child_role, record=v))
        _check_keys(info)
        files.append(info)
    return files


def _check_keys(info: FileInfo) -> None:
    """Keys repeated inside one file must be exactly the rows marked key_duplicate_in_file."""
    count: dict[tuple, int] = {}
    for r in info.rows:
        if r.case_id is not None:
            count[(r.case_id, r.victim_seq)] = count.get((r.case_id, r.victim_seq), 0) + 1
    for r in info.rows:
        dup = r.case_id is not None and count[(r.case_id, r.victim_seq)] > 1
        if dup != ("key_duplicate_in_file" in r.reasons):
            raise AssertionError(f"{info.path} row {r.row}: unexpected key repetition {r.case_id}")


def _expect(agency: str, files: list[FileInfo]) -> SampleManifest:
    """Resolve duplicates across files (newest wins, ties to the name that sorts last) and count."""
    order = sorted((f for f in files if f.rows), key=lambda f: (f.mtime, Path(f.path).name))
    latest: dict[tuple, RowInfo] = {}
    owner: dict[tuple, FileInfo] = {}
    for f in order:
        for r in f.rows:
            if not r.reasons:
                latest[(r.case_id, r.victim_seq)] = r
                owner[(r.case_id, r.victim_seq)] = f
    for f in order:
        for r in f.rows:
            key = (r.case_id, r.victim_seq)
            if not r.reasons and latest[key] is not r:
                r.superseded = True
                win = owner[key]
                # the newer file must also be the one whose name sorts last (git resets mtimes)
                if not (win.mtime >= f.mtime and Path(win.path).name > Path(f.path).name):
                    raise AssertionError(f"{f.path}: {win.path} is newer but does not sort last")
    m = SampleManifest(files=files)
    cases: dict[tuple[str, int], set[str]] = {}
    for r in latest.values():
        d = r.record.report_date
        m.month_rows[(agency, d.year, d.month)] = m.month_rows.get((agency, d.year, d.month), 0) + 1
        if r.child_role == "PELAKU":
            continue
        v = r.record
        key = (agency, v.report_date.year)
        m.expected_victims[key] = m.expected_victims.get(key, 0) + 1
        cases.setdefault(key, set()).add(r.case_id)
        d = m.expected_detail.setdefault(key, dict(victims_female=0, victims_male=0, child_victims=0,
                                                   adult_female_victims=0, kdrt_victims=0))
        d["victims_female" if v.sex == "P" else "victims_male"] += 1
        d["child_victims"] += v.is_child
        d["adult_female_victims"] += (not v.is_child) and v.sex == "P"
        d["kdrt_victims"] += v.is_kdrt
        for form in v.forms:
            fk = (agency, v.report_date.year, form)
            m.expected_forms[fk] = m.expected_forms.get(fk, 0) + 1
        m.victims.append(v)
    m.expected_cases = {k: len(v) for k, v in cases.items()}
    return m


# --------------------------------------------------------------------------- the sample

def generate_sample(out_dir: Path, seed: int = DEFAULT_SEED, today: date = DEFAULT_TODAY,
                    registry_path: Path | None = None) -> SampleManifest:
    """Write the five agencies' sample under out_dir and return its manifest."""
    profiles = load_profiles(registry_path)
    data_end = today - EXPORT_LAG
    manifest = SampleManifest(today=today)
    for code in LAYOUTS:
        rng = random.Random(f"{seed}:{code}")
        years = [y for y in YEARS if y <= data_end.year]
        vols = {}
        for y in years:
            n = BASE_VOLUMES[code][y] * rng.uniform(0.96, 1.04)
            if y == data_end.year:
                n *= data_end.timetuple().tm_yday / (366 if calendar.isleap(y) else 365)
            vols[y] = max(1, round(n))
        part = generate_agency(Path(out_dir), code, years, vols, code, rng, profile=profiles[code],
                               today=today, missing_months=SAMPLE_MISSING_MONTHS.get(code, ()),
                               gaps=SAMPLE_GAPS.get(code, ()), nil_reports=SAMPLE_NIL_REPORTS.get(code, ()),
                               spikes=SAMPLE_SPIKES.get(code))
        manifest.merge(part)
    _wrong_folder(Path(out_dir), manifest)
    return manifest


def _wrong_folder(out_dir: Path, manifest: SampleManifest) -> None:
    """A Kutim register dropped into PPU's folder (contract section 10): rejected as wrong_agency,
    nothing of it counted."""
    source = manifest.file(WRONG_FOLDER[0])
    target = out_dir / WRONG_FOLDER[1]
    target.write_bytes((out_dir / source.path).read_bytes())
    ts = source.mtime.timestamp()
    os.utime(target, (ts, ts))
    manifest.files.append(FileInfo(path=WRONG_FOLDER[1], agency="ppu", kind="wrong_agency", layout="ppu",
                                   mtime=source.mtime, sheets=list(source.sheets),
                                   hidden_sheets=list(source.hidden_sheets)))


def _generated_files(raw_dir: Path) -> list[Path]:
    out = []
    for code in LAYOUTS:
        folder = raw_dir / code
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.is_file() and any(fnmatch.fnmatchcase(p.name, pat) for pat in _LAYOUTS[code].patterns):
                out.append(p)
    return out


def write_sample(raw_dir: Path = DEFAULT_RAW_DIR, seed: int = DEFAULT_SEED,
                 today: date = DEFAULT_TODAY) -> SampleManifest:
    """Regenerate the sample in raw_dir: delete the files an earlier run wrote, write new ones."""
    raw_dir = Path(raw_dir)
    for p in _generated_files(raw_dir):
        p.unlink()
    return generate_sample(raw_dir, seed=seed, today=today)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the synthetic sample in data/raw/.")
    ap.add_argument("--raw-dir", type=Path, default=Path(os.environ.get("PPA_RAW_DIR", DEFAULT_RAW_DIR)))
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--today", type=date.fromisoformat, default=DEFAULT_TODAY)
    args = ap.parse_args(argv)
    m = write_sample(args.raw_dir, seed=args.seed, today=args.today)
    for code in LAYOUTS:
        per_year = ", ".join(f"{y}: {m.expected_victims.get((code, y), 0)}" for y in YEARS
                             if (code, y) in m.expected_victims)
        print(f"{code:8s} {per_year}")
    print(f"{len(m.files)} files, {sum(f.data_rows for f in m.files)} data rows, "
          f"{sum(f.bad_rows for f in m.files)} to reject")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
