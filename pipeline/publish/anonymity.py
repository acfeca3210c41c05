"""Researchers' rows that single no one out: k-anonymity and l-diversity (data contract, section 12).

Every combination of quasi-identifiers that is published is shared by at least k rows, and the
rows of each combination hold at least l distinct values of the forms of violence. Agency is a
quasi-identifier, so no group crosses agencies and every agency is protected on its own rows
(all agencies at once, vectorised). Reached in the contract's order:

1. generalise: the exact age is never published (age group instead); the report period of the
   rows in a group still too small goes from month to quarter to year;
2. blank: in the groups still too small, the rarest value (fewest rows of the agency) of the
   other quasi-identifiers is generalised one step, one value per agency at a time, until no
   group is too small or nothing is left to blank. The age goes from age group to child/adult
   (is_child) to blank; sex, kecamatan, relation and place are blanked;
3. drop: the rows of the groups that still break it.

A blank cell and an unknown one are both NULL, as published, so they form one value here too.
Pure functions over frames; the analytics copy (publish/analytics.py) applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

L_DIVERSITY = 2
SENSITIVE = "forms"  # the forms of violence of a row as one value (sorted codes joined by ',')
BLANK = ""

# quasi-identifier -> its levels, most detailed first (the published level of each row)
LEVELS = {
    "agency": ("value",),
    "report_period": ("month", "quarter", "year"),
    "victim_age": ("age_group", "child_or_adult", "blank"),
    "victim_sex": ("value", "blank"),
    "kecamatan_code": ("value", "blank"),
    "perp_relation": ("value", "blank"),
    "place": ("value", "blank"),
}
BLANKABLE = ("victim_age", "victim_sex", "kecamatan_code", "perp_relation", "place")  # in order of a tie
# The published columns that carry the quasi-identifiers (null = blank or unknown), and what
# the function reads.
PUBLISHED_QI = ("agency", "year", "report_quarter", "report_month", "victim_age_group", "is_child", "victim_sex",
                "kecamatan_code", "perp_relation", "place")
INPUT = ("agency", "year", "report_month", "victim_age_group", "is_child", "victim_sex", "kecamatan_code",
         "perp_relation", "place", SENSITIVE)


@dataclass(frozen=True)
class Release:
    rows: pd.DataFrame  # the rows kept (index of the input), with the published quasi-identifier columns
    disclosure: pd.DataFrame  # what was done, per agency, quasi-identifier and level (meta.release_disclosure)


def release(frame: pd.DataFrame, k: int, l: int = L_DIVERSITY) -> Release:
    """Protect `frame` (the INPUT columns, one row per researcher row) to k-anonymity and
    l-diversity. The index of the rows kept is the input's."""
    missing = [c for c in INPUT if c not in frame.columns]
    if missing:
        raise ValueError(f"release: missing columns {missing}")
    if k < 1 or l < 1:
        raise ValueError(f"release: k and l must be at least 1 (k={k}, l={l})")
    state = _State(frame)
    for _ in LEVELS["report_period"][1:]:  # 1. generalise the period of the rows still at risk
        state.raise_level("report_period", state.at_risk(k, l))
    while True:  # 2. blank the rarest value, one per agency at a time
        risky = state.at_risk(k, l)
        chosen = state.rarest(risky)
        if chosen.empty:
            break
        state.raise_chosen(chosen, risky)
    dropped = state.at_risk(k, l)  # 3. drop what still breaks it
    return Release(state.published(frame)[~dropped], state.disclosure(dropped, k, l))


def measure(published: pd.DataFrame) -> dict[str, int]:
    """k (the smallest group) and l (the fewest distinct forms in a group) of published rows,
    grouped by every published quasi-identifier with NULL as a value; 0 for no rows."""
    if published.empty:
        return {"k": 0, "l": 0, "groups": 0}
    group = published.groupby(list(PUBLISHED_QI), dropna=False, sort=False).ngroup().to_numpy()
    sizes = np.bincount(group)
    diverse = np.bincount(pd.DataFrame({"g": group, "f": published[SENSITIVE].to_numpy()})
                          .drop_duplicates()["g"].to_numpy())
    return {"k": int(sizes.min()), "l": int(diverse.min()), "groups": len(sizes)}


def kept_shares(before: pd.DataFrame, published: pd.DataFrame) -> dict[str, float]:
    """Of the rows given, the share published with their age group, kecamatan and month kept
    (the detail the protection cost). Rows dropped count as not kept."""
    n = len(before)
    if not n:
        return {"rows": 0.0, "age_group": 0.0, "kecamatan": 0.0, "month": 0.0}
    had = {"age_group": before["victim_age_group"].notna(), "kecamatan": before["kecamatan_code"].notna(),
           "month": before["report_month"].notna()}
    has = {"age_group": published["victim_age_group"].notna(), "kecamatan": published["kecamatan_code"].notna(),
           "month": published["report_month"].notna()}
    out = {"rows": round(len(published) / n, 4)}
    for name in had:
        out[name] = round(int(has[name].sum()) / max(int(had[name].sum()), 1), 4)
    return out


class _State:
    """Each row's level per quasi-identifier, the key it is published under and that key as an
    integer code (the work is done on codes: a national run has a quarter of a million rows)."""

    def __init__(self, frame: pd.DataFrame):
        self.agency, agencies = pd.factorize(frame["agency"].astype(str).to_numpy())
        self.agencies = len(agencies)
        self.form_codes = pd.factorize(frame[SENSITIVE].fillna(BLANK).astype(str).to_numpy())[0]
        year = frame["year"].astype(int).astype(str)
        month = pd.to_numeric(frame["report_month"]).astype("Int64")
        quarter = (month - 1) // 3 + 1
        group, child = frame["victim_age_group"], frame["is_child"]
        # the value each level publishes, per quasi-identifier
        self.values: dict[str, list[np.ndarray]] = {
            "agency": [np.asarray(agencies, dtype=object)[self.agency]],
            "report_period": [_text((year + "-" + month.astype(str).str.zfill(2)).where(month.notna())),
                              _text((year + "-Q" + quarter.astype(str)).where(month.notna())), _text(year)],
            "victim_age": [_text(group), _text(child.map({True: "ANAK", False: "DEWASA"})),
                           np.full(len(frame), BLANK, dtype=object)],
        }
        for qi in BLANKABLE[1:]:
            self.values[qi] = [_text(frame[qi]), np.full(len(frame), BLANK, dtype=object)]
        # the level a row starts at: the first whose value is known
        self.level = {qi: _first_known(values) for qi, values in self.values.items()}
        self.start = {qi: level.copy() for qi, level in self.level.items()}
        self.codes: dict[str, np.ndarray] = {}
        self.uniques: dict[str, np.ndarray] = {}
        for qi in LEVELS:
            self._encode(qi)

    def _encode(self, qi: str) -> None:
        codes, uniques = pd.factorize(np.choose(self.level[qi], self.values[qi]))
        self.codes[qi], self.uniques[qi] = codes, np.asarray(uniques, dtype=object)

    def raise_level(self, qi: str, rows: np.ndarray) -> None:
        rows = rows & (self.level[qi] < len(LEVELS[qi]) - 1)
        if rows.any():
            self.level[qi] = np.where(rows, self.level[qi] + 1, self.level[qi])
            self._encode(qi)

    def at_risk(self, k: int, l: int) -> np.ndarray:
        """Rows in a group of fewer than k rows or fewer than l distinct forms."""
        group = _combine([self.codes[qi] for qi in LEVELS])
        sizes = np.bincount(group)
        first = np.unique(_combine([group, self.form_codes]), return_index=True)[1]  # a row per (group, form)
        diverse = np.bincount(group[first], minlength=len(sizes))
        return (sizes[group] < k) | (diverse[group] < l)

    def rarest(self, risky: np.ndarray) -> pd.DataFrame:
        """Per agency with rows at risk, the (quasi-identifier, value) of those rows that the
        fewest rows of the agency share, among the values at the lowest level of each
        quasi-identifier; nothing for an agency where all is blank already."""
        found = []
        for order, qi in enumerate(BLANKABLE):
            level = self.level[qi]
            open_ = risky & (level < len(LEVELS[qi]) - 1)
            if not open_.any():
                continue
            # one level at a time: an age group goes to child/adult before any child/adult is blanked
            lowest = np.full(self.agencies, len(LEVELS[qi]), dtype=np.int64)
            np.minimum.at(lowest, self.agency[open_], level[open_])
            open_ &= level == lowest[self.agency]
            pair = _combine([self.agency, self.codes[qi]])
            rows = np.bincount(pair)[pair]  # rows of the agency with the same value
            found.append(pd.DataFrame({"agency": self.agency[open_], "code": self.codes[qi][open_],
                                       "rows": rows[open_], "order": order, "qi": qi}).drop_duplicates())
        if not found:
            return pd.DataFrame(columns=["agency", "code", "rows", "order", "qi", "value"])
        chosen = pd.concat(found, ignore_index=True)
        chosen["value"] = [self.uniques[qi][code] for qi, code in zip(chosen["qi"], chosen["code"])]
        return chosen.sort_values(["agency", "rows", "order", "value"]).drop_duplicates("agency")

    def raise_chosen(self, chosen: pd.DataFrame, risky: np.ndarray) -> None:
        """Raise the level of the rows at risk that hold a chosen value of their agency."""
        for qi, pairs in chosen.groupby("qi", sort=False):
            target = np.full(self.agencies, -1, dtype=np.int64)
            target[pairs["agency"].to_numpy()] = pairs["code"].to_numpy()
            self.raise_level(qi, risky & (self.codes[qi] == target[self.agency]))

    def published(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The published quasi-identifier columns: each cell at its row's level, NULL when blank."""
        period, age = self.level["report_period"], self.level["victim_age"]
        month = pd.to_numeric(frame["report_month"]).astype("Int64")
        out = pd.DataFrame({"agency": frame["agency"], "year": frame["year"]}, index=frame.index)
        out["report_quarter"] = ((month - 1) // 3 + 1).where(period <= 1)
        out["report_month"] = month.where(period == 0)
        out["is_child"] = frame["is_child"].astype("boolean").where(age <= 1)
        for qi in ("victim_age_group", *BLANKABLE[1:]):
            keep = (age if qi == "victim_age_group" else self.level[qi]) == 0
            out[qi] = frame[qi].astype(object).where(keep & frame[qi].notna(), None)
        out[SENSITIVE] = frame[SENSITIVE]
        return out

    def disclosure(self, dropped: np.ndarray, k: int, l: int) -> pd.DataFrame:
        """Per agency, quasi-identifier and level: rows published at that level, cells the
        release moved there, and the agency's rows in and dropped."""
        parts, agency = [], self.values["agency"][0]
        for qi, names in LEVELS.items():
            level = self.level[qi]
            parts.append(pd.DataFrame({
                "agency": agency, "quasi_identifier": qi, "level": np.asarray(names, dtype=object)[level],
                "rows": ~dropped, "cells_changed": ~dropped & (level > self.start[qi])}))
        if not parts[0].shape[0]:
            return pd.DataFrame(columns=DISCLOSURE_COLUMNS)
        table = (pd.concat(parts).groupby(["agency", "quasi_identifier", "level"], sort=False)
                 .sum().reset_index())
        per_agency = pd.DataFrame({"agency": agency, "dropped": dropped}).groupby("agency")["dropped"]
        table["rows_in"] = table["agency"].map(per_agency.size()).astype(int)
        table["rows_dropped"] = table["agency"].map(per_agency.sum()).astype(int)
        table["k"], table["l_diversity"] = k, l
        order = {qi: i for i, qi in enumerate(LEVELS)}
        rank = {(qi, name): i for qi, names in LEVELS.items() for i, name in enumerate(names)}
        table = table.assign(_q=table["quasi_identifier"].map(order),
                             _l=[rank[(q, v)] for q, v in zip(table["quasi_identifier"], table["level"])])
        table = table.sort_values(["agency", "_q", "_l"]).drop(columns=["_q", "_l"]).reset_index(drop=True)
        return table.astype({"rows": int, "cells_changed": int})[DISCLOSURE_COLUMNS]


DISCLOSURE_COLUMNS = ["agency", "quasi_identifier", "level", "rows", "cells_changed", "rows_in", "rows_dropped", "k",
                      "l_diversity"]


def _text(series: pd.Series) -> np.ndarray:
    """Values as text, unknown as BLANK."""
    return series.astype(object).where(series.notna(), BLANK).astype(str).to_numpy(dtype=object)


def _combine(codes: list[np.ndarray]) -> np.ndarray:
    """One dense id (from 0) per distinct combination of the integer codes (each from 0)."""
    out = np.asarray(codes[0], dtype=np.int64)
    for code in codes[1:]:
        if len(code):
            out = pd.factorize(out * (int(code.max()) + 1) + code)[0]
    return out


def _first_known(values: list[np.ndarray]) -> np.ndarray:
    """Per row, the first level whose value is not blank (the last level when none is)."""
    level = np.full(len(values[0]), len(values) - 1, dtype=np.int64)
    for i in range(len(values) - 2, -1, -1):
        level = np.where(values[i] != BLANK, i, level)
    return level
