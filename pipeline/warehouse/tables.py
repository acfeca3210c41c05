"""Every warehouse table, declared once: its columns, their types and what they mean.

The DDL (warehouse/db.py), the column lists the layers build their frames with, the
pandera columns of staging.case_victims (staging/rules.py) and the data dictionary
(publish/docs.py) are all derived from these declarations. The marts are declared too:
their SQL (marts/sql.py) must give exactly the declared columns and types, which the
build checks. Adding a column to a table is one Column here plus the code that fills it.

Columns used by several tables are declared once below and shared. Long on purpose (one
thing: the catalogue): one entry per table, read top to bottom in layer order; splitting it by
layer would scatter the shared columns and make "every table in one place" a search again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.contract import form_flag_columns


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    description: str
    nullable: bool = True

    def required(self) -> Column:
        return replace(self, nullable=False)

    def typed(self, type_: str) -> Column:
        return replace(self, type=type_)


@dataclass(frozen=True)
class Table:
    name: str  # schema.table
    description: str
    columns: tuple[Column, ...]
    stored: bool = True  # False: built with CREATE TABLE AS (the marts); the build checks its columns

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def ddl(self, replace_table: bool = False, temporary: str | None = None) -> str:
        """CREATE TABLE for this table, or for a temporary table of the connection named `temporary`
        with the same columns."""
        cols = ", ".join(f'"{c.name}" {c.type}{"" if c.nullable else " NOT NULL"}' for c in self.columns)
        kind = "TEMP TABLE" if temporary else "TABLE"
        head = f"CREATE OR REPLACE {kind}" if replace_table else f"CREATE {kind} IF NOT EXISTS"
        return f"{head} {temporary or self.name} ({cols})"


def _c(name: str, type_: str, description: str, nullable: bool = True) -> Column:
    return Column(name, type_, description, nullable)


TEXT, INT, BIG, DATE, TS, BOOL, LIST, JSON, DBL = (
    "VARCHAR", "INTEGER", "BIGINT", "DATE", "TIMESTAMP", "BOOLEAN", "VARCHAR[]", "JSON", "DOUBLE")

# ---------------------------------------------------------------- shared columns

AGENCY = _c("agency", TEXT, "Agency code (folder under data/raw/): kukar, kutim, ppu, bontang, batam.", False)
YEAR = _c("year", INT, "Year of the report date (SIMFONI counts by report date).")
MONTH = _c("month", INT, "Month (1-12) of the report date.")
CASE_ID = _c("case_id", TEXT, "The agency's register number of the case.")
LINEAGE = (
    _c("_source_file", TEXT, "Lineage: the file, relative to the raw folder; a byte of the name that is not "
                                  "UTF-8 is written `\\xHH`, a backslash `\\\\` (pipeline/names.py).", False),
    _c("_source_sha256", TEXT, "Lineage: SHA-256 of the file's bytes (its archive name).", False),
    _c("_source_sheet", TEXT, "Lineage: the sheet.", False),
    _c("_source_row", INT, "Lineage: the row number that Excel shows.", False),
    _c("_load_id", TEXT, "Lineage: the Dagster run id that loaded the row.", False),
    _c("_ingested_at", TS, "Lineage: when the row was first read (UTC).", False),
)
_SOURCE_FILE, _SHA, _SHEET, _ROW, _LOAD_ID, _INGESTED_AT = LINEAGE
SOURCE_CELL = _c("_source_cell", TEXT, "Lineage: the cell, as Excel names it (C7).", False)
RECAP_LINEAGE = (_SOURCE_FILE, _SHA, _SHEET, _ROW, SOURCE_CELL, _LOAD_ID, _INGESTED_AT)
ROW_REF = (_SOURCE_FILE, _SHEET, _ROW)  # where a row sits: file, sheet, row
MESSAGE = _c("message", TEXT, "Message in Bahasa Indonesia.")
MESSAGE_EN = _c("message_en", TEXT, "Message in English.")
RUN_ID = _c("run_id", TEXT, "The Dagster run that wrote this row (in the ledger: the last run that saw the file).", False)
PATH = _c("path", TEXT, "File path relative to the raw folder, escaped as _source_file.", False)
SHA256 = _c("sha256", TEXT, "SHA-256 of the file's bytes.")
UNKNOWN_HEADERS = _c("unknown_headers", LIST, "Headers that matched no column (names only, never values; a NIK, "
                                                   "phone number or e-mail in one masked).")
DATA_ROWS = _c("data_rows", INT, "Data rows read (blank, title and total rows are not data).")
POPULATION = _c("population", BIG, "Population (BPS mid-year estimate or census); interpolated or carried where BPS "
                                    "has no figure.")
POPULATION_ESTIMATED = _c("population_estimated", BOOL, "True when the population of that year is interpolated or "
                                                        "carried from the nearest year.")
KABKOTA_CODE = _c("kabkota_code", TEXT, "Kemendagri kabupaten/kota code (e.g. 64.08).")
REGION_NAME = _c("region_name", TEXT, "Kabupaten/kota name.")
KECAMATAN_CODE = _c("kecamatan_code", TEXT, "Kemendagri kecamatan code (e.g. 64.08.04), or LUAR_WILAYAH for a victim "
                                            "from outside the region.")
KECAMATAN_NAME = _c("kecamatan_name", TEXT, "Official kecamatan name from the registry.")
VICTIMS = _c("victims", INT, "Victims: one per victim per case; children recorded as perpetrators are not victims.")
CASES = _c("cases", INT, "Distinct case ids among the victims (a case whose only record is a child perpetrator is "
                         "not counted).")
SHARE_PCT = _c("share_pct", DBL, "Victims in this category / all victims of the agency-year × 100 (multi-valued "
                                 "categories add up to more than 100).")
HAS_DATA = _c("has_data", BOOL, "True when any row of that agency and period was staged. Not the same as reported: "
                                 "a month covered by a file that holds no case (a nil report, a zero month in a "
                                 "yearly register) has has_data = false; coverage_status tells the two apart.")
COVERAGE_START = _c("coverage_start", DATE, "First day of the period covered (data contract, section 8).")
COVERAGE_END = _c("coverage_end", DATE, "Last day of the period covered: the stated period capped at the export "
                                        "date, plus the months of rows dated outside it.")
EXPORT_DATE = _c("export_date", DATE, "The day the file was exported: a date after 'Dicetak', 'Per tanggal', "
                                      "'Kondisi per', 'Update' or 'Data s.d.' in the title block, else the file's "
                                      "modification date (in the agency's time zone).")

CI_LOW = _c("victims_ci_low", DBL, "Lower bound of the exact 95% Poisson interval (Garwood) of victims: counts this "
                                 "small move by chance alone; 0 victims gives 0-3.69.")
CI_HIGH = _c("victims_ci_high", DBL, "Upper bound of the exact 95% Poisson interval of victims.")
UNSTABLE = _c("unstable", BOOL, "True when victims are under 20: the count and its rate are not reliable (the usual "
                                "public-health threshold); read them with their interval.")
COVERAGE_STATUS = _c("coverage_status", TEXT, "reported (a current file covers the month and rows were staged), "
                                              "reported_zero (a current file covers it and holds no case: zero, not "
                                              "missing), missing (no current file covers it and its due date has "
                                              "passed), not_due (no file yet, and not yet due).")
DATA_SOURCE = _c("source", TEXT, "Where the counts come from: cases (staged case rows) or recap (an agency-year with no "
                            "case row that a recap covers: columns the recap cannot give are null, never 0); null "
                            "for a year without data.")
SEVERITY = _c("severity", TEXT, "warning (read the numbers with care) or info.")

# The canonical columns of the contract (section 3), as staged.
VICTIM_SEQ = _c("victim_seq", INT, "Victim number within the case (1, 2, …); given by the file or by row order "
                                   "within the file.")
REPORT_DATE = _c("report_date", DATE, "Date the case was reported (tanggal pengaduan).")
INCIDENT_DATE = _c("incident_date", DATE, "Date of the incident (tanggal kejadian), not after the report date.")
VICTIM_SEX = _c("victim_sex", TEXT, "L (laki-laki) or P (perempuan).")
VICTIM_AGE = _c("victim_age", INT, "Age in whole years, 0-120 (under one year is 0).")
VICTIM_AGE_GROUP = _c("victim_age_group", TEXT, "0-5, 6-12, 13-17, 18-24, 25-44, 45-59, 60+ (from the age, or as "
                                                "the file gave it).")
IS_CHILD = _c("is_child", BOOL, "True when the victim is under 18 (UU 35/2014); null when neither age nor age group "
                                "is known.")
VIOLENCE_FORMS = _c("violence_forms", LIST, "Forms of violence: FISIK, PSIKIS, SEKSUAL, EKSPLOITASI, TRAFFICKING, "
                                            "PENELANTARAN, LAINNYA (one or more).")
IS_KDRT = _c("is_kdrt", BOOL, "Domestic-violence context (KDRT): a flag, not a form.")
CHILD_ROLE = _c("child_role", TEXT, "For children: KORBAN (victim), PELAKU (child in conflict with the law, not "
                                    "counted as a victim) or SAKSI (witness).")
PLACE = _c("place", TEXT, "Place of the incident: RUMAH_TANGGA, TEMPAT_KERJA, SEKOLAH, FASILITAS_UMUM, "
                          "LEMBAGA_PENDIDIKAN_KILAT, LAINNYA (TIDAK_DIKETAHUI in marts where not recorded).")
PERP_RELATION = _c("perp_relation", TEXT, "Perpetrator's relation to the victim: ORANG_TUA, KELUARGA_SAUDARA, "
                                          "SUAMI_ISTRI, PACAR_TEMAN, TETANGGA, GURU, MAJIKAN, REKAN_KERJA, LAINNYA.")
SERVICES = _c("services", LIST, "Services given: PENGADUAN, KESEHATAN, BANTUAN_HUKUM, PENEGAKAN_HUKUM, "
                                "REHABILITASI_SOSIAL, REINTEGRASI_SOSIAL, PEMULANGAN, PENDAMPINGAN_TOKOH_AGAMA.")
CASE_STATUS = _c("case_status", TEXT, "PROSES, SELESAI or DIRUJUK.")

# The contract's columns as the file wrote them (raw text), in the order a register lists them.
SOURCE = (CASE_ID, VICTIM_SEQ, REPORT_DATE, INCIDENT_DATE, VICTIM_SEX, VICTIM_AGE, VICTIM_AGE_GROUP, VIOLENCE_FORMS,
          IS_KDRT, CHILD_ROLE, PLACE, PERP_RELATION, _c("kecamatan", TEXT, "Kecamatan, by name."),
          SERVICES, CASE_STATUS)
SOURCE_NAMES = tuple(c.name for c in SOURCE)


def _as_written(column: Column) -> Column:
    return Column(column.name, TEXT, f"{column.description} As the file wrote it, as text.")


# What each form means, for the dictionary (the forms themselves come from contract.yaml).
FORM_MEANINGS = {"FISIK": "physical violence", "PSIKIS": "psychological violence", "SEKSUAL": "sexual violence",
                 "EKSPLOITASI": "exploitation", "TRAFFICKING": "trafficking in persons, TPPO",
                 "PENELANTARAN": "neglect", "LAINNYA": "another form"}


def _form_flags() -> tuple[Column, ...]:
    labels = FORM_MEANINGS
    first = ("count(*) FILTER (WHERE {column}) over victims is the victims of that form (a BIGINT; "
             "sum({column}::INT) gives a HUGEINT); forms are never added up to give victims.")
    return tuple(Column(column, BOOL, f"True when violence_forms holds {code} ({labels.get(code, code.lower())})."
                        + (" " + first.format(column=column) if i == 0 else ""), False)
                 for i, (code, column) in enumerate(form_flag_columns().items()))


COUNTING = (
    _c("is_victim", BOOL, "Counting rule (data contract, section 2): true unless child_role is PELAKU (a child "
                          "recorded as perpetrator is not a victim). Every victim mart counts the rows WHERE "
                          "is_victim.", False),
    _c("counts_case", BOOL, "Counting rule: true on exactly one victim row per agency, report year and case (the "
                            "lowest victim_seq), false on every other row, so count(*) FILTER (WHERE counts_case) over the victims "
                            "of whole agency-years (an agency-year, a province, a year, all years) is the number of "
                            "distinct cases per agency and year, the `cases` of victims_by_region_year. A case with "
                            "victims reported in two years counts once in each. Not for groups that split a case's "
                            "victims (by sex, age or form): there count distinct case_key.", False),
    *_form_flags(),
)

# ---------------------------------------------------------------- raw

CASE_ROWS = Table(
    "raw.case_rows",
    "Register rows as the agency wrote them, as text: only the columns of the contract, plus lineage. "
    "Personal-data columns never enter; personal data typed into a kept column is masked.",
    (AGENCY, *(_as_written(c) for c in SOURCE),
     _c("_pii_masked", TEXT, "Kinds of personal data masked in this row's kept cells (nik, phone, email), one per "
                             "masked value."),
     _c("_victim_key", TEXT, "Keyed hash of the victim's NIK read from the dropped NIK column (the NIK itself is "
                             "never stored)."),
     _c("_cells_cut", TEXT, "Columns of this row whose text was longer than 32,767 characters (Excel's limit) and was "
                            "cut to it before it was read; each has a cell_text_cut warning."),
     *LINEAGE))

RECAP_LABEL = _c("label", TEXT, "The line's label as the file wrote it: a month, a year, a kecamatan, JUMLAH.")
RECAP_HEADER = _c("header", TEXT, "The count column's header as the file wrote it (of a table read turned: the "
                                  "label of the count's line).")
RECAP_DIMENSION = _c("dimension", TEXT, "What the count is broken down by: total, violence_form, victim_sex, age_class "
                                        "(ANAK / DEWASA) or kecamatan_code.", False)
RECAP_CATEGORY = _c("category", TEXT, "The category's code (L, P, ANAK, DEWASA, a form, a kecamatan code); null for "
                                      "the total.")
RECAP_MEASURE = _c("measure", TEXT, "victims, or cases when the column's header says 'kasus'.", False)
TOTAL_LINE = _c("total_line", BOOL, "True for a JUMLAH / TOTAL line: the sum of the lines above it.", False)

RECAP_CELLS = Table(
    "raw.recap_cells",
    "The count cells of recap sheets (tables of counts, data contract section 9) as the file wrote them, with the "
    "category their column's header names. Personal data typed into a cell is masked.",
    (AGENCY,
     _c("axis", TEXT, "What the table's lines are: period (months, years, quarters) or kecamatan.", False),
     _c("turned", BOOL, "True when the periods ran across the top and the table was read turned.", False),
     _c("label_header", TEXT, "The header of the column that labels the lines, as written (e.g. 'Bulan')."),
     RECAP_LABEL,
     _c("label_cell", TEXT, "Where the line's label is (B7)."),
     _c("label_group", TEXT, "The group label over the line's label (of a table read turned: the cell above a "
                             "month, such as its year)."),
     TOTAL_LINE, RECAP_HEADER,
     _c("header_group", TEXT, "The group label over the column's header in a two-row header (e.g. 'Jenis Kelamin')."),
     _c("dimension", TEXT, "What the column counts by: total, violence_form, victim_sex or age_class.", False),
     RECAP_CATEGORY, RECAP_MEASURE,
     _c("value", TEXT, "The cell as written, as text; empty when blank."),
     *RECAP_LINEAGE))

# ---------------------------------------------------------------- staging

CASE_VICTIMS = Table(
    "staging.case_victims",
    "Typed, canonical, validated rows: one row per victim per case. The rows every mart counts.",
    (AGENCY, CASE_ID.required(), VICTIM_SEQ.required(), REPORT_DATE.required(), INCIDENT_DATE, YEAR.required(),
     VICTIM_SEX, VICTIM_AGE, VICTIM_AGE_GROUP, IS_CHILD, VIOLENCE_FORMS.required(), IS_KDRT.required(), CHILD_ROLE,
     PLACE, PERP_RELATION, KECAMATAN_CODE, SERVICES.required(), CASE_STATUS,
     _c("case_key", TEXT, "Keyed hash (HMAC-SHA256) of agency and case id: links a case's victims without revealing "
                          "its register number."),
     _c("victim_key", TEXT, "Keyed hash (HMAC-SHA256 with the pipeline's secret) of the victim's NIK when the file "
                            "had one: links the same victim across files and cases without the NIK. Warehouse only, "
                            "never in the analytics copy."),
     *COUNTING, *LINEAGE))

REJECTED_ROWS = Table(
    "staging.rejected_rows",
    "Rows that broke a row rule of the contract, with every reason in Bahasa Indonesia and English.",
    (AGENCY, *ROW_REF, CASE_ID,
     _c("rules", LIST, "Rule ids the row broke (see pipeline/schemas/messages.yaml).", False),
     _c("reasons", TEXT, "Every reason, in Bahasa Indonesia: the column as the agency wrote it, the value, the rule.",
        False),
     _c("reasons_en", TEXT, "The same reasons in English.", False),
     _c("details", JSON, "JSON list: rule, column, header, value, message with a hint of a valid value."),
     _c("values", JSON, "JSON object: the row's values as written (personal data masked)."),
     _SHA, _LOAD_ID, _INGESTED_AT))

CELL_WARNINGS = Table(
    "staging.cell_warnings",
    "Cells whose label was not recognised in an optional column: set to empty, the row still loads.",
    (AGENCY, *ROW_REF,
     _c("column", TEXT, "Canonical column of the cell.", False),
     _c("header", TEXT, "The column's header as the agency wrote it."),
     _c("value", TEXT, "The cell's value as written (personal data masked)."),
     _c("code", TEXT, "Message code (pipeline/schemas/messages.yaml).", False),
     MESSAGE.required(), MESSAGE_EN.required(), _LOAD_ID,
     _c("_source_cell", TEXT, "The cell of a recap's warning (C7); null for a register row's.")))

SUPERSEDED_ROWS = Table(
    "staging.superseded_rows",
    "Rows replaced by the same case and victim in a file received later.",
    (AGENCY, CASE_ID.required(), VICTIM_SEQ.required(), _SOURCE_FILE, _SHA, _SHEET, _ROW, _LOAD_ID, _INGESTED_AT,
     _c("superseded_by", TEXT, "The file whose row replaced this one.", False)))

RECAP_COUNTS = Table(
    "staging.recap_counts",
    "Recap counts (data contract, section 9): one row per count cell of a recap sheet, typed, with its period, "
    "measure and category. A JUMLAH that differs from the sum of its parts is taken as that sum (warning "
    "recap_total_mismatch). The marts sum the cells that are `counted`.",
    (AGENCY,
     _c("period_start", DATE, "First day of the period the count is for (the line's month or year, or the sheet's "
                              "period for a table by kecamatan).", False),
     _c("period_end", DATE, "Last day of that period.", False),
     RECAP_MEASURE, RECAP_DIMENSION, RECAP_CATEGORY,
     _c("count", INT, "The count, a whole number ≥ 0 (a blank or '-' is 0); for a total that differs from the sum of "
                      "its parts, that sum.", False),
     _c("kecamatan_code", TEXT, "For a cell of a table by kecamatan and another category (sex, age class, form): the "
                                "line's kecamatan (LUAR_WILAYAH, or TIDAK_DIKETAHUI when the name is not one of the "
                                "region's); null otherwise."),
     TOTAL_LINE,
     _c("counted", BOOL, "True for the cells that add up, without overlap, to the recap's counts for the whole region: "
                         "the lines of a table by period (not its JUMLAH line); the JUMLAH line of a table by "
                         "kecamatan, else its kecamatan; and for each period, measure and category one recap, the "
                         "file received last. The marts sum these.", False),
     _c("superseded_by", TEXT, "The file of a recap received later that covers the same period, measure and category: "
                               "this cell is not counted. Null when it is in use."),
     RECAP_LABEL, RECAP_HEADER, *RECAP_LINEAGE))

REJECTED_RECAP_CELLS = Table(
    "staging.rejected_recap_cells",
    "Recap cells that broke a rule of the recap contract (a count that is not a whole number ≥ 0, a line whose "
    "period is not known), with every reason; the rest of the sheet still loads.",
    (AGENCY, _SOURCE_FILE, _SHEET, _ROW, SOURCE_CELL, RECAP_LABEL, RECAP_HEADER,
     _c("value", TEXT, "The cell as written (personal data masked)."),
     _c("rules", LIST, "Rule ids the cell broke (see pipeline/schemas/messages.yaml).", False),
     _c("reasons", TEXT, "Every reason, in Bahasa Indonesia.", False),
     _c("reasons_en", TEXT, "The same reasons in English.", False),
     _SHA, _LOAD_ID, _INGESTED_AT))

# ---------------------------------------------------------------- meta: the ledger and the agency slices

SHEETS = Table(
    "meta.sheets",
    "Every sheet of every file read: register or skipped, header row, how each column mapped.",
    (AGENCY, PATH, SHA256,
     _c("sheet", TEXT, "Sheet name (a NIK, phone number or e-mail in it masked).", False),
     _c("sheet_index", INT, "Position of the sheet in the workbook (0 first)."),
     _c("visible", BOOL, "False for hidden sheets."),
     _c("is_register", BOOL, "True when the sheet's header names a case id, a report date and the victim's sex or "
                             "age.", False),
     _c("is_recap", BOOL, "True when the sheet is a recap: a table of counts (data contract, section 9)."),
     _c("reason", TEXT, "Why a sheet was skipped (message code)."),
     _c("header_row", INT, "Excel row number of the (lower) header row."),
     _c("header_rows", INT, "1 or 2 (a two-row merged header)."),
     _c("columns", JSON, "JSON: canonical column → header as the agency wrote it."),
     UNKNOWN_HEADERS,
     _c("personal_headers", LIST, "Personal-data columns dropped (names only)."),
     _c("duplicate_headers", LIST, "Headers naming a column already taken (only the first is read)."),
     DATA_ROWS,
     _c("total_rows", INT, "JUMLAH/TOTAL rows skipped."),
     _c("blank_rows", INT, "Blank rows skipped."),
     _c("parser_version", TEXT, "Hash of the mapping and reading code that read the sheet; a change makes files be "
                                "read again."),
     _c("period_start", DATE, "First day of the period the sheet states (title, sheet name or file name)."),
     _c("period_end", DATE, "Last day of the period the sheet states, before capping at the export date."),
     COVERAGE_START, COVERAGE_END,
     _c("coverage_source", TEXT, "Where the period came from, the first that applies: title (the title block), "
                                 "sheet_name, file_name, rows (earliest to latest report month of its rows)."),
     _c("coverage_months", LIST, "Months covered, as YYYY-MM (a register sheet only)."),
     EXPORT_DATE,
     _c("export_date_source", TEXT, "title (stated in the title block) or file_time (the modification time)."),
     _c("rows_outside_period", INT, "Data rows dated outside the period the sheet states (warning "
                                    "coverage_mismatch)."),
     _c("nil_rows", INT, "Rows saying NIHIL, 'Tidak ada kasus' or '0 kasus': a nil report, not data."),
     _c("nil_report", BOOL, "True when the register sheet covers a period and holds no data row (laporan nihil): "
                            "its months are reported with zero victims."),
     _c("recap_axis", TEXT, "For a recap sheet: what its lines are, period or kecamatan."),
     _c("recap_turned", BOOL, "For a recap sheet: true when the periods ran across the top (read turned)."),
     _c("recap_cells", INT, "For a recap sheet: the count cells read (each staged or rejected)."),
     RUN_ID))

INGEST_LOG = Table(
    "meta.ingest_log",
    "The ledger: every file ever seen in an agency folder and what became of it.",
    (AGENCY, PATH, SHA256,
     _c("size_bytes", BIG, "File size in bytes."),
     _c("modified_at", TS, "File modification time (UTC, to the second)."),
     _c("first_seen", TS, "When the pipeline first saw this file's content in the folder, under any name "
                                "(UTC): when it was received.", False),
     _c("last_seen", TS, "When the pipeline last saw this path (UTC).", False),
     _c("status", TEXT, "loaded (≥1 row or recap cell staged), nil_report (every register sheet covers a period and "
                        "holds no case: a report of zero), superseded (every row replaced by a newer file), rejected "
                        "(unreadable, not a register or recap, another agency's file (reason wrong_agency), or nothing "
                        "staged), ignored (lock or hidden file), removed (no longer in the folder), erased (its "
                        "content was erased, ppa erase: not read again).", False),
     _c("reason_code", TEXT, "Why the file has its status (message code)."),
     MESSAGE, MESSAGE_EN,
     _c("error", TEXT, "Technical detail for files that could not be read (never a cell value)."),
     DATA_ROWS,
     _c("rows_staged", INT, "Rows loaded into staging."),
     _c("rows_rejected", INT, "Rows rejected by a row rule."),
     _c("rows_superseded", INT, "Rows replaced by a file received later."),
     _c("rows_warned", INT, "Rows with at least one cell warning."),
     _c("rows_erased", INT, "Rows of erased cases (meta.erasures) left out as the file was read; not in data_rows."),
     _c("superseded_by", LIST, "The file(s) received later whose rows replaced this one's (the message names "
                                      "the rule that decided)."),
     _c("supersedes", LIST, "The older file(s) whose rows this file replaced."),
     _c("sheets_read", LIST, "Register and recap sheets read."),
     _c("sheets_skipped", LIST, "Sheets skipped, with the reason."),
     UNKNOWN_HEADERS,
     _c("personal_columns_dropped", LIST, "Personal-data columns dropped as the file was read (names only)."),
     _c("cells_masked", INT, "Cells in kept columns that held personal data (NIK, phone, e-mail) and were masked."),
     _c("parsed", BOOL, "True when the file was parsed in this run; false when its rows were reused from an earlier "
                        "read of the same bytes, or its agency's slice was kept unchanged."),
     _c("archived_as", TEXT, "The file's copy in the archive (PPA_ARCHIVE_DIR), named by its hash."),
     COVERAGE_START, COVERAGE_END,
     _c("months_covered", INT, "Months its register sheets cover (see meta.sheets.coverage_months)."),
     EXPORT_DATE,
     RUN_ID,
     _c("recap_cells", INT, "Count cells of its recap sheets read: recap_cells = recap_cells_staged + "
                            "recap_cells_rejected (row accounting for recaps)."),
     _c("recap_cells_staged", INT, "Recap cells loaded into staging.recap_counts (counted or superseded)."),
     _c("recap_cells_rejected", INT, "Recap cells rejected (staging.rejected_recap_cells)."),
     _c("recap_cells_superseded", INT, "Recap cells staged but not counted: a recap received later covers the same "
                                       "period.")))

AGENCY_LOADS = Table(
    "meta.agency_loads",
    "One row per agency: what its slice was made from (load_key) and when a run last loaded or kept it. A run "
    "keeps a reusable slice whose load_key is unchanged instead of reading the files again.",
    (AGENCY,
     _c("load_key", TEXT, "Hash of everything an agency's slice is made from: each file's name, size, time and "
                          "content hash, the registry entry, the reading limits, the code and mappings, and the "
                          "hashing secret (through a keyed hash).", False),
     _c("reusable", BOOL, "Whether a later run may keep the slice when the load_key is unchanged: false when a file "
                          "was caught while being copied.", False),
     _c("valid_from", DATE, "The day of the run (in the agency's time zone) that made the slice: a report date "
                            "after it was rejected as in the future.", False),
     _c("valid_until", DATE, "The last day of a run that gives the same slice: the day before the earliest report "
                             "date that was in the future; empty when there is none."),
     _c("loaded_run_id", TEXT, "The run that last read the agency's files and wrote its slice.", False),
     _c("loaded_at", TS, "When that run started (UTC).", False),
     _c("checked_run_id", TEXT, "The last run that compared the agency's files with the slice (it loaded them, or "
                                "found them unchanged and kept the slice).", False),
     _c("checked_at", TS, "When that run started (UTC).", False)))

# ---------------------------------------------------------------- meta: the registry, rebuilt with the marts

DQ_REVIEWS = Table(
    "meta.dq_reviews", "An analyst's review of a data-quality flag (ppa dq review). Never rebuilt by a run: a "
                       "review survives every later run and is shown beside its flag.",
    (_c("flag_id", TEXT, "The flag reviewed (marts.dq_flags.flag_id).", False),
     _c("status", TEXT, "open, explained (with a note saying why the value is right) or confirmed (a real "
                        "problem in the data).", False),
     _c("note", TEXT, "Why: the analyst's explanation."),
     _c("reviewed_by", TEXT, "Who reviewed it (the operating-system user)."),
     _c("reviewed_at", TS, "When (UTC).", False)))

ERASURES = Table(
    "meta.erasures", "Every erasure (ppa erase, UU 27/2022 PDP): what was removed, when and by whom. Never rebuilt "
                     "by a run; a run leaves out every file and case named here. It holds no personal value: a "
                     "file by its content hash, a case by its keyed hash, never a name, a path or a case id.",
    (_c("erasure_id", TEXT, "Id of the erasure.", False),
     _c("kind", TEXT, "file (one file's content, wherever it was dropped) or case (one case of an agency).", False),
     _c("agency", TEXT, "Agency code (for a file: the agencies whose folders held it, comma-separated)."),
     _c("sha256", TEXT, "For a file: the SHA-256 of its bytes. Later runs leave the same bytes out (status "
                        "erased)."),
     _c("case_key", TEXT, "For a case: the keyed hash of agency and case id (staging.case_victims.case_key). Later "
                          "runs leave its rows out of every file (rows_erased in the ledger)."),
     _c("rows_removed", INT, "Warehouse rows removed (raw, staged, rejected, superseded, warnings).", False),
     _c("archive_files_removed", INT, "Archived copies removed.", False),
     _c("feedback_files_removed", INT, "Feedback workbooks and receipts removed (the next run writes them again "
                                       "without what was erased).", False),
     _c("erased_by", TEXT, "Who erased it (the operating-system user)."),
     _c("erased_at", TS, "When (UTC).", False)))

AGENCIES = Table(
    "meta.agencies", "The agency registry (pipeline/schemas/agencies.yaml).",
    (AGENCY, _c("name", TEXT, "Agency name."), REGION_NAME, KABKOTA_CODE,
     _c("bps_code", TEXT, "BPS region code (e.g. 6408)."), _c("timezone", TEXT, "The agency's time zone."),
     _c("report_due_day", INT, "A month's report is due on this day of the following month (agency's time zone).")))

POPULATIONS = Table(
    "meta.population", "Population denominators per agency and year, interpolated where BPS has no figure.",
    (AGENCY, YEAR, POPULATION, POPULATION_ESTIMATED,
     _c("children", BIG, "Children aged 0-17 (civil registry)."),
     _c("children_estimated", BOOL, "True when the child population of that year is carried from the nearest year.")))

KECAMATAN = Table(
    "meta.kecamatan", "Kecamatan codes and official names per agency, from the registry.",
    (AGENCY, KECAMATAN_CODE, KECAMATAN_NAME))

RELEASE_DISCLOSURE = Table(
    "meta.release_disclosure",
    "What protecting the researchers' rows took (data contract, section 12; pipeline/publish/anonymity.py): "
    "per agency, quasi-identifier and level, the rows of analytics.duckdb's staging.case_victims published at "
    "that level. Every published combination of quasi-identifiers (agency, report period, age, sex, kecamatan, "
    "perpetrator relation, place) is shared by at least k rows holding at least l distinct forms of violence. "
    "The exact age is never published. Rebuilt with every analytics copy.",
    (AGENCY,
     _c("quasi_identifier", TEXT, "agency, report_period, victim_age, victim_sex, kecamatan_code, perp_relation or "
                                  "place.", False),
     _c("level", TEXT, "How detailed the published value is. report_period: month, quarter or year; victim_age: "
                       "age_group, child_or_adult (is_child only) or blank; the others: value or blank. A value "
                       "unknown in the source counts at the first level that is blank or coarse enough.", False),
     _c("rows", BIG, "Published rows of the agency with this quasi-identifier at this level.", False),
     _c("cells_changed", BIG, "Of those, the cells the protection generalised or blanked to this level (the rest "
                              "were already this coarse in the source).", False),
     _c("rows_in", BIG, "The agency's rows before protection (the same on every line of the agency).", False),
     _c("rows_dropped", BIG, "The agency's rows dropped because no generalisation or blanking protected them (the "
                             "same on every line of the agency).", False),
     _c("k", INT, "Smallest number of rows sharing a published combination (PPA_SUPPRESSION_K).", False),
     _c("l_diversity", INT, "Smallest number of distinct forms of violence (as a set) in such a group.", False),
     _c("source_digest", TEXT, "A keyed hash of the agency's staged rows, k, l and the protecting code that its "
                               "lines and published rows were made from: the next analytics copy takes them as they "
                               "are while it is the same (the same on every line of the agency).")))

PUBLIC_PROTECTION = Table(
    "meta.public_protection",
    "What the public tables' suppression decided, per agency (pipeline/publish/public.py): the cells it "
    "suppressed and a hash of what it read. The next run takes the decision as it is for an agency whose marts, "
    "approvals, k and protecting code are the same and whose published rows passed the suppression audit, instead "
    "of protecting and auditing them again. Rebuilt with the public tables; empty when the latest release made "
    "their protection suppress more than the tables alone need (suppression across releases decides then).",
    (AGENCY,
     _c("input_digest", TEXT, "A hash of the agency's published mart rows (in order), its approvals, k and the "
                              "protecting code.", False),
     _c("hidden_cells", JSON, "The suppressed cells (counts named by measure, agency, year and category; published "
                              "or not), as a JSON list. No count.", False),
     _c("audited", BOOL, "Whether the suppression audit of the public tables found nothing to recover in the agency's "
                         "rows after this decision.", False)))

# ---------------------------------------------------------------- meta: changes, approvals, releases

PERIOD_MONTH = _c("month", INT, "Month (1-12) of an approval of one month; null for a whole year.")
FIGURE_MEASURE = _c("measure", TEXT, "victims, cases, or victims_form (victims with one form of violence, in "
                                     "category).", False)
FIGURE_CATEGORY = _c("category", TEXT, "The form of violence for victims_form; empty for victims and cases.", False)

MART_FIGURES = Table(
    "meta.mart_figures",
    "The headline figures of the last mart build, per agency and year (victims, cases, victims by form): what "
    "the next build's change report compares with (pipeline/marts/changes.py). Replaced at every build.",
    (AGENCY, YEAR, FIGURE_MEASURE, FIGURE_CATEGORY,
     _c("value", BIG, "The figure."),
     RUN_ID))

FILE_STATES = Table(
    "meta.file_states",
    "The ledger as it stood at the last mart build (path, content hash, status, period covered): what the next "
    "change report compares with to name the files that caused a change. Replaced at every build.",
    (AGENCY, PATH, SHA256,
     _c("status", TEXT, "The file's ledger status then.", False),
     COVERAGE_START, COVERAGE_END, RUN_ID))

CHANGE_REPORTS = Table(
    "meta.change_reports",
    "What changed in the marts at each build since the build before it: one row per agency, year and figure "
    "that changed, with the files that caused it (ppa changes; the agency's feedback index). Kept: a run only "
    "adds rows.",
    (RUN_ID,
     _c("built_at", TS, "When the marts were built (UTC).", False),
     AGENCY, YEAR, FIGURE_MEASURE, FIGURE_CATEGORY,
     _c("value_before", BIG, "The figure at the build before (null: the year had no figure)."),
     _c("value_after", BIG, "The figure now (null: the year has no figure any more)."),
     _c("files", LIST, "The files that caused it, each as 'path (what happened)': new, corrected (same name, "
                       "other content), removed, superseded, erased."),
     MESSAGE, MESSAGE_EN))

APPROVALS = Table(
    "meta.approvals",
    "Sign-offs of a period by the head of an agency (ppa approve): who approved which agency and year (or "
    "month), when, and on which exact figures (their content hash and the rows themselves, so that releases "
    "publish them unchanged). Kept: a new approval of the same period is a new row; the latest counts.",
    (_c("approval_id", TEXT, "Id of the approval (agency:year[-month]@time).", False),
     AGENCY, YEAR.required(), PERIOD_MONTH,
     _c("approved_by", TEXT, "Who approved (the name given with --by).", False),
     _c("approved_at", TS, "When (UTC).", False),
     _c("content_sha256", TEXT, "SHA-256 of the period's rows in every published mart, as approved.", False),
     _c("figures", JSON, "The approved rows: {mart: [row, ...]} for the period.", False),
     _c("run_id", TEXT, "The mart build approved.")))

RELEASES = Table(
    "meta.releases",
    "Every release written by ppa release: its version, folder, the manifest's hash and the release before it. "
    "A release folder is never changed after it is written.",
    (_c("version", TEXT, "Dated version, e.g. 2026.12.05 (2026.12.05-2 for a second release that day).", False),
     _c("released_at", TS, "When (UTC).", False),
     _c("released_by", TEXT, "Who wrote it (the operating-system user)."),
     _c("previous", TEXT, "The release before it (null for the first)."),
     _c("run_id", TEXT, "The last mart build it was made from."),
     _c("manifest_sha256", TEXT, "SHA-256 of its SHA256SUMS file.", False),
     _c("suppression_k", INT, "The suppression threshold it was protected with.", False)))

RELEASE_CELLS = Table(
    "meta.release_cells",
    "The counts behind each release's public tables, before suppression (never published): the next release's "
    "suppression compares with them to find counts that stayed the same, so that no count suppressed in one "
    "release can be worked out with the other (pipeline/publish/suppression/across.py).",
    (_c("version", TEXT, "The release.", False),
     _c("cell", TEXT, "The count, as the suppression engine names it (JSON).", False),
     _c("value", BIG, "Its value.")))

# ---------------------------------------------------------------- marts (built by marts/sql.py)


def _mart(name: str, description: str, *columns: Column) -> Table:
    return Table(f"marts.{name}", description, columns, stored=False)


_A = AGENCY  # (a mart's columns carry no NOT NULL: built with CREATE TABLE AS, checked by type)


def _breakdown(name: str, label: str, category: Column, several: bool = False) -> Table:
    return _mart(name, f"Victims per agency, year and {label}" + (" (a victim can count under several)"
                                                                   if several else "") + ".",
                 _A, YEAR, category, VICTIMS, SHARE_PCT)


MARTS = (
    _mart("reporting_completeness", "Per registered agency and month, from January of the first year with data to "
                                    "the month of the run: whether the month was reported (with cases, or as zero), "
                                    "is missing, or is not due yet, when it was first reported and whether on time. "
                                    "A month without rows is a zero only when a file covers it.",
          _A, YEAR, MONTH, _c("month_start", DATE, "First day of the month."), HAS_DATA, VICTIMS,
          _c("rows_staged", INT, "Rows staged with a report date in that month (victims and child perpetrators)."),
          _c("file_count", INT, "Number of files that gave rows for that month."),
          _c("source_files", LIST, "Files that gave rows for that month (warehouse only; not in the analytics "
                                   "copy)."),
          COVERAGE_STATUS,
          _c("due_date", DATE, "The day the month's report is due: report_due_day (registry, default 10) of the "
                               "following month, in the agency's time zone."),
          _c("first_reported_at", TS, "When the pipeline first saw a current file covering the month (UTC)."),
          _c("on_time", BOOL, "Whether the month was first reported by its due date (in the agency's time zone); "
                              "null when missing or not due."),
          _c("source", TEXT, "Where the month's victims come from: cases (staged rows), recap (a year with no case "
                             "row that a recap covers: null victims where the recap's period is longer than the "
                             "month), or null for a month without either.")),
    _mart("victims_by_region_year", "Victims and cases per agency and report year, with rates per 100,000 people "
                                    "and per 100,000 children.",
          _A, KABKOTA_CODE, REGION_NAME, YEAR, CASES, VICTIMS,
          _c("victims_female", INT, "Female victims."), _c("victims_male", INT, "Male victims."),
          _c("child_victims", INT, "Victims under 18."),
          _c("adult_female_victims", INT, "Female victims aged 18 or more."),
          POPULATION, POPULATION_ESTIMATED,
          _c("victims_per_100k", DBL, "Victims per 100,000 population."),
          _c("child_population", BIG, "Children aged 0-17 (civil registry)."),
          _c("child_population_estimated", BOOL, "True when the child population of that year is carried from the "
                                                 "nearest year."),
          _c("child_victims_per_100k_children", DBL, "Child victims per 100,000 children aged 0-17."),
          HAS_DATA, CI_LOW, CI_HIGH,
          _c("victims_per_100k_ci_low", DBL, "Lower bound of the 95% interval of victims_per_100k."),
          _c("victims_per_100k_ci_high", DBL, "Upper bound of the 95% interval of victims_per_100k."),
          UNSTABLE, DATA_SOURCE),
    _mart("yoy_by_region", "Year-on-year change in victims and cases per agency; change_pct is null when the "
                           "previous year has no data or zero. `incomplete` marks a year with a missing month; a year "
                           "in progress is compared over the same months of the year before "
                           "(change_pct_same_months). change_significant says whether the change is more than "
                           "chance (exact conditional test at 5%).",
          _A, YEAR, VICTIMS,
          _c("victims_prev_year", INT, "Victims in the previous year."),
          _c("change_abs", INT, "victims − victims_prev_year."),
          _c("change_pct", DBL, "Change in per cent of the previous year; null when the previous year has no data "
                                "or zero."),
          CASES,
          _c("cases_prev_year", INT, "Cases in the previous year."),
          _c("cases_change_abs", INT, "cases − cases_prev_year."),
          _c("cases_change_pct", DBL, "Change in cases in per cent; null when the previous year has no data or "
                                      "zero."),
          _c("months_reported", INT, "Months of that year reported, with cases or as zero (coverage_status "
                                     "reported or reported_zero)."),
          _c("months_expected", INT, "Months of that year that are due (12 for past years)."),
          _c("in_progress", BOOL, "True while the year is not over (in the agency's time zone)."),
          _c("incomplete", BOOL, "True when the year has a missing month: a change to or from it is not like for "
                                 "like, and is not tested."),
          CI_LOW, CI_HIGH, UNSTABLE,
          _c("victims_same_months", INT, "Victims of the months reported in both this year and the year before (all "
                                         "twelve for two complete years)."),
          _c("victims_same_months_prev_year", INT, "Victims of the same months of the year before."),
          _c("change_pct_same_months", DBL, "Change over the same months in per cent: the like-for-like change of a "
                                            "year in progress."),
          _c("change_p_value", DBL, "Two-sided p-value of the exact conditional test of two Poisson rates "
                                    "(victims over the same months, populations as exposures); null when either "
                                    "year is incomplete or has no data."),
          _c("change_significant", BOOL, "True when change_p_value < 0.05: the change is more than chance. False: "
                                         "it may be chance (belum bermakna secara statistik). Null: not tested.")),
    _mart("victims_by_form", "Victims per form of violence, agency and year; a victim with two forms counts under "
                             "each, so shares add up to more than 100.",
          _A, YEAR, _c("violence_form", TEXT, "One form of violence (a victim with two forms counts under each)."),
          VICTIMS, SHARE_PCT, DATA_SOURCE),
    _mart("victims_by_age_sex", "Victims per agency, year, age group and sex (TIDAK_DIKETAHUI where not recorded).",
          _A, YEAR, VICTIM_AGE_GROUP, VICTIM_SEX,
          _c("age_class", TEXT, "ANAK (under 18), DEWASA (18+), TIDAK_DIKETAHUI."), VICTIMS),
    _breakdown("victims_by_place", "place of the incident", PLACE),
    _breakdown("victims_by_relation", "perpetrator's relation to the victim", PERP_RELATION),
    _breakdown("victims_by_kdrt", "domestic-violence context (KDRT)", IS_KDRT.typed(TEXT)),
    _breakdown("victims_by_service", "service given",
               _c("service", TEXT, "One service given (a victim can count under several)."), several=True),
    _breakdown("victims_by_case_status", "case status", CASE_STATUS),
    _mart("victims_by_kecamatan", "Victims per agency, year and kecamatan (codes joined to names; LUAR_WILAYAH for "
                                  "victims from outside the region, TIDAK_DIKETAHUI where not recorded).",
          _A, YEAR, KECAMATAN_CODE, KECAMATAN_NAME, VICTIMS),
    _mart("victims_by_month", "Victims per agency, year and month of the report date (seasonality); months without "
                              "data are 0 here and has_data = false in reporting_completeness.",
          _A, YEAR, MONTH, VICTIMS),
    _mart("child_perpetrators_by_region_year", "Records of children in conflict with the law as perpetrators (ABH, "
                                               "child_role = PELAKU) per agency and year. They are not victims and "
                                               "are not counted in any victim mart.",
          _A, YEAR, _c("child_perpetrator_records", INT, "Records of children in conflict with the law as "
                                                         "perpetrators (ABH).")),
    _mart("recap_reconciliation", "Where an agency-year has both staged case rows and a recap (data contract, section "
                                  "9): the recap's count, the staged count and their difference per measure, with "
                                  "the rows that explain it.",
          _A, YEAR, _c("measure", TEXT, "victims or cases."),
          _c("recap_count", INT, "What the recap counts for the year (its counted cells: the months, or the JUMLAH "
                                 "line of a table by kecamatan)."),
          _c("staged_count", INT, "What the staged case rows give: victims, or distinct cases (as "
                                  "victims_by_region_year)."),
          _c("difference", INT, "recap_count − staged_count."),
          _c("rows_rejected", INT, "Rejected register rows of that year: on sheets whose stated period lies in it, "
                                   "or dated in it. A recap made from the register counts them; staging does not."),
          _c("rows_superseded", INT, "Register rows replaced by the same victim in a file received later, whose "
                                     "kept row is dated in that year."),
          _c("rows_other_year", INT, "Staged victims on register sheets of that year dated in another year, minus "
                                     "victims dated in that year on sheets of another year: what moves between "
                                     "years when a recap counts by sheet and staging by report date."),
          _c("source_files", LIST, "The recap files the count comes from (warehouse only; not in the analytics "
                                   "copy).")),
    _mart("dq_flags", "Data-quality review in the style of the WHO Data Quality Review: outlier months, years that "
                      "jump against the three before, internal consistency, completeness and timeliness. Flags, "
                      "never rejects; an analyst's review (meta.dq_reviews) is kept across runs.",
          _c("flag_id", TEXT, "Stable id: agency, period and check (e.g. kutim:2024-10:outlier_monthly_victims)."),
          _A, YEAR, _c("month", INT, "Month (1-12) for monthly checks; null for a year."),
          _c("check", TEXT, "outlier_monthly_victims, consistency_over_time, cases_over_victims, "
                            "sex_over_victims, forms_under_victims, completeness, timeliness."),
          _c("value", DBL, "The value checked."), _c("expected", DBL, "What it was checked against."),
          SEVERITY, MESSAGE, MESSAGE_EN,
          _c("status", TEXT, "open, explained or confirmed (meta.dq_reviews; open when nobody reviewed it)."),
          _c("note", TEXT, "The analyst's note from the review.")),
)

# ---------------------------------------------------------------- the catalogue

# The tables that hold one agency's slice, rewritten together in one transaction.
AGENCY_SLICE = (CASE_ROWS, CASE_VICTIMS, REJECTED_ROWS, CELL_WARNINGS, SUPERSEDED_ROWS, SHEETS, INGEST_LOG,
                AGENCY_LOADS, RECAP_CELLS, RECAP_COUNTS, REJECTED_RECAP_CELLS)
REGISTRY = (AGENCIES, POPULATIONS, KECAMATAN)
KEPT = (DQ_REVIEWS, ERASURES)  # tables a run never rebuilds: what people decided
# The record of changes, sign-offs and releases (runs add to them; the snapshots are replaced).
RECORDS = (MART_FIGURES, FILE_STATES, CHANGE_REPORTS, APPROVALS, RELEASES, RELEASE_CELLS)
TABLES: dict[str, Table] = {t.name: t for t in (*AGENCY_SLICE, *REGISTRY, *MARTS, *KEPT, *RECORDS,
                                                 RELEASE_DISCLOSURE, PUBLIC_PROTECTION)}
SCHEMAS = ("raw", "staging", "marts", "meta", "public")


def mart(name: str) -> Table:
    return TABLES[f"marts.{name}"]


# Columns that only tables derived from the declared ones hold (the analytics copy).
DERIVED_COLUMNS = (
    _c("report_month", INT, "Month (1-12) of the report date; in the researchers' rows null where the period is "
                            "published as a quarter or a year only (meta.release_disclosure)."),
    _c("report_quarter", INT, "Quarter (1-4) of the report date; null where the period is published as a year only "
                              "(meta.release_disclosure)."),
    _c("approval_status", TEXT, "In the public tables: approved (the figures the head of the agency approved, ppa "
                                "approve), revision_pending (the approved figures, published while newer ones await "
                                "approval; the year-on-year comparison across that year is withheld) or provisional "
                                "(sementara: not approved)."),
    _c("approval_id", TEXT, "In the public tables: the approval the row's period is published under "
                            "(meta.approvals); empty when provisional."),
    _c("release", TEXT, "In the public tables: the release the row belongs to (ppa release); empty in the tables "
                        "refreshed by every run between releases."),
)


def glossary() -> dict[str, str]:
    """Column name -> its meaning, for tables derived from the declared ones (public tables, the
    analytics copy): the first declaration of a name wins."""
    out: dict[str, str] = {c.name: c.description for c in DERIVED_COLUMNS}
    for table in sorted(TABLES.values(), key=lambda t: t.schema == "raw"):  # raw text columns last
        for column in table.columns:
            out.setdefault(column.name, column.description)
    return out
