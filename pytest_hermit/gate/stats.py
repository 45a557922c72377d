"""Statistics of the regression gate: is the current run slower than its baseline?

Pure functions on :class:`~pytest_hermit.samples.Samples`; no VM, no files.

The method (``docs/statistics.md`` has the reasons and the measured error rates):

* The unit of evidence is the boot.  Each boot is summarised by the median of
  its repetitions; an arm (baseline or current) by the 20 % trimmed geometric
  mean of its per-boot medians ("location").
* The change is ``current / baseline - 1`` for costs (cycles, ms) and
  ``1 - current / baseline`` for throughputs (MB/s): positive is always worse.
* The interval is a hierarchical bootstrap (resample boots, then repetitions
  inside each chosen boot), expanded for small numbers of boots.
* The rank test is Mann-Whitney U on the per-boot medians.
* Across the metrics of one :func:`judge_all` call the p-values are Holm
  adjusted and the intervals Bonferroni widened.
* Paired A/B runs (``paired=True``): boot i of A with boot i of B, one log
  ratio of boot medians per pair; their mean, Student's t interval and
  one-sample t-test.
* Exact comparisons (``exact_for``): when a metric may be deterministic and
  every value of each side is the same, observed at least twice a side, the
  change itself is the verdict.
* Verdicts: see :class:`Verdict`; ``strict=True`` asks the interval to clear
  the tolerance, not only zero.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pytest_hermit.results import numbers as fmt
from pytest_hermit.results.samples import Direction, Samples


class _LazyScipyStats:
    """scipy.stats, imported on first use: it costs about 1 s and 100 MiB at
    pytest start-up, and most runs compare nothing."""

    def __getattr__(self, name: str) -> Any:
        from scipy import stats

        return getattr(stats, name)


_sps = _LazyScipyStats()

__all__ = [
    "EXACT_MIN_VALUES",
    "EXACT_RTOL",
    "TRIM",
    "Comparison",
    "ConfidenceInterval",
    "ExactFor",
    "Step",
    "Verdict",
    "compare",
    "holm",
    "is_exact",
    "judge_all",
    "location",
    "next_step",
    "next_step_all",
    "planned_looks",
    "spending",
]

#: Fraction trimmed from each end of the sorted per-boot medians.
TRIM = 0.2

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 4000
DEFAULT_SEED = 0

#: Upper bound on the elements one bootstrap chunk materialises (memory cap).
_CHUNK_ELEMENTS = 4_000_000

#: Relative spread under which the values of one side count as identical
#: (exact comparisons): ``max - min <= EXACT_RTOL * max``. Deterministic
#: numbers are equal to the last bit; this only forgives float printing.
EXACT_RTOL = 1e-9

#: Per metric (called with the current samples): may exactness be assumed at all?
ExactFor = Callable[[Samples], bool]


#: How a comparison was decided (``Comparison.method``).
EXACT = "exact"
BOOTSTRAP = "bootstrap"
PAIRED = "paired"


class Verdict(IntEnum):
    """Outcome of one comparison, ordered so that the worst one wins (``max``).

    An improvement outranks "unchanged" because it asks for attention (the
    baseline is stale); "inconclusive" outranks both because nothing was
    decided; a regression outranks everything because it fails the test.
    """

    UNCHANGED = 0
    IMPROVEMENT = 1
    INCONCLUSIVE = 2
    REGRESSION = 3

    @property
    def word(self) -> str:
        """The verb used in messages: ``getpid regressed on kvm``."""
        return _WORDS[self]


_WORDS = {
    Verdict.UNCHANGED: "unchanged",
    Verdict.IMPROVEMENT: "improved",
    Verdict.INCONCLUSIVE: "inconclusive",
    Verdict.REGRESSION: "regressed",
}


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided interval for the relative change (fractions, positive = worse)."""

    low: float
    high: float
    level: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Comparison:
    """The judgement of one metric: baseline against current."""

    metric: str
    unit: str
    direction: Direction
    #: Trimmed geometric mean of the per-boot medians, in ``unit`` (paired:
    #: the plain geometric mean, so that ``change`` is their ratio).
    baseline_location: float
    current_location: float
    #: Relative change, positive = worse (0.156 is +15.6 %).
    change: float
    interval: ConfidenceInterval
    #: Two-sided Mann-Whitney U p-value on the per-boot medians, unadjusted.
    p_value: float
    #: ``p_value`` after Holm's adjustment over the family (equal when alone).
    p_adjusted: float
    #: Number of metrics judged together (the multiple-comparison family).
    family_size: int
    tolerance: float
    #: Family-wise error rate the decisions were made at (1 - confidence).
    alpha: float
    verdict: Verdict
    baseline_boots: int
    baseline_reps: int
    current_boots: int
    current_reps: int
    #: Current-run boots that would likely decide, given this baseline and
    #: the noise seen; ``None`` when decided, or when the baseline itself has
    #: too few boots for any number of current boots to decide.
    boots_needed: int | None
    #: What decided: ``"bootstrap"`` (two samples: bootstrap interval and
    #: Mann-Whitney), ``"paired"`` (A/B pairs: t interval and t-test on the
    #: per-pair log ratios) or ``"exact"`` (every value of each side the
    #: same: the change itself, no test; the interval is the change alone at
    #: level 1, ``p_value``/``p_adjusted`` are 0.0 when the values differ and
    #: 1.0 when they are equal, and the comparison is outside the family).
    method: str = BOOTSTRAP
    #: Strict mode: a regression needs the interval above the tolerance, not
    #: only above zero (and an improvement below minus the tolerance).
    strict: bool = False

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.REGRESSION

    @property
    def exact(self) -> bool:
        return self.method == EXACT

    def message(self, env: str) -> str:
        """One line a person can act on, in the shape of docs/design.md ("Statistics, in brief")."""
        tolerance = f"tolerance {fmt.percent(self.tolerance)}" + (", strict" if self.strict else "")
        if self.exact:
            before, after = fmt.distinct(self.baseline_location, self.current_location)
            samples = _shape(self.current_boots, self.current_reps)
            if (self.baseline_boots, self.baseline_reps) != (self.current_boots, self.current_reps):
                samples += ", baseline " + _shape(self.baseline_boots, self.baseline_reps)
            return (
                f"{self.metric} {self.verdict.word} on {env}: {before} -> {after} {self.unit} "
                f"({fmt.signed_percent_fine(self.change)}, exact: the same in every boot and repetition, "
                f"{tolerance}, {samples})"
            )
        if self.method == PAIRED:
            p = f"paired t-test p={fmt.p_value(self.p_adjusted)}"
            change = f"{fmt.signed_percent(self.change)} paired"
            samples = f"{_plural(self.current_boots, 'pair')} x {_plural(self.current_reps, 'rep')}"
        else:
            p = f"Mann-Whitney p={fmt.p_value(self.p_adjusted)}"
            change = fmt.signed_percent(self.change)
            samples = f"{self.current_boots} boots x {self.current_reps} reps"
            if (self.baseline_boots, self.baseline_reps) != (self.current_boots, self.current_reps):
                samples += f", baseline {self.baseline_boots} boots x {self.baseline_reps} reps"
        if self.family_size > 1:
            p += f" (Holm, {self.family_size} metrics)"
        text = (
            f"{self.metric} {self.verdict.word} on {env}: "
            f"{fmt.decimal(self.baseline_location)} -> {fmt.decimal(self.current_location)} {self.unit} "
            f"({change}, {fmt.percent(self.interval.level, 2)} CI "
            f"{fmt.signed_percent(self.interval.low)}..{fmt.signed_percent(self.interval.high)}, {p}, "
            f"{tolerance}, {samples}"
        )
        if self.verdict is Verdict.INCONCLUSIVE:
            text += "; " + self.advice()
        return text + ")"

    def cells(self) -> dict[str, str]:
        """The comparison as table cells (baseline, current, change, interval, p, verdict)."""
        if self.exact:
            before, after = fmt.distinct(self.baseline_location, self.current_location)
            change = fmt.signed_percent_fine(self.change)
            return {
                "baseline": before,
                "current": after,
                "change": change,
                "interval": "exact",
                "p": "exact",
                "verdict": self.verdict.name.lower(),
            }
        return {
            "baseline": fmt.decimal(self.baseline_location),
            "current": fmt.decimal(self.current_location),
            "change": fmt.signed_percent(self.change),
            "interval": f"{fmt.signed_percent(self.interval.low)}..{fmt.signed_percent(self.interval.high)}",
            "p": fmt.p_value(self.p_adjusted),
            "verdict": self.verdict.name.lower(),
        }

    def advice(self) -> str:
        """What would decide an inconclusive comparison."""
        if self.verdict is not Verdict.INCONCLUSIVE:
            return "decided"
        if self.boots_needed is None:
            return "the baseline has too few boots to decide: record it again with more boots"
        unit = "pairs" if self.method == PAIRED else "boots"
        return f"about {self.boots_needed} {unit} needed"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _shape(boots: int, reps: int) -> str:
    return f"{_plural(boots, 'boot')} x {_plural(reps, 'rep')}"


# --------------------------------------------------------------------------- validation


def _validate_values(s: Samples, role: str) -> None:
    """What every comparison needs: boots with finite values and positive medians."""
    name = f"{role} samples of {s.metric!r}"
    if not s.per_boot:
        raise ValueError(f"{name} are empty: no boots were recorded")
    for i, boot in enumerate(s.per_boot):
        if not boot:
            raise ValueError(f"{name}: boot {i} has no repetitions")
        for v in boot:
            if not math.isfinite(v):
                raise ValueError(f"{name}: boot {i} holds a non-finite value {v!r}")
    bad = [i for i, m in enumerate(s.boot_medians) if m <= 0]
    if bad:
        raise ValueError(
            f"{name}: the median of boot {bad[0]} is not positive; a relative change needs "
            "positive values (cycles, ms, MB/s)"
        )


def _validate_boots(s: Samples, role: str) -> None:
    """What the statistics need on top: at least 2 boots a side."""
    if len(s.per_boot) < 2:
        raise ValueError(
            f"{role} samples of {s.metric!r} have 1 boot; at least 2 are needed per side, because the "
            "variation between boots is the noise the comparison must see (repetitions inside one "
            "boot are not independent); 10 or more are recommended"
        )


def _validate_samples(s: Samples, role: str) -> None:
    _validate_values(s, role)
    _validate_boots(s, role)


def _validate_metadata(baseline: Samples, current: Samples) -> None:
    if baseline.metric != current.metric:
        raise ValueError(f"cannot compare different metrics: baseline {baseline.metric!r}, current {current.metric!r}")
    if baseline.unit != current.unit:
        raise ValueError(
            f"unit mismatch for {baseline.metric!r}: baseline in {baseline.unit!r}, current in {current.unit!r}"
        )
    if baseline.direction is not current.direction:
        raise ValueError(
            f"direction mismatch for {baseline.metric!r}: baseline {baseline.direction.value} is better, "
            f"current {current.direction.value} is better"
        )


def _validate_pair(baseline: Samples, current: Samples) -> None:
    _validate_metadata(baseline, current)
    _validate_samples(baseline, "baseline")
    _validate_samples(current, "current")


#: Observations a side needs before "every value is the same" is an observation rather
#: than a tautology: one value always equals itself.
EXACT_MIN_VALUES = 2


def is_exact(samples: Samples) -> bool:
    """At least :data:`EXACT_MIN_VALUES` values, all the same (within :data:`EXACT_RTOL`)."""
    values = samples.values
    if len(values) < EXACT_MIN_VALUES:
        return False
    low, high = min(values), max(values)
    return high - low <= EXACT_RTOL * max(abs(low), abs(high))


def _validate_settings(tolerance: float, confidence: float, n_resamples: int) -> None:
    if not (0 <= tolerance < 1) or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a fraction in [0, 1) (0.05 for 5%), got {tolerance!r}")
    if not (0 < confidence < 1):
        raise ValueError(f"confidence must lie in (0, 1) (0.95 for 95%), got {confidence!r}")
    if n_resamples < 200:
        raise ValueError(f"n_resamples must be at least 200, got {n_resamples!r}")


# --------------------------------------------------------------------------- estimators


def _trimmed_mean_sorted(sorted_logs: NDArray[np.float64]) -> NDArray[np.float64]:
    """Trimmed mean along the last axis of already sorted values."""
    n = sorted_logs.shape[-1]
    k = int(TRIM * n)
    return np.asarray(sorted_logs[..., k : n - k].mean(axis=-1), dtype=np.float64)


def location(samples: Samples) -> float:
    """The robust location of an arm: 20 % trimmed geometric mean of per-boot medians."""
    logs = np.sort(np.log(np.asarray(samples.boot_medians, dtype=np.float64)))
    return float(np.exp(_trimmed_mean_sorted(logs)))


def _geometric_mean(samples: Samples) -> float:
    """Geometric mean of the per-boot medians (the location a paired comparison shows)."""
    return float(np.exp(np.mean(np.log(np.asarray(samples.boot_medians, dtype=np.float64)))))


def _bootstrap_log_locations(samples: Samples, n_resamples: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Log locations of ``n_resamples`` two-stage bootstrap replicates.

    Each replicate draws B boots with replacement, then the repetitions of
    every drawn boot *without* replacement (Davison and Hinkley 1997, section
    3.8): a boot's median already carries its repetition noise, and drawing
    the repetitions again with replacement counts that noise twice. Measured
    on 6 boots x 5 repetitions with repetition CV 30%: the with-replacement
    variant's 98.75% interval was about 1.3 log units wide, twice what the
    boots support, and missed a 30% slowdown every time. Drawing without
    replacement leaves each boot's median as it is, so the replicate is the
    trimmed mean of the logs of the drawn boots' medians.
    """
    logs_of_boots = np.log(np.asarray(samples.boot_medians, dtype=np.float64))
    n_boots = len(logs_of_boots)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(n_boots, 1))
    out = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, per_chunk):
        n = min(per_chunk, n_resamples - start)
        drawn = logs_of_boots[rng.integers(0, n_boots, size=(n, n_boots))]
        drawn.sort(axis=-1)
        out[start : start + n] = _trimmed_mean_sorted(drawn)
    return out


# --------------------------------------------------------------------------- one metric, raw


@dataclass(frozen=True)
class _Raw:
    """Everything about one pair that does not depend on the decision level."""

    baseline: Samples
    current: Samples
    log_ratio: float
    #: Bootstrap replicates of the log ratio (two samples); empty when paired.
    boot_log_ratios: NDArray[np.float64]
    p_value: float
    #: Two samples: pooled sd of the per-boot log medians. Paired: the sd of
    #: one pair's log ratio.
    pooled_log_sd: float
    method: str = BOOTSTRAP
    #: Paired: standard error of the mean log ratio and its t degrees of freedom.
    paired_se: float = 0.0
    paired_df: int = 1


def _analyse(baseline: Samples, current: Samples, n_resamples: int, seed: int | None) -> _Raw:
    _validate_pair(baseline, current)
    rng = np.random.default_rng(seed)
    log_ratio = math.log(location(current)) - math.log(location(baseline))
    boot = _bootstrap_log_locations(current, n_resamples, rng) - _bootstrap_log_locations(baseline, n_resamples, rng)
    a = np.asarray(baseline.boot_medians, dtype=np.float64)
    b = np.asarray(current.boot_medians, dtype=np.float64)
    if np.ptp(np.concatenate([a, b])) == 0:
        p = 1.0  # every boot identical: no evidence of any difference
    else:
        p = float(_sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    la, lb = np.log(a), np.log(b)
    pooled = math.sqrt(
        (float(np.var(la, ddof=1)) * (len(la) - 1) + float(np.var(lb, ddof=1)) * (len(lb) - 1))
        / (len(la) + len(lb) - 2)
    )
    return _Raw(baseline, current, log_ratio, boot, p, pooled)


def _analyse_paired(baseline: Samples, current: Samples) -> _Raw:
    """Boot i of A against boot i of B: one log ratio of boot medians per pair.

    Point: the mean of the log ratios (the log of the ratio of the arms'
    geometric means). Interval: Student's t on that mean. Test: the
    one-sample t-test on the log ratios. Measured on real interleaved boots
    (``benchmarks/statistics/paired_variants.py``): on a quiet host the
    boot medians are whole cycles and most log ratios tie, so a trimmed
    mean's winsorized variance collapses (its 98.75 % interval covered 66-93 %)
    and the Wilcoxon signed-rank test cannot reach p < 0.0125 below 8 pairs,
    while the t interval covered 96-99.8 % and the t-test found +5 % at 6 pairs.
    """
    _validate_pair(baseline, current)
    if baseline.boots != current.boots:
        raise ValueError(
            f"paired samples of {current.metric!r} need as many boots on each side: "
            f"A has {baseline.boots}, B has {current.boots}"
        )
    a = np.log(np.asarray(baseline.boot_medians, dtype=np.float64))
    b = np.log(np.asarray(current.boot_medians, dtype=np.float64))
    d = b - a
    n = len(d)
    log_ratio = float(d.mean())
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        # every pair shows the same ratio: none (no evidence) or a shift without noise
        p = 1.0 if log_ratio == 0 else 0.0
    else:
        p = float(_sps.ttest_1samp(d, 0.0).pvalue)
    return _Raw(
        baseline,
        current,
        log_ratio,
        np.empty(0, dtype=np.float64),
        p,
        sd,
        method=PAIRED,
        paired_se=sd / math.sqrt(n),
        paired_df=n - 1,
    )


def _to_change(log_ratio: float, direction: Direction) -> float:
    """Relative change from log(current/baseline), signed so that positive is worse."""
    r = math.exp(log_ratio)
    return r - 1 if direction is Direction.LOWER_IS_BETTER else 1 - r


def _interval(raw: _Raw, alpha: float) -> ConfidenceInterval:
    """Studentized interval: the bootstrap's standard error with Welch's t critical value.

    At the levels a family of metrics needs (98.75 % for four), a percentile
    interval of a handful of boots reads the extreme tail of the bootstrap
    distribution, which is made of the few replicates that repeat one
    outlying boot: 6 boots whose getpid all rose 31 % gave -10.8 %..+37.1 %.
    The bootstrap's standard error is stable at these sizes; it is scaled
    from the plug-in to the unbiased variance, and the t quantile with
    Welch's degrees of freedom widens it for few boots.
    """
    va = float(np.var(np.log(raw.baseline.boot_medians), ddof=1)) if raw.baseline.boots > 1 else 0.0
    vb = float(np.var(np.log(raw.current.boot_medians), ddof=1)) if raw.current.boots > 1 else 0.0
    na, nb = raw.baseline.boots, raw.current.boots
    se = float(np.std(raw.boot_log_ratios, ddof=1))
    unbiased = va / na + vb / nb
    plugin = va * (na - 1) / na**2 + vb * (nb - 1) / nb**2
    if plugin > 0:
        se *= math.sqrt(unbiased / plugin)
    if unbiased > 0:
        df = unbiased**2 / ((va / na) ** 2 / max(na - 1, 1) + (vb / nb) ** 2 / max(nb - 1, 1))
    else:
        df = float(max(na + nb - 2, 1))
    half = float(_sps.t.isf(alpha / 2, df)) * se
    return _interval_of(raw, half, alpha)


def _paired_interval(raw: _Raw, alpha: float) -> ConfidenceInterval:
    """Student's t interval of the mean of the per-pair log ratios."""
    return _interval_of(raw, float(_sps.t.isf(alpha / 2, raw.paired_df)) * raw.paired_se, alpha)


def _interval_of(raw: _Raw, half: float, alpha: float) -> ConfidenceInterval:
    """The change interval of ``log_ratio +- half``, signed so that positive is worse."""
    direction = raw.current.direction
    c_lo = _to_change(raw.log_ratio - half, direction)
    c_hi = _to_change(raw.log_ratio + half, direction)
    return ConfidenceInterval(min(c_lo, c_hi), max(c_lo, c_hi), 1 - alpha)


def _min_mw_p(n_a: int, n_b: int) -> float:
    """Smallest two-sided p-value the exact Mann-Whitney test can reach."""
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def _distance(change: float, tolerance: float, strict: bool) -> float:
    """The interval half-width (as a change) that would decide, planning on the point estimate."""
    if strict:
        distance = abs(abs(change) - tolerance)
    else:
        distance = tolerance - abs(change) if abs(change) <= tolerance else abs(change)
    return max(distance, tolerance / 4, 1e-4)


def _boots_needed(raw: _Raw, change: float, tolerance: float, alpha: float, strict: bool = False) -> int | None:
    """Current-run boots (pairs, when paired) that would likely decide, planning on the point estimate."""
    half_width_log = _distance(change, tolerance, strict) / math.exp(raw.log_ratio)
    z = float(_sps.norm.isf(alpha / 2))
    var = raw.pooled_log_sd**2
    if raw.method == PAIRED:
        return max(raw.current.boots + 1, math.ceil(var * (z / half_width_log) ** 2) + 1)
    n_a = raw.baseline.boots
    room = (half_width_log / z) ** 2 - var / n_a
    if room <= 0:
        return None
    n = max(raw.current.boots + 1, math.ceil(var / room) + 1)
    while _min_mw_p(n_a, n) >= alpha and n < 10_000:
        n += 1
    return n if n < 10_000 else None


def _decide(
    raw: _Raw,
    tolerance: float,
    alpha: float,
    interval_alpha: float,
    p_adjusted: float,
    family: int,
    strict: bool = False,
) -> Comparison:
    direction = raw.current.direction
    change = _to_change(raw.log_ratio, direction)
    ci = _paired_interval(raw, interval_alpha) if raw.method == PAIRED else _interval(raw, interval_alpha)
    significant = p_adjusted < alpha
    # Default: the change must be real (interval and test exclude 0) and its
    # point estimate beyond the tolerance. Strict: the interval must clear the
    # tolerance itself, so a true change inside the band is (at the interval's
    # level) never called a regression.
    bar = tolerance if strict else 0.0
    if significant and ci.low > bar and change > tolerance:
        verdict = Verdict.REGRESSION
    elif significant and ci.high < -bar and change < -tolerance:
        verdict = Verdict.IMPROVEMENT
    elif -tolerance <= ci.low and ci.high <= tolerance:
        verdict = Verdict.UNCHANGED
    else:
        verdict = Verdict.INCONCLUSIVE
    needed = _boots_needed(raw, change, tolerance, interval_alpha, strict) if verdict is Verdict.INCONCLUSIVE else None
    return Comparison(
        metric=raw.current.metric,
        unit=raw.current.unit,
        direction=direction,
        baseline_location=_geometric_mean(raw.baseline) if raw.method == PAIRED else location(raw.baseline),
        current_location=_geometric_mean(raw.current) if raw.method == PAIRED else location(raw.current),
        change=change,
        interval=ci,
        p_value=raw.p_value,
        p_adjusted=p_adjusted,
        family_size=family,
        tolerance=tolerance,
        alpha=alpha,
        verdict=verdict,
        baseline_boots=raw.baseline.boots,
        baseline_reps=raw.baseline.reps,
        current_boots=raw.current.boots,
        current_reps=raw.current.reps,
        boots_needed=needed,
        method=raw.method,
        strict=strict,
    )


def _exact_comparison(
    baseline: Samples, current: Samples, tolerance: float, alpha: float, family: int, strict: bool
) -> Comparison:
    """Both sides deterministic: the change is known, and it alone is the verdict.

    A change within :data:`EXACT_RTOL` of the tolerance counts as at the
    tolerance (unchanged): ``15.075 / 15 - 1`` is 0.005000000000000115 in
    floating point, not above a 0.5 % tolerance.
    """
    before = statistics.median(baseline.values)
    after = statistics.median(current.values)
    ratio = after / before
    change = ratio - 1 if current.direction is Direction.LOWER_IS_BETTER else 1 - ratio
    if change > tolerance + EXACT_RTOL:
        verdict = Verdict.REGRESSION
    elif change < -tolerance - EXACT_RTOL:
        verdict = Verdict.IMPROVEMENT
    else:
        verdict = Verdict.UNCHANGED
    p = 1.0 if abs(change) <= EXACT_RTOL else 0.0
    return Comparison(
        metric=current.metric,
        unit=current.unit,
        direction=current.direction,
        baseline_location=before,
        current_location=after,
        change=change,
        interval=ConfidenceInterval(change, change, 1.0),
        p_value=p,
        p_adjusted=p,
        family_size=family,
        tolerance=tolerance,
        alpha=alpha,
        verdict=verdict,
        baseline_boots=baseline.boots,
        baseline_reps=baseline.reps,
        current_boots=current.boots,
        current_reps=current.reps,
        boots_needed=None,
        method=EXACT,
        strict=strict,
    )


# --------------------------------------------------------------------------- public API


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare(
    baseline: Samples,
    current: Samples,
    tolerance: float,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = DEFAULT_SEED,
    exact_for: ExactFor | None = None,
    paired: bool = False,
    strict: bool = False,
) -> Comparison:
    """Judge one metric on its own (a family of one).

    ``tolerance`` is a fraction (0.05 for 5 %). Raises ``ValueError`` on
    unusable input: empty samples, fewer than 2 boots (unless exact), unit
    mismatch, unequal boots when paired. The keywords are those of
    :func:`judge_all`.
    """
    return judge_all(
        [(baseline, current)],
        lambda _s: tolerance,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        exact_for=exact_for,
        paired=paired,
        strict=strict,
    )[0]


def judge_all(
    pairs: Sequence[tuple[Samples, Samples]],
    tolerance_for: Callable[[Samples], float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = DEFAULT_SEED,
    exact_for: ExactFor | None = None,
    paired: bool = False,
    strict: bool = False,
) -> list[Comparison]:
    """Judge the metrics of one run together, controlling the family-wise error.

    ``pairs`` are (baseline, current) samples; ``tolerance_for(current)``
    gives each metric's tolerance. The family-wise false-alarm rate over the
    pairs is at most ``1 - confidence``: p-values are Holm adjusted, intervals
    are Bonferroni widened to ``1 - alpha / m``.

    ``exact_for(current)`` says whether a metric may be deterministic (False
    for host-measured metrics and non-deterministic environments; ``None``:
    never). When it may and every value of each side is the same
    (:func:`is_exact`), the change itself decides (``method="exact"``; one
    boot x one repetition a side is enough) and the metric leaves the family:
    ``m`` counts only the statistical comparisons. A side with any spread
    falls back to the statistics.

    ``paired``: the sides are A/B boots in interleaved pairs, boot i of one
    with boot i of the other (same number of boots); see :func:`_analyse_paired`.

    ``strict``: a regression needs the interval's low end above the
    tolerance (an improvement its high end below minus the tolerance), so
    the false-alarm rate is controlled against changes within the tolerance,
    not only against no change.
    """
    if not pairs:
        return []
    tolerances = [tolerance_for(cur) for _, cur in pairs]
    for t in tolerances:
        _validate_settings(t, confidence, n_resamples)
    alpha = 1 - confidence
    exact = _exactness(pairs, exact_for)
    return _judge(pairs, tolerances, alpha, n_resamples, seed, exact=exact, paired=paired, strict=strict)


def _exactness(pairs: Sequence[tuple[Samples, Samples]], exact_for: ExactFor | None) -> list[bool]:
    """Which pairs are judged exactly (validating what every comparison needs first)."""
    out = []
    for baseline, current in pairs:
        _validate_metadata(baseline, current)
        _validate_values(baseline, "baseline")
        _validate_values(current, "current")
        out.append(exact_for is not None and exact_for(current) and is_exact(baseline) and is_exact(current))
    return out


def _judge(
    pairs: Sequence[tuple[Samples, Samples]],
    tolerances: Sequence[float],
    alpha: float,
    n_resamples: int,
    seed: int | None,
    *,
    exact: Sequence[bool],
    paired: bool = False,
    strict: bool = False,
) -> list[Comparison]:
    seeds: list[int | None]
    if seed is None:
        seeds = [None] * len(pairs)
    else:
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(len(pairs))]
    statistical = [i for i, e in enumerate(exact) if not e]
    raws = {
        i: _analyse_paired(*pairs[i]) if paired else _analyse(*pairs[i], n_resamples, seeds[i]) for i in statistical
    }
    m = len(raws)
    adjusted = dict(zip(statistical, holm([raws[i].p_value for i in statistical]), strict=True))
    out = []
    for i, (baseline, current) in enumerate(pairs):
        if i in raws:
            out.append(_decide(raws[i], tolerances[i], alpha, alpha / m, adjusted[i], m, strict))
        else:
            out.append(_exact_comparison(baseline, current, tolerances[i], alpha, m, strict))
    return out


# --------------------------------------------------------------------------- adaptive sampling


def planned_looks(initial_boots: int, max_boots: int, looks: int = 3) -> tuple[int, ...]:
    """Boot counts of the current run at which the data are examined.

    Equally spaced from ``initial_boots`` to ``max_boots``; fixed before any
    data are seen, as the error control requires.
    """
    if initial_boots < 2:
        raise ValueError(f"initial_boots must be at least 2, got {initial_boots}")
    if max_boots < initial_boots:
        raise ValueError(f"max_boots ({max_boots}) must be at least initial_boots ({initial_boots})")
    if looks < 1:
        raise ValueError(f"looks must be at least 1, got {looks}")
    if looks == 1 or max_boots == initial_boots:
        return (max_boots,)
    points = [round(initial_boots + (max_boots - initial_boots) * k / (looks - 1)) for k in range(looks)]
    return tuple(sorted(set(points)))


def spending(alpha: float, looks: Sequence[int]) -> tuple[float, ...]:
    """Per-look error rates: increments of an O'Brien-Fleming-type spending function.

    ``alpha*(t) = 2 - 2 Phi(z_{alpha/2} / sqrt(t))`` with ``t`` the fraction
    of the maximum boots; the increments sum to ``alpha``, so by the union
    bound the error over all looks is at most ``alpha`` whatever the
    correlation between looks (Bonferroni over the looks, spent unevenly).
    """
    z = float(_sps.norm.isf(alpha / 2))
    total = looks[-1]
    cumulative = [float(2 * _sps.norm.sf(z / math.sqrt(n / total))) for n in looks]
    cumulative[-1] = alpha
    return tuple(c - p for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True))


@dataclass(frozen=True)
class Step:
    """What adaptive sampling says after a look."""

    #: Comparisons at this look's error rate (the final verdicts when ``done``).
    comparisons: tuple[Comparison, ...]
    #: Index of this look in ``looks`` (0-based).
    look: int
    looks: tuple[int, ...]
    #: Error rate spent at this look (family-wise, before Holm/Bonferroni).
    alpha_spent: float
    #: Boots to add to the current run before calling again; 0 when done.
    add_boots: int

    @property
    def done(self) -> bool:
        return self.add_boots == 0

    @property
    def decided(self) -> bool:
        """True when no verdict is inconclusive."""
        return all(c.verdict is not Verdict.INCONCLUSIVE for c in self.comparisons)

    @property
    def verdict(self) -> Verdict:
        return max((c.verdict for c in self.comparisons), default=Verdict.UNCHANGED)

    @property
    def comparison(self) -> Comparison:
        if len(self.comparisons) != 1:
            raise ValueError(f"this step judged {len(self.comparisons)} metrics; use .comparisons")
        return self.comparisons[0]


def next_step_all(
    pairs: Sequence[tuple[Samples, Samples]],
    tolerance_for: Callable[[Samples], float],
    *,
    initial_boots: int,
    max_boots: int,
    looks: int = 3,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = DEFAULT_SEED,
    exact_for: ExactFor | None = None,
    paired: bool = False,
    strict: bool = False,
) -> Step:
    """One look of a group-sequential comparison of the metrics of one workload.

    Run ``initial_boots`` boots, call this, add ``step.add_boots`` boots to
    every current sample, call again, until ``step.done``. Stops early when
    every metric is decided or any regressed. The family-wise false-alarm
    rate over all metrics and all looks stays at most ``1 - confidence``.
    Each look must be taken once, at its planned boot count. When paired,
    boots are pairs: add ``step.add_boots`` to both sides. When every metric
    is exact (``exact_for``, see :func:`judge_all`) the first call is final.
    """
    if not pairs:
        raise ValueError("next_step_all needs at least one (baseline, current) pair")
    tolerances = [tolerance_for(cur) for _, cur in pairs]
    for t in tolerances:
        _validate_settings(t, confidence, n_resamples)
    exact = _exactness(pairs, exact_for)
    boots = min(c.boots for _, c in pairs)
    alpha = 1 - confidence
    if all(exact):
        comparisons = _judge(pairs, tolerances, alpha, n_resamples, seed, exact=exact, strict=strict)
        return Step(tuple(comparisons), 0, (boots,), alpha, 0)
    schedule = planned_looks(initial_boots, max_boots, looks)
    reached = [k for k, n in enumerate(schedule) if n <= boots]
    if not reached:
        raise ValueError(f"the current run has {boots} boots; the first look is planned at {schedule[0]}")
    look = reached[-1]
    per_look = spending(alpha, schedule)
    comparisons = _judge(
        pairs, tolerances, per_look[look], n_resamples, seed, exact=exact, paired=paired, strict=strict
    )
    decided = all(c.verdict is not Verdict.INCONCLUSIVE for c in comparisons)
    regressed = any(c.verdict is Verdict.REGRESSION for c in comparisons)
    last = look == len(schedule) - 1
    add = 0 if (decided or regressed or last) else schedule[look + 1] - boots
    return Step(tuple(comparisons), look, schedule, per_look[look], add)


def next_step(
    baseline: Samples,
    current: Samples,
    tolerance: float,
    *,
    initial_boots: int,
    max_boots: int,
    looks: int = 3,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int | None = DEFAULT_SEED,
    exact_for: ExactFor | None = None,
    paired: bool = False,
    strict: bool = False,
) -> Step:
    """:func:`next_step_all` for a single metric."""
    return next_step_all(
        [(baseline, current)],
        lambda _s: tolerance,
        initial_boots=initial_boots,
        max_boots=max_boots,
        looks=looks,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        exact_for=exact_for,
        paired=paired,
        strict=strict,
    )
