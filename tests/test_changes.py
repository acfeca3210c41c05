"""The change report of a mart build (pipeline/marts/changes.py): pure functions on frames."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipeline.marts.changes import change_report, changed_figures, file_events


def figures(*rows):
    return pd.DataFrame([dict(zip(["agency", "year", "measure", "category", "value"], r)) for r in rows])


def files(*rows):
    cols = ["agency", "path", "sha256", "status", "coverage_start", "coverage_end"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


Y23 = (dt.date(2023, 1, 1), dt.date(2023, 12, 31))
Y24 = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))


def test_only_figures_that_differ_are_reported_with_both_values():
    before = figures(("kukar", 2023, "victims", "", 46), ("kukar", 2023, "cases", "", 40),
                     ("kutim", 2023, "victims", "", 10))
    after = figures(("kukar", 2023, "victims", "", 48), ("kukar", 2023, "cases", "", 40),
                    ("kutim", 2024, "victims", "", 3))
    out = changed_figures(before, after)
    got = [(r.agency, r.year, r.measure, None if pd.isna(r.value_before) else r.value_before,
            None if pd.isna(r.value_after) else r.value_after) for r in out.itertuples()]
    assert got == [("kukar", 2023, "victims", 46, 48), ("kutim", 2023, "victims", 10, None),
                   ("kutim", 2024, "victims", None, 3)]


def test_file_events_tell_new_corrected_removed_superseded_and_erased_apart():
    before = files(("kukar", "kukar/a.xlsx", "h1", "loaded", *Y23), ("kukar", "kukar/b.xlsx", "h2", "loaded", *Y23),
                   ("kukar", "kukar/c.xlsx", "h3", "loaded", *Y24), ("kukar", "kukar/d.xlsx", "h4", "loaded", *Y24),
                   ("kukar", "kukar/same.xlsx", "h5", "loaded", *Y24))
    after = files(("kukar", "kukar/a.xlsx", "h1b", "loaded", *Y23), ("kukar", "kukar/b.xlsx", "h2", "removed", *Y23),
                  ("kukar", "kukar/c.xlsx", "h3", "superseded", *Y24), ("kukar", "kukar/d.xlsx", "h4", "erased",
                                                                          None, None),
                  ("kukar", "kukar/e.xlsx", "h6", "loaded", *Y24), ("kukar", "kukar/f.xlsx", "h7", "rejected",
                                                                      None, None),
                  ("kukar", "kukar/same.xlsx", "h5", "loaded", *Y24))
    events = {r.path: (r.event, r.years) for r in file_events(before, after).itertuples()}
    assert events == {"kukar/a.xlsx": ("corrected", {2023}), "kukar/b.xlsx": ("removed", {2023}),
                      "kukar/c.xlsx": ("superseded", {2024}), "kukar/d.xlsx": ("erased", None),
                      "kukar/e.xlsx": ("new", {2024})}


def test_a_change_names_the_file_that_caused_it_in_bahasa_indonesia():
    before = figures(("kukar", 2023, "victims", "", 46), ("kukar", 2024, "victims", "", 20),
                     ("kukar", 2023, "victims_form", "SEKSUAL", 30))
    after = figures(("kukar", 2023, "victims", "", 48), ("kukar", 2024, "victims", "", 20),
                    ("kukar", 2023, "victims_form", "SEKSUAL", 31))
    old = files(("kukar", "kukar/2023.xlsx", "h1", "loaded", *Y23), ("kukar", "kukar/2024.xlsx", "h2", "loaded", *Y24))
    new = files(("kukar", "kukar/2023.xlsx", "h9", "loaded", *Y23), ("kukar", "kukar/2024.xlsx", "h2", "loaded", *Y24),
                ("kukar", "kukar/2024_koreksi.xlsx", "h3", "loaded", *Y24))
    report = change_report(before, after, old, new)
    assert report["message"].tolist() == [
        "Jumlah korban 2023 berubah dari 46 menjadi 48 karena file kukar/2023.xlsx diganti",
        "Korban kekerasan SEKSUAL 2023 berubah dari 30 menjadi 31 karena file kukar/2023.xlsx diganti"]
    assert report["message_en"][0] == ("Victims in 2023 changed from 46 to 48 because file kukar/2023.xlsx was "
                                       "replaced by a corrected version")
    assert report["files"][0] == ["kukar/2023.xlsx was replaced by a corrected version"]


def test_a_change_without_a_file_says_so():
    report = change_report(figures(("ppu", 2023, "cases", "", 5)), figures(("ppu", 2023, "cases", "", 4)),
                           files(), files())
    assert report["message"][0].startswith("Jumlah kasus 2023 berubah dari 5 menjadi 4 karena tidak ada file")
    assert report["files"][0] == []
