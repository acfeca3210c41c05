"""The five agency layouts: how each agency arranges its register in files and sheets.

Long on purpose (one thing: the agencies' layouts): five small classes, one per agency, that
read best side by side; what they share lives in layout.py and writers.py.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

from pipeline.sample.cases import _Case
from pipeline.sample.layout import _id_date_long, _Layout, _local
from pipeline.sample.people import UNKNOWN_KECAMATAN
from pipeline.sample.truth import MONTHS_ABBR, MONTHS_ID, RECAP_ONLY, ROMAN, WEEKDAYS_ID, Victim
from pipeline.sample.writers import _Build, _excel_lock, _fake_encrypted_xlsx, _Sheet


class KukarLayout(_Layout):
    """One workbook with a sheet per year, title rows and a two-row merged header."""
    name = "kukar"
    columns = [
        ("No", None, "no"), ("No Reg", None, "case_id"), ("Korban Ke", None, "seq"),
        ("Tanggal", "Tanggal Pengaduan", "report_date"), ("Tanggal", "Tanggal Kejadian", "incident_date"),
        ("Identitas Korban", "Nama Korban", "name"), ("Identitas Korban", "NIK", "nik"),
        ("Identitas Korban", "Jenis Kelamin", "sex"), ("Identitas Korban", "Usia", "age"),
        ("Identitas Korban", "Kelompok Umur", "age_group"), ("Identitas Korban", "Pendidikan", "education"),
        ("Identitas Korban", "Alamat", "address"), ("Identitas Korban", "Kecamatan", "kecamatan"),
        ("Jenis Kekerasan", None, "forms"), ("KDRT", None, "kdrt"), ("Tempat Kejadian", None, "place"),
        ("Identitas Pelaku", "Nama Pelaku", "perp_name"),
        ("Identitas Pelaku", "Hubungan dengan Korban", "relation"),
        ("Layanan", None, "services"), ("Status", None, "status"), ("Kronologi", None, "kronologi"),
    ]
    group_labels = {"0-5": ("< 6 Tahun", "0-5 Tahun"), "6-12": ("6-12 Tahun",), "13-17": ("13-17 Tahun",),
                    "18-24": ("18-24 Tahun",), "25-44": ("25-44 Tahun",), "45-59": ("45-59 Tahun",),
                    "60+": ("60 Tahun ke atas",)}
    empty_labels = (None, None, "-")
    patterns = ("register_kasus_*.xlsx", "rekap_grafik_*.xlsx")

    def case_id(self, year, n, month):
        return f"{n:03d}/UPT-PPA/{ROMAN[month - 1]}/{year}"

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        per_sheet: dict[int, list[_Case]] = {y: [] for y in years}
        for y in years:
            for c in years_cases[y]:
                per_sheet[y + 1 if c.late and y + 1 in per_sheet else y].append(c)
        title = f"UPT PPA {self.g.p.name.upper()}"
        ncol = len(self.columns)
        sheets = []
        for y in years:
            sh = _Sheet(str(y))
            sh.add([f"REGISTER KASUS KEKERASAN TERHADAP PEREMPUAN DAN ANAK TAHUN {y}"], bold=True)
            sh.add([title], bold=True)
            sh.add([self.printed(days_after=1)] if self.is_current(y) else [])
            sh.merges += [(1, 1, 1, ncol), (2, 1, 2, ncol)]
            upper, lower = [], []
            for i, (up, low, _) in enumerate(self.columns, 1):
                prev = self.columns[i - 2][0] if i > 1 else None
                upper.append(up if up != prev or low is None else None)
                lower.append(low)
                if low is None:
                    sh.merges.append((4, i, 5, i))
            sh.add(upper, bold=True)
            sh.add(lower, bold=True)
            # horizontal merges over groups
            i = 0
            while i < ncol:
                up, low, _ = self.columns[i]
                j = i
                while low is not None and j + 1 < ncol and self.columns[j + 1][0] == up:
                    j += 1
                if j > i:
                    sh.merges.append((4, i + 1, 4, j + 1))
                i = j + 1
            rows = self.rows_of(per_sheet[y])
            for no, v in enumerate(rows, 1):
                sh.add(self.data_row(v, no, {}), victim=v)
            sh.add([])
            r = sh.add(["JUMLAH", None, None, None, None, f"{len(rows)} korban"], bold=True)
            sh.merges.append((r, 1, r, 5))
            sh.widths = {2: 24, 4: 14, 5: 14, 6: 24, 7: 20, 12: 34, 14: 24, 21: 60}
            sheets.append(sh)
        notes = _Sheet("Keterangan")
        for line in ("KETERANGAN PENGISIAN REGISTER",
                     "No Reg: nomor urut/UPT-PPA/bulan (romawi)/tahun",
                     "Jenis kekerasan: Fisik, Psikis, Seksual, Eksploitasi, Trafficking, Penelantaran, Lainnya",
                     "KDRT diisi Ya/Tidak",
                     "Data bersifat rahasia, tidak untuk dipublikasikan (UU 35/2014, UU 27/2022)"):
            notes.add([line])
        lists = _Sheet("Daftar Pilihan")
        lists.hidden = True
        lists.add(["Jenis Kekerasan", "Tempat Kejadian", "Kecamatan", "Status"], bold=True)
        cols = [[v[0] for v in self.form_labels.values()], [v[0] for v in self.place_labels.values()],
                [names[0] for _, names in self.g.p.kecamatan], ["Proses", "Selesai", "Dirujuk"]]
        for i in range(max(len(c) for c in cols)):
            lists.add([c[i] if i < len(c) else None for c in cols])
        code = self.g.p.code
        builds = [_Build(f"{code}/register_kasus_{code}_{years[0]}-{years[-1]}.xlsx", "register",
                         self.export_time(years[-1], rng, days_after=-1), sheets=sheets + [notes, lists])]
        if len(years) >= 2:
            builds.append(self._rekap(years[-2], years_cases[years[-2]], rng))
        return builds

    def _rekap(self, year: int, cases: list[_Case], rng: random.Random) -> _Build:
        """A recap by kecamatan with a chart (contract section 9): the year's victims in the region's
        kecamatan (not those from outside it or with no kecamatan), beside the register."""
        counts: dict[str, list[int]] = {names[0]: [0, 0] for _, names in self.g.p.kecamatan}
        for v in self.rows_of(cases):
            if not v.reasons and v.child_role != "PELAKU" and v.kecamatan in dict(self.g.p.kecamatan):
                counts[dict(self.g.p.kecamatan)[v.kecamatan][0]][0 if v.sex == "L" else 1] += 1
        sh = _Sheet("Rekap")
        sh.add([f"JUMLAH KORBAN KEKERASAN TERHADAP PEREMPUAN DAN ANAK BERDASARAKAN KECAMATAN TAHUN {year}"],
               bold=True)
        sh.add([])
        sh.add(["No", "Kecamatan", "L", "P", "Jumlah"], bold=True)
        first = len(sh.rows) + 1
        for i, (name, (m, f)) in enumerate(counts.items(), 1):
            sh.add([i, name, m, f, m + f])
        last = len(sh.rows)
        sh.add(["JUMLAH", None, sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values()),
                sum(sum(c) for c in counts.values())], bold=True)
        chart = _Sheet("Grafik")
        chart.add([f"Grafik korban per kecamatan {year}"])
        chart.chart = ("Rekap", first, last)
        total = sum(sum(c) for c in counts.values())
        return _Build(f"{self.g.p.code}/rekap_grafik_{year}.xlsx", "recap",
                      self.export_time(year, rng, days_after=3), sheets=[sh, chart],
                      recap={"year": year, "victims": total, "months": {m: total for m in range(1, 13)}})


class KutimLayout(_Layout):
    """A file per year (old years as .xls), Indonesian text dates, victims and child perpetrators."""
    name = "kutim"
    columns = [
        ("No", None, "no"), ("No. Registrasi", None, "case_id"), ("Tgl Lapor", None, "report_date"),
        ("Tgl Kejadian", None, "incident_date"), ("Nama Lengkap", None, "name"), ("NIK", None, "nik"),
        ("L/P", None, "sex"), ("Umur", None, "age"), ("Alamat", None, "address"),
        ("Kecamatan", None, "kecamatan"), ("Jenis Kasus", None, "forms"), ("Status Anak", None, "child_role"),
        ("Hubungan Pelaku", None, "relation"), ("Lokasi Kejadian", None, "place"),
        ("Tindak Lanjut", None, "services"), ("No. HP", None, "phone"), ("Keterangan", None, "note"),
    ]
    sex_labels = {"L": ("L", "L", "L", "Laki-laki"), "P": ("P", "P", "P", "Perempuan")}
    form_labels = {
        "SEKSUAL": ("pelecehan seksual", "persetubuhan", "pencabulan", "kekerasan seksual",
                    "pelecehan seksual, persetubuhan", "pemerkosaan"),
        "FISIK": ("kekerasan fisik", "fisik"), "PSIKIS": ("psikis", "kekerasan psikis"),
        "PENELANTARAN": ("penelantaran",), "EKSPLOITASI": ("eksploitasi ekonomi",),
        "TRAFFICKING": ("TPPO",), "LAINNYA": ("bullying", "perundungan"),
    }
    kdrt_in_forms = 1.0
    place_labels = {"RUMAH_TANGGA": ("Rumah", "Rumah Tangga"), "TEMPAT_KERJA": ("Tempat Kerja", "Kantor"),
                    "SEKOLAH": ("Sekolah",), "FASILITAS_UMUM": ("Jalan", "Tempat Umum"),
                    "LEMBAGA_PENDIDIKAN_KILAT": ("Lembaga Pendidikan Kilat",), "LAINNYA": ("Lain-lain",)}
    status_labels = {"PROSES": ("Dalam Proses",), "SELESAI": ("Selesai",), "DIRUJUK": ("Rujukan",)}
    empty_labels = (None, "-")
    patterns = ("data_kasus_kekerasan_*.xls", "data_kasus_kekerasan_*.xlsx", "Salinan data_kasus_kekerasan_*")

    def case_id(self, year, n, month):
        return f"{self.g.p.code.upper()}/{year}/{n:03d}"

    def fmt_date(self, d, rr, opts):
        x = rr.random()
        if x < 0.35:
            return _id_date_long(d, rr)
        if x < 0.55:
            return f"{WEEKDAYS_ID[d.weekday()]}, {_id_date_long(d, rr)}"
        if x < 0.8:
            abbr = MONTHS_ABBR[d.month - 1]
            if d.month == 2 and rr.random() < 0.4:
                abbr = "Peb"
            if d.month == 8 and rr.random() < 0.5:
                abbr = "Agu"
            return f"{d.day} {abbr} {d.year}"
        return d.strftime("%d/%m/%Y")

    def fmt_age(self, v, rr):
        if v.age_months is not None:
            return f"{v.age_months} bln"
        if v.age < 18:
            return rr.choice((f"{v.age} th", f"{v.age} thn", f"{v.age} tahun", v.age))
        return rr.choice((f"{v.age} tahun", f"{v.age} thn", v.age))

    def note(self, v, rr):
        return "Belum input SIMFONI" if rr.random() < 0.08 else None

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        code = self.g.p.code
        builds = []
        for i, y in enumerate(years):
            sh = _Sheet(f"DATA {y}")
            sh.add(["DATA KASUS KEKERASAN TERHADAP PEREMPUAN DAN ANAK"], bold=True)
            sh.add([f"DPPPA {self.g.p.name.upper().split(' ', 1)[-1]} TAHUN {y}"], bold=True)
            sh.add([self.printed()] if self.is_current(y) else [])
            sh.add(self.headers(), bold=True)
            for no, v in enumerate(self.rows_of(years_cases[y]), 1):
                sh.add(self.data_row(v, no, {}), victim=v)
            fmt = "xls" if i < 2 else "xlsx"
            builds.append(_Build(f"{code}/data_kasus_kekerasan_{y}.{fmt}", "register",
                                 self.export_time(y, rng), fmt=fmt, sheets=[sh]))
        if len(years) >= 3:
            src = builds[-2]
            builds.append(_Build(f"{code}/Salinan data_kasus_kekerasan_{years[-2]}.xlsx", "partial",
                                 self.export_time(years[-1], rng, days_after=3), fmt="raw",
                                 truncate_of=src.rel))
        return builds


class PpuLayout(_Layout):
    """A workbook per year with a sheet per month, serial-number dates, one year as .ods."""
    name = "ppu"
    columns = [
        ("No", None, "no"), ("Kode Kasus", None, "case_id"), ("Korban Ke", None, "seq"),
        ("Tanggal Registrasi", None, "report_date"), ("Tanggal Kejadian", None, "incident_date"),
        ("Nama Korban", None, "name"), ("NIK Korban", None, "nik"),
        ("Jenis Kelamin Korban", None, "sex"), ("Umur Korban", None, "age"), ("Kel. Usia", None, "age_group"),
        ("Alamat Korban", None, "address"), ("Kecamatan", None, "kecamatan"),
        ("Bentuk Kekerasan", None, "forms"), ("Lingkup", None, "kdrt"), ("Anak Sebagai", None, "child_role"),
        ("TKP", None, "place"), ("Hubungan Pelaku", None, "relation"), ("Nama Pelaku", None, "perp_name"),
        ("Uraian Singkat Kejadian", None, "kronologi"), ("Layanan", None, "services"),
        ("Status Kasus", None, "status"),
    ]
    sex_labels = {"L": ("Laki-laki",), "P": ("Perempuan",)}
    form_labels = {"FISIK": ("Kekerasan Fisik", "Fisik"), "PSIKIS": ("Kekerasan Psikis", "Psikis"),
                   "SEKSUAL": ("Kekerasan Seksual", "Persetubuhan", "Pencabulan"),
                   "EKSPLOITASI": ("Eksploitasi",), "TRAFFICKING": ("Perdagangan Orang",),
                   "PENELANTARAN": ("Penelantaran",), "LAINNYA": ("Lain-lain",)}
    form_joins = (", ", " dan ")
    kdrt_labels = {True: "Domestik", False: "Publik"}
    role_labels = {"KORBAN": ("Korban",), "PELAKU": ("ABH",)}
    place_labels = {"RUMAH_TANGGA": ("Dalam Rumah", "Rumah Tangga"), "TEMPAT_KERJA": ("Tempat Kerja",),
                    "SEKOLAH": ("Sekolah",), "FASILITAS_UMUM": ("Fasum", "Fasilitas Umum"),
                    "LEMBAGA_PENDIDIKAN_KILAT": ("Lembaga Pendidikan Kilat",), "LAINNYA": ("Lainnya",)}
    empty_labels = (None, None, "-")
    patterns = ("register_ppu_*.xlsx", "register_ppu_*.ods", ".~lock.register_ppu_*", "laporan_kasus_*_dikunci.xlsx",
                "data_kasus_kekerasan_*.xlsx")  # the last: a Kutim register in the wrong folder

    def case_id(self, year, n, month):
        return f"{year % 100:02d}.{month:02d}.{n:03d}"

    def fmt_date(self, d, rr, opts):
        if opts.get("serial"):
            return (d - date(1899, 12, 30)).days
        return d

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        code = self.g.p.code
        builds = []
        for i, y in enumerate(years):
            rows = self.rows_of(years_cases[y])
            last_month = self.g.data_end.month if y == self.g.data_end.year else 12
            sheets = []
            for m in range(1, last_month + 1):
                if (y, m) in self.g.gaps or (y, m) in self.g.nil_files:
                    continue
                sh = _Sheet(MONTHS_ID[m - 1].upper())
                serial = i < 2 or rng.random() < 0.25
                sh.add([f"REGISTER KASUS UPTD PPA {self.g.p.name.upper()}"], bold=True)
                sh.add([f"BULAN {MONTHS_ID[m - 1].upper()} {y}"], bold=True)
                sh.add([])
                sh.add(self.headers(), bold=True)
                month_rows = [v for v in rows if v.report_date.month == m]
                for no, v in enumerate(month_rows, 1):
                    sh.add(self.data_row(v, no, {"serial": serial}), victim=v)
                sheets.append(sh)
            fmt = "ods" if i == 2 else "xlsx"
            builds.append(_Build(f"{code}/register_ppu_{y}.{fmt}", "register", self.export_time(y, rng),
                                 fmt=fmt, sheets=sheets))
            for (ny, nm) in sorted(self.g.nil_files):
                if ny == y:
                    builds.append(self._nil_report(ny, nm))
            if fmt == "ods":
                lock = (f"Admin UPTD,admin,PC-UPTD,{self.g.data_end.strftime('%d.%m.%Y')} 10:12,"
                        f"file:///C:/Users/admin/AppData/Roaming/LibreOffice/4;").encode()
                builds.append(_Build(f"{code}/.~lock.register_ppu_{y}.ods#", "lock",
                                     self.export_time(years[-1], rng, days_after=4), fmt="raw", raw=lock))
        if len(years) >= 2:
            builds.append(_Build(f"{code}/laporan_kasus_{years[-2]}_dikunci.xlsx", "encrypted",
                                 self.export_time(years[-2], rng, days_after=10), fmt="raw",
                                 raw=_fake_encrypted_xlsx(rng)))
        return builds


    def _nil_report(self, y: int, m: int) -> _Build:
        """A month without any case, reported on its own: a laporan nihil (contract section 8)."""
        sh = _Sheet(MONTHS_ID[m - 1].upper())
        sh.add([f"LAPORAN NIHIL UPTD PPA {self.g.p.name.upper()}"], bold=True)
        sh.add([f"BULAN {MONTHS_ID[m - 1].upper()} {y}"], bold=True)
        sh.add([])
        sh.add(self.headers(), bold=True)
        sh.add(["NIHIL"])
        due = date(y + (m == 12), m % 12 + 1, 5)
        return _Build(f"{self.g.p.code}/register_ppu_{y}_{m:02d}_nihil.xlsx", "nil_report",
                      _local(self.tz(), due, 9, 30), sheets=[sh])


class BontangLayout(_Layout):
    """Text dates, messy labels, "Fisik/KDRT", a month exported twice, a corrected export."""
    name = "bontang"
    columns = [
        ("NO", None, "no"), ("JENIS KEKERASAN ", None, "forms"), ("No. Register", None, "case_id"),
        ("No Korban", None, "seq"), ("Tgl Pengaduan", None, "report_date"), ("tgl kejadian", None, "incident_date"),
        ("Nama", None, "name"), ("JK", None, "sex"), ("Usia", None, "age"), ("Kelompok Usia", None, "age_group"),
        ("Anak Sebagai", None, "child_role"), ("Nama Orang Tua", None, "parent_name"),
        ("Nama Sekolah", None, "school"), ("Alamat", None, "address"), ("Kecamatan ", None, "kecamatan"),
        ("No. HP", None, "phone"), ("Tempat Kejadian", None, "place"),
        ("Hub. Pelaku dgn Korban", None, "relation"), ("Pelayanan", None, "services"), ("STATUS", None, "status"),
    ]
    sex_labels = {"L": ("L", "Lk", "l"), "P": ("P", "Pr", "p", "P")}
    group_labels = {"0-5": ("0 - 5", "0-5"), "6-12": ("6 - 12",), "13-17": ("13 - 17",),
                    "18-24": ("18 - 24",), "25-44": ("25 - 44",), "45-59": ("45 - 59",), "60+": ("60 +",)}
    form_labels = {"FISIK": ("Fisik",), "PSIKIS": ("Psikis",),
                   "SEKSUAL": ("Kekerasan Seksual", "Pencabulan", "Seksual"), "EKSPLOITASI": ("Eksploitasi Ekonomi",),
                   "TRAFFICKING": ("TPPO",), "PENELANTARAN": ("Penelantaran",), "LAINNYA": ("Bullying", "Lainnya")}
    form_joins = (", ", "; ")
    kdrt_in_forms = 1.0
    kdrt_slash = True
    role_labels = {"KORBAN": ("Korban", "Anak Korban"), "PELAKU": ("Pelaku",)}
    place_labels = {"RUMAH_TANGGA": ("Rumah Tangga", "Rumah"), "TEMPAT_KERJA": ("Tempat Kerja",),
                    "SEKOLAH": ("Sekolah",), "FASILITAS_UMUM": ("Fasilitas Umum", "Tempat Umum"),
                    "LEMBAGA_PENDIDIKAN_KILAT": ("Lembaga Pendidikan Kilat",), "LAINNYA": ("Lainnya",)}
    empty_labels = (None, "-", "")
    messy = True
    patterns = ("register_*.xlsx", "~$register_*.xlsx")

    def __init__(self, gen, personal_log):
        super().__init__(gen, personal_log)
        self._years: list[int] = []

    def case_id(self, year, n, month):
        return f"REG/{year}/{n:04d}"

    def fmt_date(self, d, rr, opts):
        if opts.get("strict") or not 2015 <= d.year <= 2030:
            return d.strftime("%d/%m/%Y")  # four-digit years for the deliberate typos
        return rr.choice((d.strftime("%d-%m-%y"), d.strftime("%d.%m.%Y"), d.strftime("%d/%m/%Y")))

    def cols_for(self, year: int) -> list:
        # the first two years have an age group column only
        if self._years.index(year) < 2:
            return [c for c in self.columns if c[2] != "age"]
        return self.columns

    def sheet(self, year: int, blocks: list[list[Victim]], rng: random.Random) -> _Sheet:
        cols = self.cols_for(year)
        sh = _Sheet("Sheet1")
        sh.add([f"DATA KORBAN KEKERASAN {self.g.p.name.upper()} TAHUN {year}"], bold=True)
        if self.is_current(year):
            sh.add([self.printed()])
        sh.add([h for h, _, _ in cols], bold=True)
        no = 0
        for block in blocks:
            prev_month = None
            for v in block:
                if prev_month is not None and v.report_date.month != prev_month and rng.random() < 0.5:
                    sh.add([])
                prev_month = v.report_date.month
                no += 1
                sh.add([self.cell(v, f, {"no": no}) for _, _, f in cols], victim=v)
            sh.add([])
        while sh.rows and not sh.rows[-1]:
            sh.rows.pop()
        return sh

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        self._years = years
        code = self.g.p.code
        rows = {y: self.rows_of(years_cases[y]) for y in years}
        fix_year = years[-2] if len(years) >= 3 else None
        builds = []
        for y in years:
            blocks = [rows[y]]
            if y == fix_year and y - 1 in rows:
                # December of the year before, exported again on top of this file
                dec = [v for v in rows[y - 1] if v.report_date.month == 12 and not v.reasons]
                blocks = [dec, rows[y]]
            if y != fix_year:
                builds.append(_Build(f"{code}/register_{y}.xlsx", "register", self.export_time(y, rng),
                                     sheets=[self.sheet(y, blocks, rng)]))
                continue
            # the first export and a corrected one; the original carries the mistakes
            good = [v for v in rows[y] if not v.reasons and v.child_role != "PELAKU"
                    and not v.overrides and not v.warnings]
            if len(good) < 5:
                builds.append(_Build(f"{code}/register_{y}.xlsx", "register", self.export_time(y, rng),
                                     sheets=[self.sheet(y, blocks, rng)]))
                continue
            n = len(good)
            fixed_bad, fixed_kec, fixed_status = good[n // 4], good[n // 2], good[3 * n // 4:3 * n // 4 + 3]
            original = []
            for v in rows[y]:
                if v is fixed_bad:
                    v = replace(v, reasons=("victim_sex_missing",), overrides={"sex": None})
                elif v is fixed_kec:
                    v = replace(v, kecamatan=None, warnings=("kecamatan_unknown",),
                                overrides={"kecamatan": UNKNOWN_KECAMATAN.get(self.name, "Loktuan")})
                elif any(v is s for s in fixed_status):
                    v = replace(v, status="PROSES")
                original.append(v)
            for s in fixed_status:
                s.status = "SELESAI"
            t1 = self.export_time(y, rng)
            t2 = t1 + timedelta(days=24, hours=3)
            builds.append(_Build(f"{code}/register_{y}.xlsx", "register", t1,
                                 sheets=[self.sheet(y, blocks[:-1] + [original], random.Random(1))]))
            builds.append(_Build(f"{code}/register_{y}_revisi.xlsx", "corrected", t2,
                                 sheets=[self.sheet(y, blocks, random.Random(1))]))
        builds.append(_Build(f"{code}/~$register_{years[-1]}.xlsx", "lock",
                             self.export_time(years[-1], rng, days_after=5), fmt="raw", raw=_excel_lock("petugas")))
        return builds


class BatamLayout(_Layout):
    """The largest volume; no victim-number column, a Ranah column, extra columns, an .xlsm;
    SIMFONI-PPA recaps: the only export of its first year, and one beside a register."""
    name = "batam"
    columns = [
        ("No", None, "no"), ("No Kasus", None, "case_id"), ("Tanggal Lapor", None, "report_date"),
        ("Waktu Kejadian", None, "incident_date"), ("Nama Korban", None, "name"), ("NIK", None, "nik"),
        ("Jenis Kelamin", None, "sex"), ("Usia Korban", None, "age"), ("Kelompok Usia", None, "age_group"),
        ("Pendidikan", None, "education"), ("Pekerjaan", None, "occupation"),
        ("Alamat Lengkap", None, "address"), ("Kecamatan", None, "kecamatan"),
        ("Jenis Kekerasan", None, "forms"), ("Ranah", None, "kdrt"), ("Tempat Kejadian", None, "place"),
        ("Hubungan dengan Korban", None, "relation"), ("Nama Pelaku", None, "perp_name"),
        ("Kronologis", None, "kronologi"), ("Layanan yang Diberikan", None, "services"),
        ("Status Kasus", None, "status"), ("Keterangan Petugas", None, "note"),
    ]
    group_labels = {"0-5": ("0-5 tahun",), "6-12": ("6-12 tahun",), "13-17": ("13-17 tahun",),
                    "18-24": ("18-24 tahun",), "25-44": ("25-44 tahun",), "45-59": ("45-59 tahun",),
                    "60+": ("60 tahun ke atas",)}
    kdrt_in_forms = 0.5
    kdrt_labels = {True: "KDRT", False: "Non KDRT"}
    place_labels = dict(_Layout.place_labels, FASILITAS_UMUM=("Fasilitas Umum", "Fasum"))
    patterns = ("register_batam_*.xlsx", "register_batam_*.xlsm", "export_simfoni_*.xlsx")

    def case_id(self, year, n, month):
        return int(f"{year % 100:02d}{n:04d}")  # a plain number, as Excel stores it

    def note(self, v, rr):
        return rr.choice(("Sudah BAP", "Menunggu hasil visum", "Didampingi ke Polresta",
                          "Konseling psikolog", "-", None, None))

    def sheet(self, name: str, rows: list[Victim], as_of: date | None = None) -> _Sheet:
        sh = _Sheet(name)
        if as_of is not None:
            sh.add([f"Kondisi per {as_of.day} {MONTHS_ID[as_of.month - 1]} {as_of.year}"])
        sh.add(self.headers(), bold=True)
        for no, v in enumerate(rows, 1):
            sh.add(self.data_row(v, no, {}), victim=v)
        sh.add(["TOTAL", None, None, None, len(rows)], bold=True)
        return sh

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        code = self.g.p.code
        builds = []
        only = RECAP_ONLY.get(code) if len(years) > 2 else None
        for y in years:
            rows = self.rows_of(years_cases[y])
            if y == only:  # this year only SIMFONI's recap was kept
                builds.append(self._simfoni(y, rows, self.export_time(y, rng)))
                continue
            if y == years[-1] and len(years) > 1:
                # a new head of office in mid-year: the second half comes as a macro workbook
                first = [v for v in rows if v.report_date.month <= 6]
                second = [v for v in rows if v.report_date.month > 6]
                if first and second:
                    builds.append(_Build(f"{code}/register_batam_{y}_sem1.xlsx", "register",
                                         _local(self.tz(), date(y, 7, 8), 10, 5),
                                         sheets=[self.sheet(f"DATA KORBAN {y}", first, date(y, 7, 7))]))
                    when = self.export_time(y, rng)
                    builds.append(_Build(f"{code}/register_batam_{y}_sem2.xlsm", "register", when, fmt="xlsm",
                                         sheets=[self.sheet(f"DATA KORBAN {y}", second, when.date())]))
                    continue
            builds.append(_Build(f"{code}/register_batam_{y}.xlsx", "register", self.export_time(y, rng),
                                 sheets=[self.sheet(f"DATA KORBAN {y}", rows)]))
        if len(years) >= 2:
            y = years[-2]
            # SIMFONI's monthly count beside the register: it counts every victim entered, also
            # those whose register row is rejected, so the two differ by those rows
            per_month = [sum(1 for v in self.rows_of(years_cases[y]) if v.report_date.month == m
                             and v.child_role != "PELAKU") for m in range(1, 13)]
            sh = _Sheet(f"Rekap {y}")
            sh.add([f"REKAP JUMLAH KORBAN SIMFONI-PPA KOTA BATAM TAHUN {y}"], bold=True)
            sh.add(["Bulan", "Jumlah Korban"], bold=True)
            for m, n in enumerate(per_month, 1):
                sh.add([MONTHS_ID[m - 1], n])
            sh.add(["JUMLAH", sum(per_month)], bold=True)
            builds.append(_Build(f"{code}/export_simfoni_{y}.xlsx", "recap", self.export_time(y, rng, days_after=20),
                                 sheets=[sh], recap={"year": y, "victims": sum(per_month),
                                                     "months": dict(enumerate(per_month, 1))}))
        if len(years) >= 3:  # an older export saved as CSV and renamed .xlsx: unreadable
            y = years[-3]
            written = self.rows_of(years_cases[y])
            lines = ["Bulan;Jumlah"] + [f"{MONTHS_ID[m - 1]};{sum(v.report_date.month == m for v in written)}"
                                        for m in range(1, 13)]
            builds.append(_Build(f"{code}/export_simfoni_{y}.xlsx", "renamed_csv",
                                 self.export_time(y, rng, days_after=20), fmt="raw",
                                 raw=("\r\n".join(lines) + "\r\n").encode("utf-8")))
        return builds

    def _simfoni(self, year: int, rows: list[Victim], when) -> _Build:
        """SIMFONI-PPA's monthly recap of a year (contract section 9): months down the side under a
        two-row header (sex, age class, forms, victims, cases), a JUMLAH line, "-" for zero. One
        month's victims are miswritten (recap_total_mismatch: L + P is used) and one form cell
        holds text (rejected, the rest loads)."""
        forms = list(self.form_labels)
        sh = _Sheet(f"SIMFONI {year}")
        sh.add(["REKAPITULASI KORBAN KEKERASAN TERHADAP PEREMPUAN DAN ANAK (SIMFONI-PPA)"], bold=True)
        sh.add([f"KOTA BATAM TAHUN {year}"], bold=True)
        sh.add([])
        groups = ["Bulan", "Jenis Kelamin", None, "Usia", None, "Jenis Kekerasan"] + [None] * (len(forms) - 1)
        sh.add(groups + ["Jumlah Korban", "Jumlah Kasus"], bold=True)
        sh.add([None, "L", "P", "Anak", "Dewasa"] + [self.form_labels[f][0] for f in forms] + [None, None], bold=True)
        ncol = 7 + len(forms)
        sh.merges += [(4, 1, 5, 1), (4, 2, 4, 3), (4, 4, 4, 5), (4, 6, 4, 5 + len(forms)),
                      (4, ncol - 1, 5, ncol - 1), (4, ncol, 5, ncol)]
        victims = [v for v in rows if not v.reasons and v.child_role != "PELAKU"]
        bad_month, text_month = 3, 5  # the miswritten total, the form cell with text
        totals = [0] * (ncol - 1)
        detail = {"victims_female": 0, "victims_male": 0, "child_victims": 0}
        form_counts = {f: 0 for f in forms}
        months = {}
        for m in range(1, 13):
            vs = [v for v in victims if v.report_date.month == m]
            line = [sum(v.sex == "L" for v in vs), sum(v.sex == "P" for v in vs), sum(v.is_child for v in vs),
                    sum(not v.is_child for v in vs), *[sum(f in v.forms for v in vs) for f in forms], len(vs),
                    len({v.case_id for v in vs})]
            months[m] = len(vs)
            totals = [a + b for a, b in zip(totals, line)]
            detail["victims_male"] += line[0]
            detail["victims_female"] += line[1]
            detail["child_victims"] += line[2]
            shown: list = ["-" if n == 0 else n for n in line]
            if m == bad_month:
                shown[-2] = len(vs) + 2
            if m == text_month:
                shown[4] = f"{line[4]} org"
            for f, n in zip(forms, line[4:4 + len(forms)]):
                form_counts[f] += 0 if m == text_month and f == forms[0] else n
            sh.add([MONTHS_ID[m - 1], *shown])
        sh.add(["JUMLAH", *totals], bold=True)
        first = 6  # the Excel row of January
        cells = {"rejects": {f"F{first + text_month - 1}"},
                 "mismatches": {f"{_col(ncol - 1)}{first + bad_month - 1}"}}
        return _Build(f"{self.g.p.code}/export_simfoni_{year}.xlsx", "recap", when, sheets=[sh],
                      recap={"year": year, "victims": totals[-2], "cases": totals[-1], "months": months,
                             "only": True, "detail": detail, "forms": form_counts, **cells})


_LAYOUTS: dict[str, type[_Layout]] = {
    "kukar": KukarLayout, "kutim": KutimLayout, "ppu": PpuLayout, "bontang": BontangLayout, "batam": BatamLayout,
}


# --------------------------------------------------------------------------- one agency


def _col(n: int) -> str:
    """A column's letters: 1 -> A, 28 -> AB."""
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out
