"""Small-count suppression (statistical disclosure control) for the published marts.

The rule, with threshold k (default 5):

1. Primary suppression. Every published count of victims, cases or records from 1 to k-1
   is suppressed. A zero is published (it names nobody), unless `zeros_are_disclosive=True`.
2. Secondary suppression. More counts are suppressed until no suppressed count can be
   worked out exactly from what is published: row and column totals, the same count in
   another table, last year's count repeated in this year's row, differences, rates and
   shares. A count that is not published but can be worked out from published ones (for
   example victims of unknown sex = victims - female - male) must not come out between
   1 and k-1 either. The extra counts are chosen small and non-zero, preferring ones that
   do not force yet more suppressions, and a region's victims or cases of a year (what
   comparisons are read from) only when no other non-zero count will do; at the end, any
   extra suppression that turns out not to be needed is published again. The result is the same on every run.
3. Derived values follow their counts. A rate, share, change, percentage change or
   previous-year value is suppressed when any count it is computed from is suppressed.
4. An independent audit solves the published numbers and their relations exactly (linear
   algebra over the rationals) and lists every suppressed count it can recover; the
   published marts must give an empty list.

How a suppressed value looks: the value is NULL (an empty field in CSV) in its usual numeric
column, and a boolean column `<column>_suppressed` right after it is true. Why:
- columns keep their numeric types in Parquet and DuckDB, so sums and filters still work
  and a suppressed count can never be read as 0 or parsed as text;
- one symbol such as "<5" would be false for secondary suppressions, which can be large;
- the flag tells a suppressed value apart from one missing for another reason (change_pct
  when last year had 0 victims, the previous year of the first year).
Primary and secondary suppressions carry the same flag on purpose: telling them apart
would show which counts are the small ones.

Known limits: the attacker modelled is linear (no use of "counts are whole and not
negative", nor of inequalities such as form counts <= victims), so a suppressed count can
still be narrowed to an interval; implicit aggregates are modelled for the table margins
only (sex x age class in victims_by_region_year and victims_by_age_sex, age-group totals,
monthly records of child perpetrators); the secondary choice is a heuristic, not optimal.
The breakdown marts leave out empty rows, so with zeros_are_disclosive a zero still shows
by its absence; yoy_by_region.months_reported still counts months whose has_data is
suppressed. All marts must go through `protect_marts` in one call, since they share counts;
a mart with no reader in marts.py raises ValueError rather than being published unprotected.

Complexity: cells are split into independent groups (linked by relations through hidden
cells; in the marts at most one agency-year, under 40 hidden cells). Each group is solved
by exact elimination, O(m * n * r) for m relations, n hidden cells and rank r. Inside
`protect` and `audit` cells are numbers (see Table). `protect` keeps the groups up to date
as it hides cells, so each exact pass solves only the groups changed since the last one;
a group solved twice keeps an elimination from then on, updated cell by cell as cells are
hidden (and, in the clean-up, published again), so the clean-up asks only which of a few
rows lose their last hidden cell; it skips groups larger than CLEANUP_MAX_GROUP hidden
cells (they keep their suppressions). `audit` runs one elimination over all relations
(groups share no hidden cell, so they do not interact). The cyclic garbage collector is
paused meanwhile. Every shortcut gives exactly the suppressions of the plain algorithm
(tests/test_suppression_fast.py). National benchmark (W2: 514 agencies x 7 years, 287,443
cells, 152,548 relations, 3,598 agency-years; about 29,700 groups at the first exact pass,
33 passes, 23,310 secondary suppressions tried by the clean-up), CPU seconds:
`protect_marts` 23.2 -> 2.2 (reading the marts 0.5, `protect` 1.6), `audit_marts` 3.1 ->
1.0 (reading 0.5, the elimination 0.4); `public.build_public` 23.2 -> 2.6 s. On the
sample (about 3,000 cells, 1,500 relations) `protect_marts` takes about 0.03 s.

The package: table.py (cells and relations), algebra.py (exact elimination), engine.py
(protect, audit), marts.py (the marts as cells; protect_marts, audit_marts).
"""

from pipeline.publish.suppression.engine import audit, protect
from pipeline.publish.suppression.marts import audit_marts, protect_marts, table_from_marts
from pipeline.publish.suppression.table import DEFAULT_K, FLAG, Exposure, Protection, Table

__all__ = ["DEFAULT_K", "FLAG", "Exposure", "Protection", "Table", "audit", "audit_marts", "protect", "protect_marts",
           "table_from_marts"]
