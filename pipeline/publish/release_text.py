"""The text of a release: its notes (RELEASE_NOTES.md) and its validation summary
(VALIDATION.md), in Bahasa Indonesia with English beside, written from the warehouse."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from pipeline.config import Settings
from pipeline.marts.changes import reports_since
from pipeline.publish import approvals
from pipeline.warehouse.db import query_df

NOT_VALIDATED = [
    ("Kelengkapan register: kasus yang tidak pernah dicatat lembaga tidak terlihat di sini",
     "Whether the registers are complete: cases an agency never recorded cannot be seen"),
    ("Kebenaran nilai yang sah menurut aturan baris (tanggal atau usia yang keliru tetapi mungkin)",
     "Values that pass the row rules but are wrong (a plausible but wrong date or age)"),
    ("Angka penduduk (penyebut laju) dipakai dari registri apa adanya",
     "Population denominators: taken from the registry as they are"),
    ("Korban yang sama di dua lembaga (tidak ada kunci lintas lembaga)",
     "The same victim served by two agencies (no key across agencies)"),
    ("Penyerang yang dimodelkan supresi bersifat linear: hitungan yang disembunyikan masih bisa dipersempit ke "
     "suatu rentang", "The suppression's attacker is linear: a suppressed count can still be narrowed to an "
                      "interval"),
    ("Salinan peneliti berisi baris dan mart terkini; persetujuan berlaku untuk angka yang diterbitkan, bukan untuk "
     "salinan itu", "The researchers' copy holds the current rows and marts: approvals apply to the published "
                    "figures, not to it"),
    ("Persetujuan per bulan yang angkanya berubah diterbitkan sebagai sementara (angka sekarang), bukan angka "
     "yang disetujui", "A month approved whose figures changed is published as provisional (current figures), "
                       "not as approved"),
]


@dataclass
class Context:
    version: str
    released_at: dt.datetime
    previous: object  # releases.Previous | None
    k: int
    publication: object  # public.Publication
    single_audit: int
    pair_audit: int


def _md(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(tidak ada / none)_"
    shown = frame.astype(object).where(frame.notna(), "–")
    return shown.to_markdown(index=False)


def notes(con: duckdb.DuckDBPyConnection, ctx: Context) -> str:
    prev = ctx.previous
    lines = [f"# Rilis / Release {ctx.version}", "",
             f"- Tanggal / date: {ctx.released_at:%Y-%m-%d %H:%M} UTC",
             "- Rilis sebelumnya / previous release: "
             + (prev.version if prev else "– (rilis pertama / first release)"),
             f"- Ambang supresi / suppression threshold k = {ctx.k}; hitungan yang disembunyikan tambahan agar rilis "
             f"ini bersama rilis sebelumnya tidak membuka apa pun / counts suppressed in addition so that this "
             f"release and the previous one together reveal nothing: {len(ctx.publication.forced)}", ""]
    region = ctx.publication.tables["victims_by_region_year"]
    region = region[region["has_data"].astype("boolean").fillna(True)]  # years with data (or hidden whether)
    lines += ["## Angka utama / Headline figures", "",
              "Nilai kosong (x dalam CSV) disembunyikan demi kerahasiaan / blank (x in the CSV): suppressed.", "",
              _md(region[["agency", "year", "victims", "cases", "approval_status", "approval_id"]]), ""]
    states = approvals.states(con)
    lines += ["## Persetujuan / Approvals", "",
              "approved: angka disetujui / figures as approved; revision_pending: angka yang disetujui diterbitkan, "
              "angka baru menunggu persetujuan / the approved figures are published, newer ones await approval; "
              "provisional (sementara): belum disetujui / not approved.", "",
              _md(states.drop(columns=["approval_id"])), ""]
    changes = reports_since(con, since=prev.released_at if prev else None)
    title = (f"## Perubahan sejak rilis {prev.version} / Changes since release {prev.version}" if prev
             else "## Perubahan yang tercatat sebelum rilis pertama / Changes recorded before the first release")
    lines += [title, ""]
    if changes.empty:
        lines.append("Tidak ada angka yang berubah / no figure changed.")
    for (agency, built), group in changes.groupby(["agency", "built_at"], sort=True):
        lines.append(f"### {agency}, build {pd.Timestamp(built):%Y-%m-%d %H:%M} UTC (run {group['run_id'].iloc[0]})")
        lines += [f"- {m}  \n  _{e}_" for m, e in zip(group["message"], group["message_en"])]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def validation(con: duckdb.DuckDBPyConnection, cfg: Settings, ctx: Context) -> str:
    lines = [f"# Ringkasan validasi / Validation summary: {ctx.version}", "",
             "## Pemeriksaan yang dijalankan / Checks run", "",
             _md(pd.DataFrame(_checks(con, cfg, ctx), columns=["check", "result", "detail"])), "",
             "## Baris ditolak per lembaga / Rows rejected per agency", "",
             _md(query_df(con, """
                 SELECT agency, count(*) FILTER (WHERE status NOT IN ('removed', 'ignored')) AS files,
                        count(*) FILTER (WHERE status = 'rejected') AS files_rejected,
                        coalesce(sum(data_rows) FILTER (WHERE status NOT IN ('removed')), 0) AS data_rows,
                        coalesce(sum(rows_staged) FILTER (WHERE status NOT IN ('removed')), 0) AS rows_staged,
                        coalesce(sum(rows_rejected) FILTER (WHERE status NOT IN ('removed')), 0) AS rows_rejected,
                        coalesce(sum(rows_superseded) FILTER (WHERE status NOT IN ('removed')), 0) AS rows_superseded
                 FROM meta.ingest_log GROUP BY agency ORDER BY agency""")), "",
             "## Kelengkapan / Completeness (marts.reporting_completeness)", "",
             _md(query_df(con, """
                 SELECT agency, year,
                        count(*) FILTER (WHERE coverage_status IN ('reported', 'reported_zero')) AS months_reported,
                        count(*) FILTER (WHERE coverage_status = 'missing') AS months_missing,
                        count(*) FILTER (WHERE coverage_status = 'not_due') AS months_not_due
                 FROM marts.reporting_completeness GROUP BY agency, year ORDER BY agency, year""")), "",
             "## Temuan kualitas data yang masih terbuka / Open data-quality flags (marts.dq_flags)", "",
             _md(query_df(con, """
                 SELECT agency, "check", count(*) AS open_flags FROM marts.dq_flags WHERE status = 'open'
                 GROUP BY ALL ORDER BY ALL""")), "",
             "## Yang tidak divalidasi / What was not validated", ""]
    lines += [f"- {i}  \n  _{e}_" for i, e in NOT_VALIDATED]
    return "\n".join(lines) + "\n"


def _checks(con: duckdb.DuckDBPyConnection, cfg: Settings, ctx: Context) -> list[tuple[str, str, str]]:
    from pipeline.marts import expectations
    from pipeline.publish.anonymity import L_DIVERSITY, PUBLISHED_QI, SENSITIVE, measure
    from pipeline.registry import agency_codes

    out = []
    accounting = con.execute("""
        SELECT count(*) FILTER (WHERE data_rows IS NOT NULL AND status NOT IN ('removed', 'erased')
                                AND data_rows <> coalesce(rows_staged, 0) + coalesce(rows_rejected, 0)
                                                 + coalesce(rows_superseded, 0)), count(*)
        FROM meta.ingest_log""").fetchall()[0]
    out.append(("row accounting (data rows = staged + rejected + superseded)", _ok(accounting[0] == 0),
                f"{accounting[0]} of {accounting[1]} files off"))
    agencies = agency_codes(cfg.registry_path)
    for name, sql in expectations.SUITE_SQL.items():
        outcome = expectations.validate(name, query_df(con, sql), agencies)
        out.append((f"Great Expectations: {name}", _ok(outcome.success),
                    f"{outcome.evaluated} expectations, {len(outcome.failed)} failed"))
    out.append(("suppression audit of this release", _ok(ctx.single_audit == 0),
                f"{ctx.single_audit} suppressed counts recoverable"))
    prev = ctx.previous
    if prev:
        out.append((f"suppression audit with the previous release ({prev.version})", _ok(ctx.pair_audit == 0),
                    f"{ctx.pair_audit} recoverable; {len(ctx.publication.forced)} counts suppressed in addition "
                    "for it"))
    else:
        out.append(("suppression audit with the previous release", "not run",
                    "first release: nothing to compare with"))
    with duckdb.connect(str(cfg.analytics_path), read_only=True) as copy:
        rows = copy.execute(f"SELECT {', '.join(PUBLISHED_QI)}, array_to_string(list_sort(violence_forms), ',') "
                            f"AS {SENSITIVE} FROM staging.case_victims").df()
    found = measure(rows)
    passed = rows.empty or (found["k"] >= ctx.k and found["l"] >= L_DIVERSITY)
    out.append(("k-anonymity and l-diversity of the researchers' rows", _ok(passed),
                f"k = {found['k']} (needed {ctx.k}), l = {found['l']} (needed {L_DIVERSITY}), {len(rows)} rows"))
    return out


def _ok(passed: bool) -> str:
    return "lulus / passed" if passed else "GAGAL / FAILED"
