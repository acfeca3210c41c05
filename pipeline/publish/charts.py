"""The report's charts (matplotlib, drawn off-screen) as PNG: victims and rates per
year with their 95% intervals, year-on-year change with whether it is more than chance,
forms of violence, and each month's reporting status.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from pipeline.publish.views import FORM_LABELS, FORMS, read_analytics, region_names, year_flags

# ---------------------------------------------------------------- charts

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]
# a month's coverage_status, the colours of the report's grid
STATUS_COLORS = {"reported": "#8fd19e", "reported_zero": "#6baed6", "missing": "#d62728", "not_due": "#d9d9d9"}
NOT_IN_PERIOD = "#ffffff"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _line_chart(ax, ry: pd.DataFrame, flags: pd.DataFrame, names: dict[str, str], column: str, title: str,
                ylabel: str, band: tuple[str, str] | None = None, bars: tuple[str, str] | None = None) -> None:
    """One line per agency; hollow markers for a year incomplete or in progress; the 95% interval
    as error bars (`bars`: low and high columns) or a shaded band (`band`)."""
    data = ry.merge(flags, on=["agency", "year"], how="left")
    agencies = sorted(data["agency"].unique())
    offsets = {a: (i - (len(agencies) - 1) / 2) * 0.06 for i, a in enumerate(agencies)}  # bars side by side
    for i, (agency, group) in enumerate(data.groupby("agency", sort=True)):
        color = COLORS[i % len(COLORS)]
        group = group[group["victims_ci_low"].notna()].sort_values("year")  # years with a report
        x = group["year"] + (offsets[agency] if bars else 0)
        ax.plot(x, group[column], color=color, label=names.get(agency, agency), marker="o", markersize=6)
        if bars:
            low, high = group[bars[0]], group[bars[1]]
            ax.errorbar(x, group[column], yerr=[group[column] - low, high - group[column]], fmt="none",
                        ecolor=color, elinewidth=1.2, capsize=3, alpha=0.8)
        if band:
            ax.fill_between(group["year"], group[band[0]], group[band[1]], color=color, alpha=0.15, linewidth=0)
        odd = group[group["incomplete"].fillna(False).astype(bool) | group["in_progress"].fillna(False).astype(bool)]
        ax.plot(odd["year"] + (offsets[agency] if bars else 0), odd[column], linestyle="none", marker="o",
                markersize=9, markerfacecolor="white", markeredgecolor=color, markeredgewidth=2)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("Tahun laporan")
    ax.set_xticks(sorted(data["year"].unique()))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


def _change_chart(plt, yoy: pd.DataFrame, names: dict[str, str]):
    """Bars of the change over the same months: solid when significant, pale when it may be chance,
    hatched when not tested (a year incomplete)."""
    from matplotlib.patches import Patch

    pct = yoy["change_pct_same_months"].fillna(yoy["change_pct"])
    data = yoy.assign(pct=pct)[pct.notna()]
    years = sorted(data["year"].unique())
    agencies = sorted(data["agency"].unique())
    width = 0.8 / len(agencies)
    fig, ax = plt.subplots(figsize=(12, 5))
    for i, agency in enumerate(agencies):
        color = COLORS[i % len(COLORS)]
        for _, row in data[data["agency"] == agency].iterrows():
            x = years.index(row["year"]) + (i - (len(agencies) - 1) / 2) * width
            if pd.isna(row["change_p_value"]):
                ax.bar(x, row["pct"], width, color="white", edgecolor=color, hatch="//")
            elif bool(row["change_significant"]):
                ax.bar(x, row["pct"], width, color=color, edgecolor="black", linewidth=1.2)
                ax.annotate("*", (x, row["pct"]), ha="center", va="bottom" if row["pct"] >= 0 else "top",
                            fontsize=14, fontweight="bold")
            else:
                ax.bar(x, row["pct"], width, color=color, alpha=0.35, edgecolor=color)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(years)), [str(y) for y in years])
    ax.set_ylabel("Perubahan korban (%), bulan yang sama")
    ax.set_xlabel("Tahun laporan (dibanding tahun sebelumnya, bulan yang dilaporkan di kedua tahun)")
    ax.set_title("Perubahan jumlah korban dari tahun sebelumnya (%)")
    handles = [Patch(facecolor=COLORS[i % len(COLORS)], label=names.get(a, a)) for i, a in enumerate(agencies)]
    handles += [Patch(facecolor="#888888", edgecolor="black", linewidth=1.2,
                      label="Pekat dengan *: bermakna\nsecara statistik (p < 0,05)"),
                Patch(facecolor="#888888", alpha=0.35, label="Pucat: belum bermakna\n(bisa karena kebetulan)"),
                Patch(facecolor="white", edgecolor="black", hatch="//",
                      label="Berarsir: tanpa uji\n(tahun ini atau tahun\nsebelumnya tidak lengkap)")]
    ax.legend(handles=handles, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _completeness_chart(plt, comp: pd.DataFrame, names: dict[str, str]):
    """A month-by-agency grid in the four coverage colours: a zero is not a missing month."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    order = [*STATUS_COLORS, None]
    months = sorted({(int(y), int(m)) for y, m in zip(comp["year"], comp["month"])})
    agencies = sorted(comp["agency"].unique())
    statuses = [comp[comp["agency"] == a].set_index(["year", "month"]).reindex(months)["coverage_status"]
                for a in agencies]
    grid = [[order.index(s if isinstance(s, str) else None) for s in row] for row in statuses]
    fig, ax = plt.subplots(figsize=(12, 0.6 * len(agencies) + 2.2))
    ax.imshow(grid, aspect="auto", cmap=ListedColormap([*STATUS_COLORS.values(), NOT_IN_PERIOD]), vmin=0,
              vmax=len(order) - 1, interpolation="nearest")
    ax.set_yticks(range(len(agencies)), [names.get(a, a) for a in agencies])
    starts = [i for i, (y, m) in enumerate(months) if m == 1]
    ax.set_xticks(starts, [str(months[i][0]) for i in starts])
    for i in starts:
        ax.axvline(i - 0.5, color="white", linewidth=1.5)
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if order[v] == "missing":
                ax.text(c, r, "X", ha="center", va="center", color="white", fontsize=7, fontweight="bold")
            elif order[v] == "reported_zero":
                ax.text(c, r, "0", ha="center", va="center", color="white", fontsize=7, fontweight="bold")
    ax.set_title("Kelengkapan laporan per bulan")
    labels = {"reported": "ada laporan", "reported_zero": "0 = nihil / nol kasus", "missing": "X = belum ada laporan",
              "not_due": "belum jatuh tempo"}
    ax.legend(handles=[Patch(facecolor=STATUS_COLORS[s], label=labels[s]) for s in STATUS_COLORS],
              loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


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
                        label="Lingkaran kosong: tahun tidak\nlengkap atau masih berjalan")
    ci = plt.Line2D([], [], color="black", marker="|", markersize=10, linewidth=1.2,
                    label="Garis tegak: rentang 95%\n(naik-turun karena kebetulan)")

    fig, ax = plt.subplots(figsize=(11, 5))
    _line_chart(ax, ry, flags, names, "victims", "Jumlah korban per tahun (korban yang melapor), dengan rentang 95%",
                "Korban", bars=("victims_ci_low", "victims_ci_high"))
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], hollow, ci], fontsize=9, loc="upper left",
              bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    figs["korban"] = (fig, "Grafik garis jumlah korban per wilayah per tahun, dengan rentang 95%")

    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    _line_chart(axes[0], ry, flags, names, "victims_per_100k", "Korban per 100.000 penduduk (pita: rentang 95%)",
                "Per 100.000 penduduk", band=("victims_per_100k_ci_low", "victims_per_100k_ci_high"))
    _line_chart(axes[1], ry, flags, names, "child_victims_per_100k_children", "Korban anak per 100.000 anak (0-17)",
                "Per 100.000 anak")
    handles = [*axes[0].get_legend_handles_labels()[0], hollow]
    fig.legend(handles=handles, fontsize=9, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    figs["angka"] = (fig, "Grafik garis korban per 100.000 penduduk (dengan rentang 95%) dan korban anak per "
                          "100.000 anak")

    yoy = frames["yoy"]
    if yoy["change_pct_same_months"].fillna(yoy["change_pct"]).notna().any():
        figs["perubahan"] = (_change_chart(plt, yoy, names),
                             "Grafik batang perubahan persentase jumlah korban dari tahun sebelumnya, bulan yang sama")

    forms = frames["forms"].merge(flags, on=["agency", "year"], how="left")
    full = forms[~forms["in_progress"].fillna(True).astype(bool) & ~forms["incomplete"].fillna(True).astype(bool)]
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
        ax.set_title(f"Bentuk kekerasan, tahun lengkap terakhir ({year}): persen korban per bentuk "
                     "(satu korban bisa >1 bentuk)")
        ax.legend(fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        figs["bentuk"] = (fig, f"Grafik batang persen korban per bentuk kekerasan tahun {year}")

    comp = frames["completeness"]
    if not comp.empty:
        figs["kelengkapan"] = (_completeness_chart(plt, comp, names),
                               "Peta kelengkapan laporan per wilayah dan bulan: hijau ada laporan, biru nihil, "
                               "merah belum ada laporan, abu-abu belum jatuh tempo")
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


