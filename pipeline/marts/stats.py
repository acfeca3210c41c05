"""Statistics for honest comparisons of small counts (data contract, section 11).

Plain functions, no Dagster and no warehouse: exact Poisson intervals (Garwood), the
exact conditional test of two Poisson rates, and the modified z-score of monthly counts.
numpy, pandas and scipy are imported where they are used: `ppa yoy` and `ppa compare` only
put changes into words, and answer faster without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CONFIDENCE = 0.95
ALPHA = 0.05  # a change is called a change when p < ALPHA
UNSTABLE_BELOW = 20  # counts under this are unstable (the usual public-health threshold)
MZ_FACTOR = 0.6745  # Iglewicz & Hoaglin: Mz = 0.6745 (x - median) / MAD
MZ_LIMIT = 3.5
MEAN_AD_FACTOR = 0.7978845608  # sqrt(2/pi), for the mean absolute deviation when the MAD is 0


def poisson_ci(k: int, conf: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson count k: 0 -> (0, 3.689), 10 -> (4.795, 18.390)."""
    if k < 0:
        raise ValueError(f"a count cannot be negative: {k}")
    low, high = poisson_ci_array([k], conf)
    return float(low[0]), float(high[0])


def poisson_ci_array(k, conf: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """poisson_ci for an array of counts at once.

    The Garwood limits are chi2.ppf(a/2, 2k)/2 and chi2.ppf(1 - a/2, 2k + 2)/2; scipy's chi2.ppf is
    2 * gammaincinv(df/2, q), so these are gammaincinv(k, a/2) and gammaincinv(k + 1, 1 - a/2), the
    same numbers from scipy.special, which imports in a third of scipy.stats' time and takes arrays.
    """
    import numpy as np
    from scipy.special import gammaincinv

    k = np.asarray(k, dtype="float64")
    a = 1 - conf
    with np.errstate(invalid="ignore"):  # k = 0: the lower limit is 0 (chi2 with 0 degrees of freedom is undefined)
        low = np.where(k > 0, gammaincinv(np.maximum(k, 1), a / 2), 0.0)
    return low, gammaincinv(k + 1, 1 - a / 2)


def rate_ci(k: int, population: float | None, per: float = 100_000.0) -> tuple[float | None, float | None]:
    """The interval of a rate per `per` people: the count's interval over the population."""
    if missing(population) or population <= 0:
        return None, None
    low, high = poisson_ci(k)
    return low / population * per, high / population * per


def compare_counts(a: int, b: int, pop_a: float | None = None, pop_b: float | None = None) -> float:
    """Two-sided p-value of the exact conditional test that two Poisson rates are equal.

    Given a (this period) and b (the period compared with), a ~ Binomial(a + b, Pa / (Pa + Pb))
    when nothing changed; the p-value adds the probabilities of every outcome no more likely
    than a, within the relative tolerance 1e-7 that scipy.stats.binomtest allows: binomtest's
    two-sided p-value (tests/test_honest.py compares the two over thousands of cases). It is
    computed from scipy.special (log-gamma to tell which outcomes are no more likely, the
    incomplete beta for the tails, as scipy.stats.binom does) because scipy.stats takes 0.7 s to
    import and binomtest 0.3 ms a call: most of the year-on-year mart's build at national scale.
    Without populations the exposures are taken as equal. With a = b = 0 there is nothing to
    test and nothing changed: p = 1.
    """
    import numpy as np
    from scipy.special import betainc, betaincc, gammaln, xlog1py, xlogy

    if a < 0 or b < 0:
        raise ValueError(f"counts cannot be negative: {a}, {b}")
    if a + b == 0:
        return 1.0
    if missing(pop_a) or missing(pop_b) or pop_a <= 0 or pop_b <= 0:
        share = 0.5
    else:
        share = float(pop_a) / (float(pop_a) + float(pop_b))
    n = int(a + b)
    if a == share * n:  # the most likely outcome: nothing is less likely than it is not
        return 1.0
    x = np.arange(n + 1, dtype="float64")
    pmf = np.exp(gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1) + xlogy(x, share) + xlog1py(n - x, -share))
    unlikely = pmf <= pmf[int(a)] * (1 + 1e-7)

    def cdf(k: int) -> float:  # P(X <= k)
        return 1.0 if k >= n else float(betaincc(k + 1, n - k, share))

    def sf(k: int) -> float:  # P(X > k)
        return 0.0 if k >= n else float(betainc(k + 1, n - k, share))

    # the outcomes no more likely than a: a's own tail, and as many of the far side's outcomes
    # (from its end: the probabilities rise towards the mode) as are no more likely than a
    if a < share * n:
        far = int(unlikely[int(np.ceil(share * n)):].sum())  # outcomes n - far + 1 .. n
        p = cdf(a) + (sf(n - far) if far else 0.0)
    else:
        far = int(unlikely[:int(np.floor(share * n)) + 1].sum())  # outcomes 0 .. far - 1
        p = (cdf(far - 1) if far else 0.0) + sf(a - 1)
    return float(min(1.0, p))


def modified_z(values: pd.Series) -> pd.Series:
    """Mz = 0.6745 (x - median) / MAD for each value of a series (NaN stays NaN); see modified_z_array."""
    import pandas as pd

    x = values.astype("float64")
    return pd.Series(modified_z_array(x.to_numpy()), index=x.index)


def modified_z_array(x: np.ndarray) -> np.ndarray:
    """Mz = 0.6745 (x - median) / MAD for each value of a float array (NaN stays NaN).

    The MAD is 0 when half the values or more are equal, common for small monthly counts.
    Then, as the WHO Data Quality Tool does, the mean absolute deviation stands in for it:
    Mz = 0.7979 (x - median) / MeanAD (0.7979 = sqrt(2/pi) makes both estimate the same
    spread for normal data). When every value equals the median, every score is 0. DHIS2
    instead sets every score to 0 when the MAD is 0, which would never flag a sudden 15
    among months that are mostly 2.
    """
    import numpy as np

    x = np.asarray(x, dtype="float64")
    if np.isnan(x).all():
        return x.copy()
    median = np.nanmedian(x)
    deviation = np.abs(x - median)
    mad = np.nanmedian(deviation)
    if mad > 0:
        return MZ_FACTOR * (x - median) / mad
    mean_ad = np.nanmean(deviation)
    if mean_ad > 0:
        return MEAN_AD_FACTOR * (x - median) / mean_ad
    return (x - median) * 0.0


def window_scores(x: np.ndarray, window: int, min_values: int) -> tuple[np.ndarray, np.ndarray]:
    """modified_z_array of each trailing window, for every row of a 2-D array at once.

    x: rows of consecutive periods (NaN where a period has no value). For each period t, the
    score of x[:, t] among the values of periods t - window + 1 .. t, and that window's median;
    NaN where x[:, t] is NaN or the window holds fewer than `min_values` values. The same
    numbers as modified_z_array on each window (a month-by-month loop took seconds at national
    scale: 36,000 windows).
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.asarray(x, dtype="float64")
    padded = np.concatenate([np.full((x.shape[0], window - 1), np.nan), x], axis=1)
    w = sliding_window_view(padded, window, axis=1)  # (rows, periods, window), the window ending at each period
    judged = ~np.isnan(x) & ((~np.isnan(w)).sum(axis=2) >= min_values)
    w = w[judged]  # only the windows that are judged: no all-NaN slices
    median = np.nanmedian(w, axis=1)
    deviation = np.abs(w - median[:, None])
    mad = np.nanmedian(deviation, axis=1)
    mean_ad = np.nanmean(deviation, axis=1)
    centred = x[judged] - median
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(mad > 0, MZ_FACTOR * centred / mad,
                         np.where(mean_ad > 0, MEAN_AD_FACTOR * centred / mean_ad, centred * 0.0))
    scores, medians = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    scores[judged], medians[judged] = score, median
    return scores, medians


def is_outlier(score: float) -> bool:
    return bool(not missing(score) and abs(score) > MZ_LIMIT)


def missing(value: object) -> bool:
    """None, NaN, NaT or pandas' NA, as pandas.isna says of one value, without importing pandas."""
    if value is None:
        return True
    try:
        return bool(value != value)  # true only for NaN and NaT
    except TypeError:  # pandas.NA refuses to be a truth value
        return True


def p_value_text(p: float | None, decimal: str = ".") -> str:
    """A p-value as people read it: 'p<0.01' below 0.01 (never 'p=0.00'), 'p<0.05' for a significant
    one that would round to 0.05, else 'p=0.21'; `decimal` ',' for Bahasa Indonesia ('p=0,21').
    Empty when there is none."""
    if missing(p):
        return ""
    p = float(p)
    if p < 0.01:
        text = "p<0.01"
    elif p < ALPHA <= round(p, 2):
        text = f"p<{ALPHA:.2f}"
    else:
        text = f"p={p:.2f}"
    return text.replace(".", decimal)


def change_words(change_pct: float | None, significant: bool | None, lang: str = "id") -> str:
    """A change in words, with whether it is more than chance: 'naik 30%, belum bermakna secara statistik'."""
    if missing(change_pct):
        return "tidak dapat dibandingkan" if lang == "id" else "not comparable"
    pct = abs(round(float(change_pct)))
    if lang == "id":
        head = "tetap" if pct == 0 else f"{'naik' if change_pct > 0 else 'turun'} {pct}%"
        if missing(significant):
            return f"{head}, tanpa uji (tahun tidak lengkap)"
        return f"{head}, {'bermakna secara statistik' if significant else 'belum bermakna secara statistik'}"
    head = "unchanged" if pct == 0 else f"{'up' if change_pct > 0 else 'down'} {pct}%"
    if missing(significant):
        return f"{head}, not tested (incomplete year)"
    return f"{head}, {'statistically significant' if significant else 'not statistically significant'}"


def describe_change(row, prefix: str = "", lang: str = "id", decimal: str = ",") -> str:
    """A year-on-year row's change (marts.yoy_by_region) in words with its p-value, over the same
    months (the months reported in both years): 'naik 30%, belum bermakna secara statistik (p=0,21)'."""
    def value(name: str):
        v = row.get(f"{prefix}{name}")
        return None if missing(v) else v

    pct = value("change_pct_same_months")
    pct = value("change_pct") if pct is None else pct
    significant = value("change_significant")
    text = change_words(None if pct is None else float(pct), None if significant is None else bool(significant), lang)
    p = p_value_text(value("change_p_value"), decimal)
    return f"{text} ({p})" if p else text
