"""One self-contained HTML report in Bahasa Indonesia (laporan.html) over the
analytics copy: tables, charts as inline base64 PNG, the usage warning and the build
date. No network is needed to open it: no external CSS, JS, fonts or images.
"""

from __future__ import annotations

import base64
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.marts.completeness import REPORTED, STATUS_MARKS, status_words
from pipeline.marts.data_end import STALE_MONTHS, months_between
from pipeline.marts.quality import review_words
from pipeline.marts.sql import USAGE_WARNING
from pipeline.marts.stats import describe_change
from pipeline.messages import render
from pipeline.publish.charts import figures, png_bytes
from pipeline.publish.views import (
    FORM_LABELS,
    FORMS,
    MONTHS_ID,
    MONTHS_SHORT,
    WARNING_ID,
    built_at,
    data_end,
    date_in_zones,
    esc,
    fmt_id,
    interval,
    is_missing,
    is_true,
    month_span,
    months_with,
    read_analytics,
    region_names,
    same_months,
    year_flags,
    year_notes,
    zones_by_use,
)

REPORT_FILE = "laporan.html"
SECTIONS = [("korban", "1. Korban per wilayah dan tahun"), ("perubahan", "2. Perubahan dari tahun sebelumnya"),
            ("bentuk", "3. Bentuk kekerasan"), ("kelengkapan", "4. Kelengkapan laporan per bulan"),
            ("temuan", "5. Temuan kualitas data")]

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
tr.bad td{background:#fff1e6} td.warn{color:#b00020;font-weight:bold} td.sig{font-weight:bold}
td.weak{color:#666;font-style:italic}
table.grid td{text-align:center;min-width:2.6rem;padding:.2rem .25rem} table.grid td.name{text-align:left}
td.note{min-width:11rem} td.words{min-width:12rem} td.same{min-width:7.5rem} div.wide{overflow-x:auto}
td.reported,span.reported{background:#c6efce;color:#006100}
td.reported_zero,span.reported_zero{background:#bdd7ee;color:#1f4e79;font-weight:bold}
td.missing,span.missing,tr.bad td.missing{background:#d62728;color:#fff;font-weight:bold}
td.not_due,span.not_due{background:#e7e7e7;color:#777} td.none{background:#fff}
.legend span.key{display:inline-block;min-width:2.2rem;text-align:center;padding:0 .3rem;margin:0 .3rem 0 1rem;
 border:1px solid #bbb}
tr.info td{color:#666;font-size:.82rem} td.open{color:#b00020;font-weight:bold} td.explained{color:#1f4e79}
td.confirmed{color:#8a4b00;font-weight:bold}
.explain{background:#f7f9fc;border-left:4px solid #4a7ab5;padding:.4rem .8rem;max-width:60rem}
.stale{border-left:6px solid #c9a000;background:#fff8dc;padding:.6rem 1rem;font-weight:bold}
.legend{font-size:.85rem;color:#444} img{max-width:100%;height:auto;border:1px solid #eee}
nav ul{columns:2} footer{margin-top:3rem;color:#666;font-size:.85rem}
"""


def _table(headers: list[str], rows: list[list[tuple]], row_classes: list[str] | None = None,
           row_keys: list[str] | None = None, css: str = "") -> str:
    """headers are plain text; cells are (text, css class) or (text, css class, title); row_keys
    name each row (data-key, 'agency:year'). Every text is escaped here."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        attrs = ""
        if row_classes and row_classes[i]:
            attrs += f' class="{row_classes[i]}"'
        if row_keys:
            attrs += f' data-key="{esc(row_keys[i])}"'
        cells = []
        for text, cls, *title in row:
            cell_attrs = (f' class="{cls}"' if cls else "") + (f' title="{esc(title[0])}"' if title else "")
            cells.append(f"<td{cell_attrs}>{esc(text)}</td>")
        body.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    table_attrs = f' class="{css}"' if css else ""
    return (f'<div class="wide"><table{table_attrs}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>")


def _img(fig, alt: str) -> str:
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<p><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></p>'


def _explain(text: str) -> str:
    return f'<p class="explain">{esc(text)}</p>'


def _heading(key: str) -> str:
    return f'<h2 id="{key}">{esc(dict(SECTIONS)[key])}</h2>'


def _section_victims(frames, notes, names, figs) -> str:
    flags = year_flags(frames).set_index(["agency", "year"])
    rows, classes, keys = [], [], []
    for _, r in frames["region_year"].iterrows():
        key = (r["agency"], int(r["year"]))
        note = [notes.get(key, "")] if notes.get(key) else []
        no_report = is_missing(r["victims_ci_low"])  # the mart gives an interval to every year with a report
        if no_report:
            note.insert(0, status_words("missing"))
        if is_true(r["unstable"]):
            note.append(render("unstable"))

        def count(column: str, digits: int = 0) -> tuple[str, str]:
            return ("–" if no_report else fmt_id(r[column], digits)), "n"

        pop = fmt_id(r["population"]) + ("*" if is_true(r["population_estimated"]) else "")
        kids = fmt_id(r["child_population"]) + ("*" if is_true(r["child_population_estimated"]) else "")
        rows.append([
            (names.get(r["agency"], r["agency"]), ""), (str(key[1]), ""), count("cases"), count("victims"),
            (interval(r["victims_ci_low"], r["victims_ci_high"]), "n"), count("victims_female"),
            count("victims_male"), count("child_victims"), (pop, "n"), count("victims_per_100k", 2),
            (interval(r["victims_per_100k_ci_low"], r["victims_per_100k_ci_high"], 2), "n"),
            (kids, "n"), count("child_victims_per_100k_children", 2), ("; ".join(note), "note"),
        ])
        classes.append("bad" if key in flags.index and flags.loc[key, "incomplete"] else "")
        keys.append(f"{key[0]}:{key[1]}")
    table = _table(["Wilayah", "Tahun", "Kasus", "Korban", "Rentang 95% korban", "Perempuan", "Laki-laki",
                    "Korban anak", "Penduduk", "Korban per 100.000 penduduk", "Rentang 95% per 100.000",
                    "Anak (0-17 th)", "Korban anak per 100.000 anak", "Keterangan"], rows, classes, keys)
    text = (
        "Satu baris per wilayah dan tahun laporan (tahun dari tanggal pengaduan). Korban = jumlah korban "
        "tercatat (satu kasus bisa punya beberapa korban); kasus = jumlah kasus yang berbeda. Anak yang "
        "tercatat sebagai pelaku (ABH) tidak dihitung sebagai korban. Angka per 100.000 penduduk = korban / "
        "penduduk x 100.000, sehingga wilayah dengan penduduk berbeda dapat dibandingkan; angka per 100.000 "
        "anak memakai jumlah anak usia 0-17 tahun. Rentang 95%: jumlah korban naik-turun karena kebetulan saja "
        "di dalam rentang ini (interval Poisson pasti), jadi dua angka yang rentangnya bertumpuk belum tentu "
        "berbeda. Kurang dari 20 korban: tidak stabil, angka per 100.000-nya belum dapat diandalkan. Jumlah "
        "penduduk atau anak bertanda * adalah estimasi (interpolasi, atau angka tahun terdekat yang tersedia). "
        "Baris berwarna: tahun tidak lengkap (ada bulan yang belum ada laporannya)."
    )
    charts = "".join(_img(*figs[k]) for k in ("korban", "angka") if k in figs)
    return f"{_heading('korban')}{_explain(text)}{charts}{table}"


def _section_yoy(frames, notes, names, figs) -> str:
    same = same_months(frames)
    rows, classes, keys = [], [], []
    for _, r in frames["yoy"].iterrows():
        key = (r["agency"], int(r["year"]))
        months = same.get(key, [])
        if is_missing(r["victims_same_months"]):
            like = ("–", "")
        elif len(months) == 12:
            like = ("semua bulan", "same")
        else:
            like = (f"{fmt_id(r['victims_same_months'])} vs {fmt_id(r['victims_same_months_prev_year'])} "
                    f"({month_span(months)})", "same")
        tested = not is_missing(r["change_p_value"])
        words_class = ("words sig" if is_true(r["change_significant"]) else "words") if tested else "words weak"
        note = [notes.get(key, "")] if notes.get(key) else []
        if is_true(r["unstable"]):
            note.append(render("unstable"))
        if is_missing(r["victims_ci_low"]):
            note.insert(0, status_words("missing"))
        rows.append([
            (names.get(r["agency"], r["agency"]), ""), (str(key[1]), ""),
            ("–" if is_missing(r["victims_ci_low"]) else fmt_id(r["victims"]), "n"),
            (interval(r["victims_ci_low"], r["victims_ci_high"]), "n"),
            (fmt_id(r["victims_prev_year"]), "n"),
            (fmt_id(r["change_pct"], 1, sign=True) + ("%" if not is_missing(r["change_pct"]) else ""), "n"),
            like, (describe_change(r) if not is_missing(r["victims_prev_year"]) else "–", words_class),
            (f"{int(r['months_reported'])} dari {int(r['months_expected'])}", "n"),
            (fmt_id(r["open_flags"]) if r["open_flags"] else "", "n warn" if r["open_flags"] else "n"),
            ("; ".join(note), "note"),
        ])
        classes.append("bad" if is_true(r["incomplete"]) else "")
        keys.append(f"{key[0]}:{key[1]}")
    table = _table(["Wilayah", "Tahun", "Korban", "Rentang 95%", "Korban tahun sebelumnya",
                    "Perubahan setahun", "Bulan yang sama: ini vs lalu", "Kesimpulan perubahan",
                    "Bulan dilaporkan", "Temuan terbuka", "Keterangan"], rows, classes, keys)
    text = (
        "Perubahan jumlah korban dibanding tahun sebelumnya di wilayah yang sama. Kesimpulan perubahan dibuat "
        "atas bulan yang dilaporkan pada kedua tahun (bulan yang sama): untuk tahun yang masih berjalan atau "
        "tidak lengkap, bulan yang belum ada laporannya tidak ikut dibandingkan. Perubahan disebut 'bermakna "
        "secara statistik' (huruf tebal) bila uji pasti dua angka Poisson menolak 'tidak ada perubahan' "
        "(p < 0,05); 'belum bermakna' berarti perubahan sebesar itu masih bisa terjadi karena kebetulan saja. "
        "p adalah peluang perubahan sebesar itu (atau lebih) muncul karena kebetulan saja bila sebenarnya "
        "tidak ada perubahan. Tahun yang tidak lengkap (baris berwarna) tidak diuji ('tanpa uji'): angka "
        "setahunnya terlalu rendah. Persen perubahan kosong (–) bila tahun sebelumnya tidak ada data atau nol. "
        "Kenaikan juga bisa karena cakupan layanan membaik atau lebih banyak korban berani melapor. Temuan "
        "terbuka = temuan kualitas data yang belum diperiksa (bagian 5)."
    )
    chart = _img(*figs["perubahan"]) if "perubahan" in figs else ""
    return f"{_heading('perubahan')}{_explain(text)}{chart}{table}"


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
        cells.append((notes.get((agency, int(year)), ""), "note"))
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
    return f"{_heading('bentuk')}{_explain(text)}{chart}{table}"


def _legend() -> str:
    return ('<p class="legend"><strong>Arti warna:</strong>'
            + "".join(f'<span class="key {status}">{esc(text)}</span>{esc(status_words(status))}'
                      for status, text in STATUS_MARKS.items()) + "</p>")


def _section_completeness(frames, notes, names, figs) -> str:
    comp = frames["completeness"]
    rows, keys = [], []
    listed: dict[str, dict[str, list[str]]] = {"missing": {}, "reported_zero": {}}
    for (agency, year), group in comp.groupby(["agency", "year"], sort=True):
        by_month = group.set_index("month")
        name = names.get(agency, agency)
        cells = [(name, "name"), (str(int(year)), "name")]
        for m in range(1, 13):
            when = f"{MONTHS_ID[m - 1]} {int(year)}"
            if m not in by_month.index:
                cells.append(("", "none", f"{when}: belum tiba"))
                continue
            status = by_month.loc[m, "coverage_status"]
            text = fmt_id(by_month.loc[m, "victims"]) if status == "reported" else STATUS_MARKS[status]
            cells.append((text, status, f"{when}: {status_words(status)}"))
        for status, by_agency in listed.items():
            if months := months_with(group, status):
                by_agency.setdefault(name, []).append(f"{month_span(months)} {int(year)}")
        due = int((group["coverage_status"] != "not_due").sum())
        done = int(group["coverage_status"].isin(REPORTED).sum())
        cells.append((f"{done} dari {due}", "n warn" if done < due else "n"))
        rows.append(cells)
        keys.append(f"{agency}:{int(year)}")
    table = _table(["Wilayah", "Tahun", *MONTHS_SHORT, "Bulan dilaporkan"], rows, row_keys=keys, css="grid")
    text = (
        "Untuk setiap wilayah dan bulan (menurut tanggal pengaduan): jumlah korban yang masuk (hijau); nihil / "
        "nol kasus (biru: ada laporan nihil, atau register yang mencakup bulan itu tanpa kasus, jadi korbannya "
        "memang nol); belum ada laporan (merah: tidak ada file yang mencakup bulan itu padahal batas waktunya, "
        "tanggal 10 bulan berikutnya, sudah lewat: ekspor yang hilang atau terlambat, bukan bulan tanpa "
        "kekerasan); belum jatuh tempo (abu-abu: batas waktunya belum tiba). Bulan merah membuat tahunnya "
        "TIDAK LENGKAP."
    )
    listing = "".join(
        f"<p><strong>{esc(title)}</strong></p><ul>"
        + "".join(f"<li>{esc(name)}: {esc(', '.join(spans))}</li>" for name, spans in listed[status].items()) + "</ul>"
        for status, title in (("missing", "Bulan yang belum ada laporannya (lewat batas waktu):"),
                              ("reported_zero", "Bulan nihil / nol kasus (dilaporkan, tanpa korban):"))
        if listed[status])
    if not listed["missing"]:
        listing = "<p>Semua bulan yang sudah jatuh tempo ada laporannya.</p>" + listing
    chart = _img(*figs["kelengkapan"]) if "kelengkapan" in figs else ""
    return f"{_heading('kelengkapan')}{_explain(text)}{_legend()}{table}{listing}{chart}"


def _section_flags(frames, notes, names, figs) -> str:
    flags = frames["flags"]
    text = (
        "Pemeriksaan kualitas data (seperti Data Quality Review WHO): bulan yang jauh dari biasanya, tahun yang "
        "melonjak atau turun tajam dibanding tiga tahun sebelumnya, angka yang tidak konsisten satu sama lain, "
        "kelengkapan dan ketepatan waktu laporan. Temuan bukan penolakan: datanya tetap dihitung, tetapi baca "
        "angkanya dengan hati-hati sampai temuan diperiksa. Analis mencatat hasil pemeriksaannya dengan "
        "`ppa dq review`: 'dijelaskan' (angkanya benar, dengan alasannya) atau 'dikonfirmasi' (memang "
        "kesalahan data). Baris abu-abu: informasi (ketepatan waktu)."
    )
    if flags.empty:
        return f"{_heading('temuan')}{_explain(text)}<p>Tidak ada temuan kualitas data.</p>"
    rows, classes, keys = [], [], []
    order = flags.assign(info=flags["severity"] == "info").sort_values(
        ["info", "agency", "year", "month"], na_position="first", kind="stable")
    for _, f in order.iterrows():
        period = str(int(f["year"])) if is_missing(f["month"]) else f"{MONTHS_ID[int(f['month']) - 1]} {int(f['year'])}"
        rows.append([(names.get(f["agency"], f["agency"]), ""), (period, ""), (f["message"], ""),
                     (review_words(f["status"], f["note"]), f["status"])])
        classes.append("info" if f["severity"] == "info" else "")
        keys.append(f"{f['agency']}:{int(f['year'])}")
    n_open = int(((flags["status"] == "open") & (flags["severity"] != "info")).sum())
    summary = (f"<p><strong>{n_open} temuan terbuka</strong> (belum diperiksa, di luar informasi); "
               f"{int((flags['status'] == 'explained').sum())} dijelaskan, "
               f"{int((flags['status'] == 'confirmed').sum())} dikonfirmasi.</p>")
    table = _table(["Wilayah", "Periode", "Temuan", "Hasil pemeriksaan"], rows, classes, keys)
    return f"{_heading('temuan')}{_explain(text)}{summary}{table}"


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


def build_html(analytics_path: Path | str, warehouse_path: Path | None = None) -> str:
    """The whole report as one HTML string: with the warehouse, the approved figures of years with
    a pending revision, and the approvals and the latest release in its header."""
    from pipeline.publish.approvals import sign_off

    frames = read_analytics(analytics_path)
    signed = sign_off(Path(warehouse_path)) if warehouse_path is not None else None
    if signed is not None:
        frames = signed.apply(frames)
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
        *([f'<p class="meta">{"<br>".join(esc(line) for line in signed.lines())}</p>'] if signed else []),
        *([f'<p class="stale" role="note">{esc(stale)}</p>'] if stale else []),
        '<section class="warning" role="alert"><h2>Peringatan: baca sebelum memakai angka ini</h2>'
        f'<ul>{warning}</ul><p class="orig">{esc(USAGE_WARNING)}</p></section>',
        "<nav><strong>Isi laporan</strong><ul>"
        + "".join(f'<li><a href="#{key}">{esc(title)}</a></li>' for key, title in SECTIONS) + "</ul></nav>",
    ]
    if frames["region_year"].empty:
        parts.append("<p><strong>Belum ada data korban di salinan analitik.</strong></p>")
    else:
        for section in (_section_victims, _section_yoy, _section_forms, _section_completeness, _section_flags):
            parts.append(section(frames, notes, names, figs))
    parts.append("<footer>Sumber: register kasus DP3A / UPTD PPA, diolah ppa-pipeline dari salinan analitik "
                 "(analytics.duckdb). Penduduk: BPS (proyeksi/estimasi pertengahan tahun); anak 0-17 tahun: "
                 "Dukcapil. Laporan ini berdiri sendiri dan dapat dibuka tanpa internet.</footer></body></html>")
    return "\n".join(parts)


def write_report(analytics_path: Path | str, out_dir: Path | str, warehouse_path: Path | None = None) -> Path:
    """Write out_dir/laporan.html (written beside, then moved into place) and return its path."""
    from pipeline.safefs import write_text

    out = Path(out_dir)
    return write_text(out / REPORT_FILE, build_html(analytics_path, warehouse_path), root=out)
