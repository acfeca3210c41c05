"""The report's charts (matplotlib, drawn off-screen) as PNG: victims and rates per
year, year-on-year change, forms of violence.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from pipeline.publish.views import FORM_LABELS, FORMS, comparable_years, read_analytics, region_names, year_flags

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


def figures(frames: dict[str, pd.DataFrame]) -> dict[str, tuple[object, str]]:
    """name -> (figure, alt text in Bahasa Indonesia)."""
    plt = _plt()
    names = region_names(frames)
    ry, flags = frames["region_year"], year_flags(frames)
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

    yoy = frames["yoy"][["agency", "year", "change_pct"]].merge(comparable_years(frames), on=["agency", "year"], how="left")
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
        shade = {"missing": 0.0, "not_due": 0.5}  # reported (with cases, or as zero): 1.0
        grid = [[shade.get(v, 1.0) for v in comp[comp["agency"] == a].set_index(["year", "month"])
                 .reindex(months)["coverage_status"].fillna("not_due")] for a in agencies]
        fig, ax = plt.subplots(figsize=(12, 0.6 * len(agencies) + 1.6))
        ax.imshow(grid, aspect="auto", cmap=ListedColormap(["#d62728", "#dddddd", "#9ecf9e"]), vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_yticks(range(len(agencies)), [names.get(a, a) for a in agencies])
        starts = [i for i, (y, m) in enumerate(months) if m == 1]
        ax.set_xticks(starts, [str(months[i][0]) for i in starts])
        for i in starts:
            ax.axvline(i - 0.5, color="white", linewidth=1.5)
        for r, row in enumerate(grid):
            for c, v in enumerate(row):
                if v == 0.0:
                    ax.text(c, r, "X", ha="center", va="center", color="white", fontsize=7, fontweight="bold")
        ax.set_title("Kelengkapan data per bulan: hijau = ada data (atau laporan nihil), merah (X) = bulan tanpa "
                     "data, abu-abu = belum waktunya")
        fig.tight_layout()
        figs["kelengkapan"] = (fig, "Peta kelengkapan data per wilayah dan bulan; merah berarti bulan tanpa data")
    return figs


def png_bytes(fig) -> bytes:
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
        for name, (fig, _) in figures(read_analytics(analytics_path)).items():
            png = png_bytes(fig)
            paths.append(folder.write(f"grafik_{name}.png", lambda handle, data=png: handle.write(data)))
    return paths


