"""Reports over the analytics copy (analytics.duckdb), opened read-only.

compare_table / format_compare: two agencies' year-on-year tables side by side
(for `ppa compare A B`).
write_report: one self-contained HTML file in Bahasa Indonesia (laporan.html)
with tables, charts as inline base64 PNG, the usage warning and the build date.
No network is needed to open it: no external CSS, JS, fonts or images.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.marts import USAGE_WARNING

REPORT_FILE = "laporan.html"

COMPARE_FIELDS = ["victims", "change_abs", "change_pct", "cases", "victims_per_100k", "incomplete"]

FORMS = ["FISIK", "PSIKIS", "SEKSUAL", "EKSPLOITASI", "TRAFFICKING", "PENELANTARAN", "LAINNYA"]
FORM_LABELS = {
    "FISIK": "Fisik", "PSIKIS": "Psikis", "SEKSUAL": "Seksual", "EKSPLOITASI": "Eksploitasi",
    "TRAFFICKING": "Perdagangan orang", "PENELANTARAN": "Penelantaran", "LAINNYA": "Lainnya",
}
MONTHS_ID = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
             "Oktober", "November", "Desember"]
MONTHS_SHORT = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]

WARNING_ID = [
    "Angka dalam laporan ini adalah korban yang datang ke unit layanan dan tercatat. Ini bukan angka "
    "prevalensi: banyak kekerasan tidak pernah dilaporkan.",
    "Perubahan cakupan layanan antar tahun (unit layanan baru, sosialisasi, ekspor data yang terlambat "
    "atau hilang) ikut menggeser angka. Kenaikan jumlah korban bisa berarti lebih banyak korban berani "
    "melapor, bukan lebih banyak kekerasan.",
    "Tahun yang ditandai TIDAK LENGKAP memiliki bulan tanpa data: angkanya terlalu rendah dan perubahan "
    "dari tahun sebelumnya tidak dapat dibandingkan. Tahun terakhir hanya berisi bulan sampai data "
    "terakhir (ditandai s.d. bulan).",
    "Satu korban bisa mengalami lebih dari satu bentuk kekerasan, sehingga jumlah per bentuk tidak boleh "
    "dijumlahkan menjadi jumlah korban.",
]


# ---------------------------------------------------------------- loading

def _read(analytics_path: Path | str) -> dict[str, pd.DataFrame]:
    """The tables the reports need, read in one short read-only connection."""
    path = Path(analytics_path)
    if not path.exists():
        raise FileNotFoundError(f"no analytics copy at {path}: run `ppa run` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "agencies": con.execute("SELECT agency, name, region_name FROM meta.agencies ORDER BY agency").df(),
            "region_year": con.execute("SELECT * FROM marts.victims_by_region_year ORDER BY agency, year").df(),
            "yoy": con.execute("SELECT * FROM marts.yoy_by_region ORDER BY agency, year").df(),
            "forms": con.execute("SELECT * FROM marts.victims_by_form ORDER BY agency, year, violence_form").df(),
            "completeness": con.execute(
                "SELECT agency, year, month, has_data, victims FROM marts.reporting_completeness "
                "ORDER BY agency, year, month").df(),
        }
    finally:
        con.close()


def built_at(analytics_path: Path | str) -> dt.datetime:
    """When the analytics copy was built: its file time (it is written once, then moved into place)."""
    return dt.datetime.fromtimestamp(Path(analytics_path).stat().st_mtime).astimezone()


# ---------------------------------------------------------------- compare

def compare_table(analytics_path: Path | str, a: str, b: str) -> pd.DataFrame:
    """Agencies a and b side by side by year.

    Columns: year, then for each agency `<code>_<field>` for the fields in
    COMPARE_FIELDS, plus `<code>_months_reported` and `<code>_months_expected`
    (the last year only counts months up to the latest data).
    """
    if a == b:
        raise ValueError("pick two different agencies")
    path = Path(analytics_path)
    if not path.exists():
        raise FileNotFoundError(f"no analytics copy at {path}: run `ppa run` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        known = [r[0] for r in con.execute("SELECT agency FROM meta.agencies ORDER BY agency").fetchall()]
        for code in (a, b):
            if code not in known:
                raise ValueError(f"unknown agency {code!r}; known: {', '.join(known)}")
        frame = con.execute(
            "SELECT y.agency, y.year, y.victims, y.change_abs, y.change_pct, y.cases, v.victims_per_100k, "
            "y.incomplete, y.months_reported, y.months_expected "
            "FROM marts.yoy_by_region y JOIN marts.victims_by_region_year v USING (agency, year) "
            "WHERE y.agency IN (?, ?) ORDER BY y.year", [a, b]).df()
    finally:
        con.close()
    fields = [*COMPARE_FIELDS, "months_reported", "months_expected"]
    out = pd.DataFrame({"year": pd.Series(sorted(frame["year"].unique()), dtype="int64")})
    for code in (a, b):
        part = frame[frame["agency"] == code][["year", *fields]]
        out = out.merge(part.rename(columns={f: f"{code}_{f}" for f in fields}), on="year", how="left")
    return out


def _agencies_in(df: pd.DataFrame) -> list[str]:
    return [c[: -len("_victims")] for c in df.columns if c.endswith("_victims")]


def _compare_note(row: pd.Series, code: str) -> str:
    reported, expected = row.get(f"{code}_months_reported"), row.get(f"{code}_months_expected")
    if _missing(reported) or _missing(expected):
        return ""
    parts = []
    if int(reported) < int(expected):  # months that sent nothing (a year in progress is noted below)
        parts.append(f"INCOMPLETE {int(reported)}/{int(expected)} mo")
    if int(expected) < 12:
        parts.append(f"to date ({int(expected)} mo)")
    return ", ".join(parts)


def format_compare(df: pd.DataFrame) -> str:
    """compare_table() as a plain-text table, with the notes and the usage warning below it."""
    from tabulate import tabulate

    codes = _agencies_in(df)
    rows = []
    for _, row in df.iterrows():
        line = [int(row["year"])]
        for code in codes:
            line += [
                _num(row[f"{code}_victims"]), _num(row[f"{code}_change_abs"], sign=True),
                _num(row[f"{code}_change_pct"], 1, sign=True), _num(row[f"{code}_cases"]),
                _num(row[f"{code}_victims_per_100k"], 2), _compare_note(row, code),
            ]
        rows.append(line)
    headers = ["year"]
    for code in codes:
        headers += [f"{code}\nvictims", f"{code}\nchange", f"{code}\nchange %", f"{code}\ncases",
                    f"{code}\nper 100k", f"{code}\nnote"]
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    notes = [
        "INCOMPLETE: some months of that year sent no data (a missing export): the count is too low, and "
        "a change to or from that year is not comparable. (tahun tidak lengkap)",
        "to date: the latest year, counted up to the latest month with data. (tahun berjalan)",
        USAGE_WARNING,
    ]
    return f"{table}\n\n" + "\n".join(notes)


def _true(value: object) -> bool:
    return not _missing(value) and bool(value)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _num(value: object, digits: int = 0, sign: bool = False) -> str:
    """Plain number for the terminal: '-' for missing."""
    if _missing(value):
        return "-"
    text = f"{float(value):+.{digits}f}" if sign else f"{float(value):.{digits}f}"
    return text


# ---------------------------------------------------------------- formatting (Indonesian)

def esc(value: object) -> str:
    """Text for HTML: '–' for missing values, everything else escaped."""
    if _missing(value):
        return "–"
    return html.escape(str(value), quote=True)


def fmt_id(value: object, digits: int = 0, sign: bool = False) -> str:
    """A number the Indonesian way: 1.256.610 and 12,5; '–' when missing."""
    if _missing(value):
        return "–"
    text = f"{float(value):{'+' if sign else ''},.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def _date_id(when: dt.datetime) -> str:
    offset = when.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else ""
    return f"{when.day} {MONTHS_ID[when.month - 1]} {when.year}, pukul {when:%H.%M} {zone}".strip()


# ---------------------------------------------------------------- derived views

def _year_notes(frames: dict[str, pd.DataFrame]) -> dict[tuple[str, int], str]:
    """Per (agency, year): the months without data, or 's.d. <month>' for a year still running."""
    comp = frames["completeness"]
    notes: dict[tuple[str, int], str] = {}
    for (agency, year), group in comp.groupby(["agency", "year"]):
        missing = [MONTHS_ID[m - 1] for m in group.loc[~group["has_data"], "month"]]
        parts = []
        if missing:
            parts.append("TIDAK LENGKAP: tanpa data bulan " + ", ".join(missing))
        if group["month"].max() < 12:
            parts.append(f"s.d. {MONTHS_ID[int(group['month'].max()) - 1]}")
        notes[(agency, int(year))] = "; ".join(parts)
    return notes


def _region_names(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    return dict(zip(frames["agencies"]["agency"], frames["agencies"]["region_name"]))


def _comparable(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency and year: whether the change from the previous year compares like with like
    (both years complete and neither a year still running)."""
    flags = _flags(frames).sort_values(["agency", "year"])
    odd = flags["incomplete"] | flags["partial"]
    prev_odd = odd.groupby(flags["agency"]).shift(1, fill_value=True)
    return pd.DataFrame({"agency": flags["agency"], "year": flags["year"], "comparable": ~odd & ~prev_odd})


def _flags(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency and year: incomplete (months without data) and partial (a year still running)."""
    comp = frames["completeness"]
    if comp.empty:
        return pd.DataFrame(columns=["agency", "year", "incomplete", "partial"])
    g = comp.groupby(["agency", "year"])
    return pd.DataFrame({"incomplete": ~g["has_data"].all(), "partial": g["month"].max() < 12}).reset_index()


# ---------------------------------------------------------------- charts

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _line_chart(ax, ry: pd.DataFrame, flags: pd.DataFrame, names: dict[str, str], column: str, title: str,
                ylabel: str) -> None:
    data = ry.merge(flags, on=["agency", "year"], how="left")
    for i, (agency, group) in enumerate(data.groupby("agency", sort=True)):
        color = COLORS[i % len(COLORS)]
        group = group.sort_values("year")
        ax.plot(group["year"], group[column], color=color, label=names.get(agency, agency), marker="o",
                markersize=6)
        odd = group[group["incomplete"].fillna(False).astype(bool) | group["partial"].fillna(False).astype(bool)]
        ax.plot(odd["year"], odd[column], linestyle="none", marker="o", markersize=9, markerfacecolor="white",
                markeredgecolor=color, markeredgewidth=2)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("Tahun laporan")
    ax.set_xticks(sorted(data["year"].unique()))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


def _figures(frames: dict[str, pd.DataFrame]) -> dict[str, tuple[object, str]]:
    """name -> (figure, alt text in Bahasa Indonesia)."""
    plt = _plt()
    names = _region_names(frames)
    ry, flags = frames["region_year"], _flags(frames)
    figs: dict[str, tuple[object, str]] = {}
    if ry.empty:
        return figs
    hollow = plt.Line2D([], [], linestyle="none", marker="o", markersize=9, markerfacecolor="white",
                        markeredgecolor="black", markeredgewidth=2,
                        label="Lingkaran kosong: tahun tidak lengkap atau s.d. bulan terakhir")

    fig, ax = plt.subplots(figsize=(11, 5))
    _line_chart(ax, ry, flags, names, "victims", "Jumlah korban per tahun (korban yang melapor)", "Korban")
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], hollow], fontsize=9, loc="upper left",
              bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    figs["korban"] = (fig, "Grafik garis jumlah korban per wilayah per tahun")

    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    _line_chart(axes[0], ry, flags, names, "victims_per_100k", "Korban per 100.000 penduduk", "Per 100.000 penduduk")
    _line_chart(axes[1], ry, flags, names, "child_victims_per_100k_children", "Korban anak per 100.000 anak (0-17)",
                "Per 100.000 anak")
    handles = [*axes[0].get_legend_handles_labels()[0], hollow]
    fig.legend(handles=handles, fontsize=9, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    figs["angka"] = (fig, "Grafik garis korban per 100.000 penduduk dan korban anak per 100.000 anak")

    yoy = frames["yoy"][["agency", "year", "change_pct"]].merge(_comparable(frames), on=["agency", "year"], how="left")
    yoy = yoy[yoy["change_pct"].notna()]
    if not yoy.empty:
        from matplotlib.patches import Patch

        years = sorted(yoy["year"].unique())
        agencies = sorted(yoy["agency"].unique())
        width = 0.8 / len(agencies)
        fig, ax = plt.subplots(figsize=(12, 5))
        for i, agency in enumerate(agencies):
            color = COLORS[i % len(COLORS)]
            for _, row in yoy[yoy["agency"] == agency].iterrows():
                odd = not bool(row["comparable"])
                ax.bar(years.index(row["year"]) + (i - (len(agencies) - 1) / 2) * width, row["change_pct"], width,
                       color="white" if odd else color, edgecolor=color, hatch="//" if odd else None)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(years)), [str(y) for y in years])
        ax.set_ylabel("Perubahan korban (%)")
        ax.set_xlabel("Tahun laporan (dibanding tahun sebelumnya)")
        ax.set_title("Perubahan jumlah korban dari tahun sebelumnya (%)")
        handles = [Patch(facecolor=COLORS[i % len(COLORS)], label=names.get(a, a)) for i, a in enumerate(agencies)]
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="Berarsir: tidak sebanding\n(tahun ini atau tahun\nsebelumnya tidak lengkap,\natau s.d. bulan)"))
        ax.legend(handles=handles, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        figs["perubahan"] = (fig, "Grafik batang perubahan persentase jumlah korban dari tahun sebelumnya")

    forms = frames["forms"].merge(flags, on=["agency", "year"], how="left")
    full = forms[~forms["partial"].fillna(True).astype(bool)]
    if not full.empty:
        year = int(full["year"].max())
        part = full[full["year"] == year]
        agencies = sorted(part["agency"].unique())
        width = 0.8 / len(agencies)
        fig, ax = plt.subplots(figsize=(11, 5))
        for i, agency in enumerate(agencies):
            share = part[part["agency"] == agency].set_index("violence_form").reindex(FORMS)["share_pct"].fillna(0)
            ax.bar([k + (i - (len(agencies) - 1) / 2) * width for k in range(len(FORMS))], share.values, width,
                   color=COLORS[i % len(COLORS)], label=names.get(agency, agency))
        ax.set_xticks(range(len(FORMS)), [FORM_LABELS[f] for f in FORMS])
        ax.set_ylabel("% korban yang mengalami bentuk ini")
        ax.set_title(f"Bentuk kekerasan, tahun {year}: persen korban per bentuk (satu korban bisa >1 bentuk)")
        ax.legend(fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        figs["bentuk"] = (fig, f"Grafik batang persen korban per bentuk kekerasan tahun {year}")

    comp = frames["completeness"]
    if not comp.empty:
        from matplotlib.colors import ListedColormap

        months = sorted({(int(y), int(m)) for y, m in zip(comp["year"], comp["month"])})
        agencies = sorted(comp["agency"].unique())
        grid = [[1.0 if v else 0.0 for v in
                 comp[comp["agency"] == a].set_index(["year", "month"]).reindex(months)["has_data"].fillna(False)]
                for a in agencies]
        fig, ax = plt.subplots(figsize=(12, 0.6 * len(agencies) + 1.6))
        ax.imshow(grid, aspect="auto", cmap=ListedColormap(["#d62728", "#9ecf9e"]), vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_yticks(range(len(agencies)), [names.get(a, a) for a in agencies])
        starts = [i for i, (y, m) in enumerate(months) if m == 1]
        ax.set_xticks(starts, [str(months[i][0]) for i in starts])
        for i in starts:
            ax.axvline(i - 0.5, color="white", linewidth=1.5)
        for r, row in enumerate(grid):
            for c, v in enumerate(row):
                if not v:
                    ax.text(c, r, "X", ha="center", va="center", color="white", fontsize=7, fontweight="bold")
        ax.set_title("Kelengkapan data per bulan: hijau = ada data, merah (X) = bulan tanpa data")
        fig.tight_layout()
        figs["kelengkapan"] = (fig, "Peta kelengkapan data per wilayah dan bulan; merah berarti bulan tanpa data")
    return figs


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return buf.getvalue()


def write_charts(analytics_path: Path | str, out_dir: Path | str) -> list[Path]:
    """The report's charts as PNG files (grafik_<name>.png), e.g. to check them or put in slides."""
    from pipeline.safefs import safe_dir

    out = Path(out_dir)
    paths = []
    with safe_dir(out, out) as folder:
        for name, (fig, _) in _figures(_read(analytics_path)).items():
            png = _png(fig)
            paths.append(folder.write(f"grafik_{name}.png", lambda handle: handle.write(png)))
    return paths


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
    data = base64.b64encode(_png(fig)).decode("ascii")
    return f'<p><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></p>'


def _explain(text: str) -> str:
    return f'<p class="explain">{esc(text)}</p>'


def _section_victims(frames, notes, names, figs) -> str:
    ry = frames["region_year"]
    rows, classes = [], []
    for _, r in ry.iterrows():
        key = (r["agency"], int(r["year"]))
        note = notes.get(key, "")
        pop = fmt_id(r["population"]) + ("*" if _true(r["population_estimated"]) else "")
        kids = fmt_id(r["child_population"]) + ("*" if _true(r["child_population_estimated"]) else "")
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
    comparable = {(a, int(y)): bool(c) for a, y, c in _comparable(frames).itertuples(index=False)}
    rows, classes = [], []
    for _, r in frames["yoy"].iterrows():
        key = (r["agency"], int(r["year"]))
        if _missing(r["victims_prev_year"]):
            same = ("–", "")
        else:
            same = ("ya", "") if comparable.get(key, False) else ("TIDAK", "warn")
        rows.append([
            (names.get(r["agency"], r["agency"]), ""), (str(int(r["year"])), ""), (fmt_id(r["victims"]), "n"),
            (fmt_id(r["victims_prev_year"]), "n"), (fmt_id(r["change_abs"], sign=True), "n"),
            (fmt_id(r["change_pct"], 1, sign=True) + ("%" if not _missing(r["change_pct"]) else ""), "n"),
            (fmt_id(r["cases"]), "n"), (fmt_id(r["cases_change_abs"], sign=True), "n"),
            (fmt_id(r["cases_change_pct"], 1, sign=True) + ("%" if not _missing(r["cases_change_pct"]) else ""), "n"),
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
            if m not in by_month.index:
                cells.append(("belum", "later"))
            elif bool(by_month.loc[m, "has_data"]):
                cells.append((fmt_id(by_month.loc[m, "victims"]), "ok"))
            else:
                cells.append(("TIDAK ADA DATA", "nodata"))
                missing_list.append(f"{names.get(agency, agency)}: {MONTHS_ID[m - 1]} {int(year)}")
        n_data = int(group["has_data"].sum())
        cells.append((f"{n_data} dari {len(group)}", "n"))
        rows.append(cells)
        classes.append("bad" if n_data < len(group) else "")
    table = _table(["Wilayah", "Tahun", *MONTHS_SHORT, "Bulan berisi data"], rows, classes)
    text = (
        "Untuk setiap wilayah dan bulan: jumlah korban yang masuk, atau TIDAK ADA DATA (merah) bila tidak ada "
        "satu pun catatan untuk bulan itu. Bulan tanpa data dianggap ekspor yang hilang atau terlambat sampai "
        "terbukti sebaliknya, bukan bulan tanpa kekerasan. 'belum' = bulan setelah data terakhir."
    )
    listing = ("<p><strong>Bulan tanpa data:</strong></p><ul>"
               + "".join(f"<li>{esc(item)}</li>" for item in missing_list) + "</ul>"
               if missing_list else "<p>Semua bulan dalam periode berisi data.</p>")
    chart = _img(*figs["kelengkapan"]) if "kelengkapan" in figs else ""
    return f'<h2 id="kelengkapan">4. Kelengkapan data per bulan</h2>{_explain(text)}{listing}{chart}{table}'


def build_html(analytics_path: Path | str) -> str:
    """The whole report as one HTML string."""
    frames = _read(analytics_path)
    names = _region_names(frames)
    notes = _year_notes(frames)
    figs = _figures(frames)
    comp = frames["completeness"]
    if comp.empty:
        period = "belum ada data"
    else:
        ordered = comp.sort_values(["year", "month"])
        lo, hi = ordered.iloc[0], ordered.iloc[-1]
        period = f"{MONTHS_ID[int(lo['month']) - 1]} {int(lo['year'])} s.d. {MONTHS_ID[int(hi['month']) - 1]} {int(hi['year'])}"
    regions = ", ".join(f"{names[a]} ({a})" for a in frames["agencies"]["agency"])
    warning = "".join(f"<li>{esc(t)}</li>" for t in WARNING_ID)
    parts = [
        "<!DOCTYPE html>", '<html lang="id"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Laporan Kasus Kekerasan terhadap Perempuan dan Anak</title>", f"<style>{CSS}</style></head><body>",
        "<h1>Laporan Kasus Kekerasan terhadap Perempuan dan Anak</h1>",
        f'<p class="meta">Data dibangun: <strong>{esc(_date_id(built_at(analytics_path)))}</strong><br>'
        f"Periode data (tanggal pengaduan): {esc(period)}<br>Wilayah: {esc(regions)}</p>",
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
