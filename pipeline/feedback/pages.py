"""The HTML pages for staff: a receipt per file (<name>.tanda-terima.html; a nil report's
confirms it with its period) and the summary page (index.html) with every file sent, each
month's reporting status (reported, nihil, missing, not due), the year-on-year figures with
their intervals and tests, and the agency's data-quality flags. The statuses, numbers and
words are the marts', as in the report. Times in the agency's time zone; every text escaped.
"""

from __future__ import annotations

import html
from urllib.parse import quote

import pandas as pd

from pipeline.contract import load_contract
from pipeline.feedback.files import INDEX_FILE
from pipeline.feedback.gather import FileFeedback, _int
from pipeline.feedback.words import _short, _size, fmt_num, local_time, local_timestamp, status_explained, texts
from pipeline.ingest.coverage import describe
from pipeline.marts.completeness import REPORTED, STATUS_MARKS, status_words
from pipeline.marts.data_end import STALE_MONTHS, last_month_with_data, months_between
from pipeline.marts.quality import review_words
from pipeline.marts.stats import describe_change
from pipeline.messages import render
from pipeline.registry import Agency

# ---------------------------------------------------------------- HTML (receipts and the summary page)

CSS = """
body{font-family:"Segoe UI",Arial,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;
color:#1b1b1b;line-height:1.45;font-size:15px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;color:#1F4E79;border-bottom:2px solid #DDEBF7;
padding-bottom:4px}.sub{color:#555;margin:0 0 12px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:14px}th,td{border:1px solid #c8c8c8;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#EDEDED}td.n{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:3px;font-weight:bold;font-size:13px;white-space:nowrap}
.loaded{background:#C6EFCE;color:#006100}.rejected{background:#FFC7CE;color:#9C0006}
.superseded{background:#DDEBF7;color:#1F4E79}.ignored,.removed{background:#EDEDED;color:#444}
.grid td{text-align:center;min-width:44px;padding:4px 2px}.grid td.y{text-align:left;font-weight:bold}
.reported{background:#C6EFCE;color:#006100}.reported_zero{background:#BDD7EE;color:#1F4E79;font-weight:bold}
.missing{background:#FFC7CE;color:#9C0006;font-weight:bold}.not_due{background:#EDEDED;color:#777}
.grid td.fut{background:#fff;color:#aaa}.grid td.note{text-align:left;font-size:13px;min-width:200px}
.nil_report{background:#BDD7EE;color:#1F4E79}.nil{background:#DDEBF7;border-left:4px solid #1F4E79;padding:8px 12px}
tr.info td{color:#666;font-size:13px}td.open{color:#9C0006;font-weight:bold}td.explained{color:#1F4E79}
td.confirmed{color:#8a4b00;font-weight:bold}
.kv th{width:260px;background:#f4f4f4}.legend>span{margin-right:22px}td.d{white-space:nowrap}
.small{font-size:13px;color:#555}
.warn{background:#FFEB9C;padding:8px 12px;border-left:4px solid #c9a000;margin:8px 0}
.tot td{font-size:20px;font-weight:bold;text-align:center;min-width:120px}.tot th{text-align:center}
table.files{width:100%}.files td.msg{min-width:260px}.files th{font-size:13px}
.files div.small{white-space:nowrap}
"""


def esc(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    return html.escape(str(value), quote=True)


def _href(name: str) -> str:
    return html.escape(quote(name), quote=True)


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"id\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _badge(status: str) -> str:
    label = texts()["status"].get(status, status.upper())
    return f'<span class="badge {esc(status)}">{esc(label)}</span>'


def render_receipt(fb: FileFeedback, agency: Agency, feedback_name: str | None) -> str:
    """A receipt: the file arrived, when, and what became of it. No values from the file."""
    r, s = texts()["receipt"], texts()["summary"]
    rows = [
        (r["agency"], esc(agency.name)),
        (r["file"], f"<b>{esc(_short(fb.path))}</b>"),
        (r["received"], esc(local_time(fb.first_seen, agency.timezone))),
        (r["modified"], esc(local_time(fb.modified_at, agency.timezone))),
        (r["size"], esc(_size(fb.size_bytes))),
        (r["fingerprint"], f"<code>{esc((fb.sha256 or '')[:12] or '–')}</code>"),
        (r["status"], _badge(fb.status)),
        (r["message"], esc(status_explained(fb))),
    ]
    period = file_period(fb)
    if period:
        rows.insert(6, (r["period"], esc(period)))
    kv = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    counts = "".join(f"<tr><th>{esc(s[k])}</th><td class=\"n\">{fmt_num(getattr(fb, k))}</td></tr>"
                     for k in ("data_rows", "rows_staged", "rows_rejected", "rows_superseded", "rows_warned"))
    parts = [f"<h1>{esc(r['title'])}</h1><p class=\"sub\">{esc(agency.name)}</p>"]
    if fb.status == "nil_report":
        meaning = r["nil_meaning"].format(zero=status_words("reported_zero"), missing=status_words("missing"))
        parts.append(f"<p class=\"nil\"><b>{esc(r['nil_received'].format(period=period or '–'))}</b> "
                     f"{esc(meaning)}</p>")
    parts.append(f"<table class=\"kv\">{kv}</table>")
    if fb.status not in ("ignored", "nil_report") and (fb.data_rows or fb.status != "rejected"):
        parts.append(f"<h2>{esc(r['counts'])}</h2><table class=\"kv\">{counts}</table>")
    if fb.superseded_by:
        parts.append(f"<p>{esc(s['superseded_by'].format(other=', '.join(_short(p) for p in fb.superseded_by)))}</p>")
    if fb.supersedes:
        parts.append(f"<p>{esc(s['supersedes'].format(other=', '.join(_short(p) for p in fb.supersedes)))}</p>")
    if feedback_name:  # what to fix, or only what to know (a file replaced by a later one)
        kind, text = ("warn", r["feedback_link"]) if fb.needs_action else ("small", r["feedback_link_info"])
        parts.append(f"<p class=\"{kind}\">{esc(text)} <a href=\"{_href(feedback_name)}\">{esc(feedback_name)}</a></p>")
    elif fb.status == "loaded":
        parts.append(f"<p>{esc(r['no_problems'])}</p>")
    parts.append(f"<p class=\"small\"><a href=\"{INDEX_FILE}\">{esc(r['back'])}</a></p>")
    return _page(f"{r['title']}: {_short(fb.path)}", "\n".join(parts))


def render_index(agency: Agency, files: list[FileFeedback], links: dict[str, dict[str, str]],
                 months: pd.DataFrame, yoy: pd.DataFrame, updated: object, flags: pd.DataFrame | None = None,
                 reconciliation: pd.DataFrame | None = None, changes: pd.DataFrame | None = None,
                 today: object = None) -> str:
    """The summary page: totals, the month grid, year-on-year, the figures the latest update
    changed and the files that caused it (meta.change_reports), the years where a recap and the
    register differ (marts.recap_reconciliation), the data-quality flags, and every file ever
    sent. The statuses, numbers and words are the mart's, as in the report. `updated`: when the
    newest file came; `today` (default `updated`): the day the data are judged stale against."""
    t = texts()
    x = t["index"]
    live = [f for f in files if f.status not in ("removed", "ignored")]
    end = last_month_with_data(months)
    shown_end = f"{t['months'][end[1] - 1]} {end[0]}" if end else x["data_end_none"]
    parts = [f"<h1>{esc(x['title'])}</h1>",
             f"<p class=\"sub\"><b>{esc(agency.name)}</b> &middot; {esc(x['updated'])}: "
             f"{esc(local_time(updated, agency.timezone))} &middot; {esc(x['data_end'])}: <b>{esc(shown_end)}</b></p>"]
    today = updated if today is None else today
    if end and today is not None and not pd.isna(today):
        now = local_timestamp(today, agency.timezone)
        if months_between(end, (now.year, now.month)) > STALE_MONTHS:
            parts.append(f"<p class=\"warn\">{esc(x['stale'].format(month=shown_end, n=STALE_MONTHS))}</p>")
    parts.append(f"<p>{esc(x['intro'])}</p>")

    totals = [(x["totals_files"], len(live)), (x["totals_staged"], sum(f.rows_staged for f in live)),
              (x["totals_rejected"], sum(f.rows_rejected for f in live)),
              (x["totals_superseded"], sum(f.rows_superseded for f in live)),
              (x["totals_problem_files"], sum(1 for f in live if f.needs_action))]
    parts.append(f"<h2>{esc(x['totals'])}</h2><table class=\"tot\"><tr>"
                 + "".join(f"<th>{esc(k)}</th>" for k, _ in totals) + "</tr><tr>"
                 + "".join(f"<td>{fmt_num(v)}</td>" for _, v in totals) + "</tr></table>")

    parts.append(f"<h2>{esc(x['months'])}</h2><p>{esc(x['months_intro'])}</p>")
    parts.append(_month_grid(months))

    parts.append(f"<h2>{esc(x['yoy'])}</h2>")
    parts.append(_yoy_table(yoy, end))
    if changes is not None and len(changes):
        head = "".join(f"<th>{esc(c)}</th>" for c in x["changes_columns"])
        rows = "".join(f"<tr><td class=\"d\">{esc(local_time(r['built_at'], agency.timezone, short=True))}</td>"
                       f"<td>{esc(r['message'])}</td></tr>" for r in changes.to_dict("records"))
        parts.append(f"<h2>{esc(x['changes'])}</h2><p>{esc(x['changes_intro'])}</p>"
                     f"<table class=\"changes\"><tr>{head}</tr>{rows}</table>")
    if reconciliation is not None and len(reconciliation):
        parts.append(f"<h2>{esc(x['reconciliation'])}</h2><p>{esc(x['reconciliation_intro'])}</p>")
        parts.append(_reconciliation_table(reconciliation, x))

    parts.append(f"<h2>{esc(x['flags'])}</h2><p>{esc(x['flags_intro'])}</p>")
    parts.append(_flags_table(flags if flags is not None else pd.DataFrame()))

    parts.append(f"<h2>{esc(x['files'])}</h2>")
    if files:
        head = "".join(f"<th>{esc(c)}</th>" for c in x["files_columns"])
        body = []
        for f in files:
            link = links.get(f.path, {})
            anchors = []
            if "feedback" in link:
                anchors.append(f"<a href=\"{_href(link['feedback'])}\">{esc(x['feedback_link'])}</a>")
            if "receipt" in link:
                anchors.append(f"<a href=\"{_href(link['receipt'])}\">{esc(x['receipt_link'])}</a>")
            when = (f"{esc(x['received'])} {esc(local_time(f.first_seen, agency.timezone, short=True))}<br>"
                    f"{esc(x['modified'])} {esc(local_time(f.modified_at, agency.timezone, short=True))}")
            body.append(
                f"<tr><td><b>{esc(_short(f.path))}</b><div class=\"small\">{when}</div></td>"
                f"<td>{_badge(f.status)}</td>"
                + "".join(f"<td class=\"n\">{fmt_num(getattr(f, k))}</td>" for k in
                          ("data_rows", "rows_staged", "rows_rejected", "rows_superseded", "rows_warned"))
                + f"<td class=\"msg\">{esc(status_explained(f))}</td><td class=\"d\">{'<br>'.join(anchors)}</td></tr>")
        parts.append(f"<table class=\"files\"><tr>{head}</tr>{''.join(body)}</table>")
    else:
        parts.append(f"<p>{esc(x['no_files'])}</p>")
    return _page(f"{x['title']} – {agency.name}", "\n".join(parts))


def file_period(fb: FileFeedback) -> str | None:
    """The period a file's register sheets cover, in words ('Agustus 2023'); None when none."""
    sheets = fb.sheets
    if sheets.empty or "coverage_start" not in sheets or "is_register" not in sheets:
        return None
    registers = sheets[sheets["is_register"].fillna(False).astype(bool)]
    starts = pd.to_datetime(registers["coverage_start"]).dropna()
    ends = pd.to_datetime(registers["coverage_end"]).dropna()
    if starts.empty or ends.empty:
        return None
    return describe(starts.min().date(), ends.max().date(), load_contract())


def months_with(months: pd.DataFrame, status: str) -> list[tuple[int, int]]:
    """(year, month) of one agency's marts.reporting_completeness rows with that coverage_status."""
    if months.empty:
        return []
    found = months[months["coverage_status"] == status]
    return [(int(y), int(m)) for y, m in zip(found["year"], found["month"])]


def _month_grid(months: pd.DataFrame) -> str:
    t = texts()
    x = t["index"]
    if months.empty or not months["coverage_status"].isin(REPORTED).any():
        return f"<p>{esc(x['no_months'])}</p>"
    short = t["months_short"]
    head = (f"<tr><th>{esc(x['months_year'])}</th>" + "".join(f"<th>{esc(m)}</th>" for m in short)
            + f"<th>{esc(x['months_filled'])}</th><th>{esc(x['months_missing'])}</th></tr>")
    by_key = {(int(r["year"]), int(r["month"])): r for r in months.to_dict("records")}
    rows = []
    for year in sorted({y for y, _ in by_key}):
        cells, done, due, missing = [], 0, 0, []
        for m in range(1, 13):
            r = by_key.get((year, m))
            if r is None:
                cells.append(f"<td class=\"fut\" title=\"{esc(x['month_not_yet'])}\"></td>")
                continue
            status = r["coverage_status"]
            due += status != "not_due"
            done += status in REPORTED
            if status == "missing":
                missing.append(t["months"][m - 1])
            text = fmt_num(r["victims"]) if status == "reported" else STATUS_MARKS[status]
            cells.append(f"<td class=\"{esc(status)}\" title=\"{esc(t['months'][m - 1])} {year}: "
                         f"{esc(status_words(status))}\">{esc(text)}</td>")
        rows.append(f"<tr data-year=\"{year}\"><td class=\"y\">{year}</td>{''.join(cells)}<td>{done}/{due}</td>"
                    f"<td class=\"note\">{esc(', '.join(missing)) if missing else '–'}</td></tr>")
    gone, zero = months_with(months, "missing"), months_with(months, "reported_zero")
    summary = (esc(x["months_none_missing"]) if not gone else
               f"<b>{esc(x['months_missing'])}:</b> "
               + esc(", ".join(f"{t['months'][m - 1]} {y}" for y, m in gone)))
    if zero:
        summary += (f"<br><b>{esc(x['months_zero'])}:</b> "
                    + esc(", ".join(f"{t['months'][m - 1]} {y}" for y, m in zero)))
    legend = "<p class=\"legend small\">" + "".join(
        f"<span><span class=\"badge {status}\">{esc(text)}</span> {esc(status_words(status))}</span>"
        for status, text in STATUS_MARKS.items()) + "</p>"
    return f"<table class=\"grid\">{head}{''.join(rows)}</table>{legend}<p>{summary}</p>"


def _yoy_table(yoy: pd.DataFrame, end: tuple[int, int] | None) -> str:
    t = texts()
    x = t["index"]
    if yoy.empty:
        return f"<p>{esc(x['no_yoy'])}</p>"
    head = "".join(f"<th>{esc(c)}</th>" for c in x["yoy_columns"])
    rows = []
    for r in sorted(yoy.to_dict("records"), key=lambda r: -int(r["year"])):
        expected = r.get("months_expected")
        notes = []
        if bool(r.get("incomplete")):
            notes.append(x["yoy_incomplete"])
        if end is not None and int(r["year"]) == end[0] and end[1] < 12:  # in progress as far as the data go
            notes.append(x["yoy_in_progress"].format(months=t["months"][end[1] - 1]))
        if bool(r.get("unstable")):
            notes.append(render("unstable"))
        months_cell = (f"{_int(r.get('months_reported'))}/{_int(expected)}"
                       if expected is not None and not pd.isna(expected) else "–")
        low, high = r.get("victims_ci_low"), r.get("victims_ci_high")
        ci = "–" if low is None or pd.isna(low) else f"{fmt_num(low)}–{fmt_num(high)}"
        words = describe_change(r) if not pd.isna(r.get("victims_prev_year")) else "–"
        rows.append(
            f"<tr data-year=\"{int(r['year'])}\"><td>{int(r['year'])}</td>"
            f"<td class=\"n\">{fmt_num(r.get('victims'))}</td><td class=\"n\">{esc(ci)}</td>"
            f"<td class=\"n\">{fmt_num(r.get('victims_prev_year'))}</td>"
            f"<td class=\"n\">{fmt_num(r.get('change_pct'), 1, sign=True)}</td>"
            f"<td class=\"words\">{esc(words)}</td>"
            f"<td class=\"n\">{fmt_num(r.get('cases'))}</td><td class=\"n\">{months_cell}</td>"
            f"<td>{esc('; '.join(notes)) if notes else ''}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table><p class=\"small\">{esc(x['yoy_note'])}</p>"


def _flags_table(flags: pd.DataFrame) -> str:
    """The agency's data-quality flags (marts.dq_flags), open ones first, information last."""
    t = texts()
    x = t["index"]
    if flags.empty:
        return f"<p>{esc(x['no_flags'])}</p>"
    order = flags.assign(_info=flags["severity"] == "info", _open=flags["status"] != "open").sort_values(
        ["_info", "_open", "year", "month"], na_position="first", kind="stable")
    rows = []
    for r in order.to_dict("records"):
        month, year = r.get("month"), int(r["year"])
        period = str(year) if month is None or pd.isna(month) else f"{t['months'][int(month) - 1]} {year}"
        rows.append(f"<tr class=\"{'info' if r['severity'] == 'info' else ''}\" data-year=\"{int(r['year'])}\">"
                    f"<td class=\"d\">{esc(period)}</td><td>{esc(r['message'])}</td>"
                    f"<td class=\"{esc(r['status'])}\">{esc(review_words(r['status'], r.get('note')))}</td></tr>")
    head = "".join(f"<th>{esc(c)}</th>" for c in x["flags_columns"])
    return f"<table class=\"flags\"><tr>{head}</tr>{''.join(rows)}</table>"


def _reconciliation_table(frame: pd.DataFrame, x: dict) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in x["reconciliation_columns"])
    body = []
    for r in frame.to_dict("records"):
        numbers = [r[k] for k in ("recap_count", "staged_count")] + [
            fmt_num(r["difference"], sign=True)] + [r[k] for k in ("rows_rejected", "rows_superseded", "rows_other_year")]
        body.append(f"<tr><td>{int(r['year'])}</td><td>{esc(x['reconciliation_measures'].get(r['measure'], r['measure']))}"
                    "</td>" + "".join(f"<td class=\"n\">{v if isinstance(v, str) else fmt_num(v)}</td>"
                                      for v in numbers) + "</tr>")
    return f"<table class=\"files\"><tr>{head}</tr>{''.join(body)}</table>"
