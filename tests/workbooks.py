"""Small generated workbooks for tests (never the real data/ folder)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl

HEADER = ["No Reg", "Tanggal Pengaduan", "Tanggal Kejadian", "Nama Korban", "NIK", "Jenis Kelamin", "Usia",
          "Jenis Kekerasan", "Tempat Kejadian", "Hubungan Pelaku", "Kecamatan", "Layanan", "Status"]


def row(case_id="001/PPA/2024", report=dt.date(2024, 3, 5), incident=dt.date(2024, 3, 1), name="Siti Contoh",
        nik="6402011234560001", sex="P", age="12 th", forms="Seksual", place="Rumah Tangga", relation="Ayah Tiri",
        kecamatan="Tenggarong", services="Pengaduan, Kesehatan", status="Proses"):
    return [case_id, report, incident, name, nik, sex, age, forms, place, relation, kecamatan, services, status]


def agency_row(agency: str, **values) -> list:
    """row() with a kecamatan of `agency` (the registry's first): five or more rows of another
    agency's kecamatan in a folder are that agency's file (wrong_agency, data contract section 10)."""
    from pipeline.registry import get_agency

    names = next(iter(get_agency(agency).kecamatan.values()), [None])
    return row(**{"kecamatan": names[0], **values})


def write_workbook(path: Path, sheets: dict[str, list[list]], hidden: tuple[str, ...] = (),
                   merges: dict[str, list[str]] | None = None) -> Path:
    """Write sheets of rows (lists of cell values) to an .xlsx file."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        if name in hidden:
            ws.sheet_state = "hidden"
        for rng in (merges or {}).get(name, []):
            ws.merge_cells(rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def register(path: Path, rows: list[list], title: bool = True, header: list[str] = HEADER) -> Path:
    """A one-sheet register with a title block above the header."""
    top = [["REGISTER KASUS KEKERASAN TERHADAP PEREMPUAN DAN ANAK TAHUN 2024"], ["DP3A CONTOH"], []] if title else []
    return write_workbook(path, {"Register": [*top, header, *rows]})


def write_xls(path: Path, sheets: dict[str, list[list]]) -> Path:
    """An old .xls workbook (xlwt); dates are written as Excel dates."""
    import xlwt

    wb = xlwt.Workbook()
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for name, rows in sheets.items():
        ws = wb.add_sheet(name)
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                if isinstance(value, dt.date):
                    ws.write(r, c, dt.datetime.combine(value, dt.time()), date_style)
                elif value is not None:
                    ws.write(r, c, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(str(path))
    return path


def write_ods(path: Path, sheets: dict[str, list[list]]) -> Path:
    """An OpenDocument spreadsheet (odfpy through pandas)."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="odf") as writer:
        for name, rows in sheets.items():
            width = max(len(r) for r in rows)
            pd.DataFrame([list(r) + [None] * (width - len(r)) for r in rows]).to_excel(writer, sheet_name=name, header=False, index=False)
    return path
