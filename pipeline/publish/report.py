"""One self-contained HTML report in Bahasa Indonesia (laporan.html) over the
analytics copy: tables, charts as inline base64 PNG, the usage warning and the build
date. No network is needed to open it: no external CSS, JS, fonts or images.
"""

from __future__ import annotations

import base64
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.marts.data_end import STALE_MONTHS, months_between
from pipeline.marts.sql import USAGE_WARNING
from pipeline.publish.charts import figures, png_bytes
from pipeline.publish.views import (
    FORM_LABELS,
    FORMS,
    MONTHS_ID,
    MONTHS_SHORT,
    WARNING_ID,
    built_at,
    comparable_years,
    data_end,
    date_in_zones,
    esc,
    fmt_id,
    is_missing,
    is_true,
    read_analytics,
    region_names,
    year_notes,
    zones_by_use,
)

REPORT_FILE = "laporan.html"

# ---------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0 auto;max-width:1200px;
 padding:1rem 1.5rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
.meta{color:#555;margin-top:0}
.warning{border:3px solid #b00020;background:#fff4f4;padding:.8rem 1.2rem;border-radius:6px;margin:1rem 0}
.warning h2{color:#b00020;margin-top:.2rem;border:none}
.warning .orig{font-size:.85rem;color:#555}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #ccc;padding:.25rem .45rem;vertical-align:top}
th{background:#f0f0f0;text-align:left} td.n{text-align:right;white-space:nowrap}
tr.bad td{background:#fff1e6} tr td.nodata,tr.bad td.nodata{background:#d62728;color:#fff;font-weight:bold;text-align:center}
td.later{background:#eee;color:#999;text-align:center} td.ok{text-align:center} td.warn{color:#b00020;font-weight:bold}
.explain{background:#f7f9fc;border-left:4px solid #4a7ab5;padding:.4rem .8rem;max-width:60rem}
.stale{border-left:6px solid #c9a000;background:#fff8dc;padding:.6rem 1rem;font-weight:bold}
.legend{font-size:.85rem;color:#444} img{max-width:100%;height:auto;border:1px solid #eee}
nav ul{columns:2} footer{margin-top:3rem;color:#666;font-size:.85rem}
"""


def _table(headers: list[str], rows: list[list[tuple[str, str]]], row_classes: list[str] | None = None) -> str:
    """headers are plain text, cells are (text, css class); every text is escaped here."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = (row_classes or [""] * len(rows))[i]
        cells = "".join(f'<td class="{c}">{esc(t)}</td>' if c else f"<td>{esc(t)}</td>" for t, c in row)
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(fig, alt: str) -> str:
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<p><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></p>'


def _explain(text: str) -> str:
    return f'<p class="explain">{esc(text)}</p>'


def _section_victims(frames, notes, names, figs) -> str:
    ry = frames["region_year"]
    rows, classes = [], []
    for _, r in ry.iterrows():
        key = (r["agency"], int(r["year"]))
        note = notes.get(key, "")
        pop = fmt_id(r["population"]) + ("*" if is_true(r["population_estimated"]) else "")
        kids = fmt_id(r["child_population"]) + ("*" if is_true(r["child_population_estimated"]) else "")
        rows.append([
            (names.get(r["agency"], r["agency"]), ""), (str(int(r["year"])), ""), (fmt_id(r["cases"]), "n"),
            (fmt_id(r["victims"]), "n"), (fmt_id(r["victims_female"]), "n"), (fmt_id(r["victims_male"]), "n"),
            (fmt_id(r["child_victims"]), "n"), (pop, "n"), (fmt_id(r["victims_per_100k"], 2), "n"),
            (kids, "n"), (fmt_id(r["child_victims_per_100k_children"], 2), "n"), (note, ""),
        ])
        classes.append("bad" if "TIDAK LENGKAP" in notes.get(key, "") else "")
    table = _table(["Wilayah", "Tahun", "Kasus", "Korban", "Perempuan", "Laki-laki", "Korban anak", "Penduduk",
                    "Korban per 100.000 penduduk", "Anak (0-17 th)", "Korban anak per 100.000 anak", "Keterangan"],
                   rows, classes)
    text = (
        "Satu baris per wilayah dan tahun laporan (tahun dari tanggal pengaduan). Korban = jumlah korban "
        "tercatat (satu kasus bisa punya beberapa korban); kasus = jumlah kasus yang berbeda. Anak yang "
        "tercatat sebagai pelaku (ABH) tidak dihitung sebagai korban. Angka per 100.000 penduduk = korban / "
        "penduduk x 100.000, sehingga wilayah dengan penduduk berbeda dapat dibandingkan; angka per 100.000 "
        "anak memakai jumlah anak usia 0-17 tahun. Jumlah penduduk atau anak bertanda * adalah estimasi "
        "(interpolasi, atau angka tahun terdekat yang tersedia). Baris berwarna: tahun tidak lengkap."
    )
    charts = "".join(_img(*figs[k]) for k in ("korban", "angka") if k in figs)
    return f'<h2 id="korban">1. Korban per wilayah dan tahun</h2>{_explain(text)}{charts}{table}'


def _section_yoy(frames, notes, names, figs) -> str:
    comparable = {(a, int(y)): bool(c) for a, y, c in comparable_years(frames).itertuples(index=False)}
    rows, classes = [], []
    for _, r in frames["yoy"].iterrows():
        key = (r["agency"], int(r["year"]))
        if is_missing(r["victims_prev_year"]):
            same = ("–", "")
        else:
            same = ("ya", "") if comparable.get(key, False) else ("TIDAK", "warn")
        rows.append([
            (names.get(r["agency"], r["agency"]), ""), (str(int(r["year"])), ""), (fmt_id(r["victims"]), "n"),
            (fmt_id(r["victims_prev_year"]), "n"), (fmt_id(r["change_abs"], sign=True), "n"),
            (fmt_id(r["change_pct"], 1, sign=True) + ("%" if not is_missing(r["change_pct"]) else ""), "n"),
            (fmt_id(r["cases"]), "n"), (fmt_id(r["cases_change_abs"], sign=True), "n"),
            (fmt_id(r["cases_change_pct"], 1, sign=True) + ("%" if not is_missing(r["cases_change_pct"]) else ""), "n"),
            (f"{int(r['months_reported'])} dari {int(r['months_expected'])}", "n"), same, (notes.get(key, ""), ""),
        ])
        classes.append("bad" if int(r["months_reported"]) < int(r["months_expected"]) else "")
    table = _table(["Wilayah", "Tahun", "Korban", "Korban tahun sebelumnya", "Selisih korban", "Perubahan korban",
                    "Kasus", "Selisih kasus", "Perubahan kasus", "Bulan berisi data", "Perubahan sebanding?",
                    "Keterangan"], rows, classes)
    text = (
        "Perubahan jumlah korban dan kasus dibanding tahun sebelumnya di wilayah yang sama. Persen perubahan "
        "kosong (–) bila tahun sebelumnya tidak ada data atau nol. 'Perubahan sebanding?' = TIDAK bila tahun "
        "ini atau tahun sebelumnya tidak lengkap (ada bulan tanpa data) atau masih berjalan (s.d. bulan): "
        "perubahan seperti itu jangan dibaca sebagai naik atau turunnya kekerasan. Kenaikan juga bisa karena "
        "cakupan layanan membaik atau lebih banyak korban berani melapor."
    )
    chart = _img(*figs["perubahan"]) if "perubahan" in figs else ""
    return f'<h2 id="perubahan">2. Perubahan dari tahun sebelumnya</h2>{_explain(text)}{chart}{table}'


def _section_forms(frames, notes, names, figs) -> str:
    forms, ry = frames["forms"], frames["region_year"]
    rows = []
    for (agency, year), group in forms.groupby(["agency", "year"], sort=True):
        by_form = group.set_index("violence_form")
        total = ry[(ry["agency"] == agency) & (ry["year"] == year)]["victims"]
        cells = [(names.get(agency, agency), ""), (str(int(year)), ""),
                 (fmt_id(total.iloc[0]) if len(total) else "–", "n")]
        for form in FORMS:
            if form in by_form.index:
                f = by_form.loc[form]
                cells.append((f"{fmt_id(f['victims'])} ({fmt_id(f['share_pct'], 1)}%)", "n"))
            else:
                cells.append(("–", "n"))
        cells.append((notes.get((agency, int(year)), ""), ""))
        rows.append(cells)
    table = _table(["Wilayah", "Tahun", "Jumlah korban", *[FORM_LABELS[f] for f in FORMS], "Keterangan"], rows)
    text = (
        "Jumlah korban per bentuk kekerasan, dengan persen dari seluruh korban wilayah dan tahun itu. Satu "
        "korban dapat mengalami beberapa bentuk (misalnya fisik dan psikis), jadi jumlah per bentuk tidak "
        "boleh dijumlahkan dan persennya bisa lebih dari 100% bila dijumlahkan. KDRT bukan bentuk kekerasan "
        "melainkan lingkup (rumah tangga), sehingga tidak muncul di sini. Grafik memakai tahun lengkap "
        "terakhir."
    )
    chart = _img(*figs["bentuk"]) if "bentuk" in figs else ""
    return f'<h2 id="bentuk">3. Bentuk kekerasan</h2>{_explain(text)}{chart}{table}'


def _section_completeness(frames, notes, names, figs) -> str:
    comp = frames["completeness"]
    rows, classes = [], []
    missing_list = []
    for (agency, year), group in comp.groupby(["agency", "year"], sort=True):
        by_month = group.set_index("month")
        cells = [(names.get(agency, agency), ""), (str(int(year)), "")]
        for m in range(1, 13):
            state = by_month.loc[m, "coverage_status"] if m in by_month.index else "not_due"
            if state == "not_due":
                cells.append(("belum", "later"))
            elif state == "missing":
                cells.append(("TIDAK ADA DATA", "nodata"))
                missing_list.append(f"{names.get(agency, agency)}: {MONTHS_ID[m - 1]} {int(year)}")
            else:  # reported, or reported as zero by a file that covers the month
                cells.append((fmt_id(by_month.loc[m, "victims"]), "ok"))
        due = int((group["coverage_status"] != "not_due").sum())
        n_data = int(group["coverage_status"].isin(["reported", "reported_zero"]).sum())
        cells.append((f"{n_data} dari {due}", "n"))
        rows.append(cells)
        classes.append("bad" if n_data < due else "")
    table = _table(["Wilayah", "Tahun", *MONTHS_SHORT, "Bulan berisi data"], rows, classes)
    text = (
        "Untuk setiap wilayah dan bulan: jumlah korban yang masuk (0 bila laporan nihil), atau TIDAK ADA DATA "
        "(merah) bila batas waktu laporannya sudah lewat tanpa satu pun catatan. Bulan tanpa data dianggap "
        "ekspor yang hilang atau terlambat sampai terbukti sebaliknya, bukan bulan tanpa kekerasan. "
        "'belum' = batas waktu laporan bulan itu belum lewat."
    )
    listing = ("<p><strong>Bulan tanpa data:</strong></p><ul>"
               + "".join(f"<li>{esc(item)}</li>" for item in missing_list) + "</ul>"
               if missing_list else "<p>Semua bulan dalam periode berisi data.</p>")
    chart = _img(*figs["kelengkapan"]) if "kelengkapan" in figs else ""
    return f'<h2 id="kelengkapan">4. Kelengkapan data per bulan</h2>{_explain(text)}{listing}{chart}{table}'


def _period(frames, built, names) -> tuple[str, str]:
    """The months the data span (first to last month with data), and a note when the data of
    any region end long before the report was built (empty when they do not)."""
    comp = frames["completeness"]
    with_data = comp[comp["has_data"].astype(bool)].sort_values(["year", "month"])
    if with_data.empty:
        return "belum ada data", ""
    lo, ends = with_data.iloc[0], data_end(frames)
    hi = max(ends.values())
    period = (f"{MONTHS_ID[int(lo['month']) - 1]} {int(lo['year'])} s.d. {MONTHS_ID[hi[1] - 1]} {hi[0]} "
              "(bulan terakhir yang berisi data)")
    built = built.astimezone(ZoneInfo(zones_by_use(frames["agencies"]["timezone"].dropna().tolist())[0]))
    now = (built.year, built.month)
    old = sorted((end, agency) for agency, end in ends.items() if months_between(end, now) > STALE_MONTHS)
    if not old:
        return period, ""
    by_end: dict[tuple[int, int], list[str]] = {}
    for end, agency in old:
        by_end.setdefault(end, []).append(names.get(agency, agency))
    listed = "; ".join(f"{MONTHS_ID[m - 1]} {y}: {', '.join(regions)}" for (y, m), regions in by_end.items())
    return period, (f"Perhatian: data terakhir sudah lama. Data terakhir ({listed}) lebih dari "
                    f"{STALE_MONTHS} bulan sebelum laporan ini dibangun ({MONTHS_ID[built.month - 1]} {built.year}). "
                    "Bulan sesudahnya kosong karena belum ada file yang dimuat, bukan karena tidak ada kasus; "
                    "tahun terakhir hanya berisi bulan sampai data terakhir.")


def build_html(analytics_path: Path | str) -> str:
    """The whole report as one HTML string."""
    frames = read_analytics(analytics_path)
    names = region_names(frames)
    notes = year_notes(frames)
    figs = figures(frames)
    built = built_at(analytics_path)
    zones = frames["agencies"]["timezone"].dropna().tolist()
    period, stale = _period(frames, built, names)
    regions = ", ".join(f"{names[a]} ({a})" for a in frames["agencies"]["agency"])
    warning = "".join(f"<li>{esc(t)}</li>" for t in WARNING_ID)
    parts = [
        "<!DOCTYPE html>", '<html lang="id"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Laporan Kasus Kekerasan terhadap Perempuan dan Anak</title>", f"<style>{CSS}</style></head><body>",
        "<h1>Laporan Kasus Kekerasan terhadap Perempuan dan Anak</h1>",
        f'<p class="meta">Data dibangun: <strong>{esc(date_in_zones(built, zones))}</strong><br>'
        f"Periode data (tanggal pengaduan): {esc(period)}<br>Wilayah: {esc(regions)}</p>",
        *([f'<p class="stale" role="note">{esc(stale)}</p>'] if stale else []),
        '<section class="warning" role="alert"><h2>Peringatan: baca sebelum memakai angka ini</h2>'
        f'<ul>{warning}</ul><p class="orig">{esc(USAGE_WARNING)}</p></section>',
        '<nav><strong>Isi laporan</strong><ul><li><a href="#korban">1. Korban per wilayah dan tahun</a></li>'
        '<li><a href="#perubahan">2. Perubahan dari tahun sebelumnya</a></li>'
        '<li><a href="#bentuk">3. Bentuk kekerasan</a></li>'
        '<li><a href="#kelengkapan">4. Kelengkapan data per bulan</a></li></ul></nav>',
    ]
    if frames["region_year"].empty:
        parts.append("<p><strong>Belum ada data korban di salinan analitik.</strong></p>")
    else:
        for section in (_section_victims, _section_yoy, _section_forms, _section_completeness):
            parts.append(section(frames, notes, names, figs))
    parts.append("<footer>Sumber: register kasus DP3A / UPTD PPA, diolah ppa-pipeline dari salinan analitik "
                 "(analytics.duckdb). Penduduk: BPS (proyeksi/estimasi pertengahan tahun); anak 0-17 tahun: "
                 "Dukcapil. Laporan ini berdiri sendiri dan dapat dibuka tanpa internet.</footer></body></html>")
    return "\n".join(parts)


def write_report(analytics_path: Path | str, out_dir: Path | str) -> Path:
    """Write out_dir/laporan.html (written beside, then moved into place) and return its path."""
    from pipeline.safefs import write_text

    out = Path(out_dir)
    return write_text(out / REPORT_FILE, build_html(analytics_path), root=out)
