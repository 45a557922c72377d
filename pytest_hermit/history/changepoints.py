"""Change points of one history series: where a metric stepped, by how much, and how sure that is.

Pure: a series is given as its points in commit order, each point the
per-boot values (boot medians) of every record of that commit, pooled.

The method, step by step:

1. **One value per point**, the median of its per-boot values. The commit
   is the unit the question is about ("which commit?"), and a median keeps
   one odd boot from moving a point.
2. **Noise.** The standard deviation of a point's median, relative to the
   series' level, estimated robustly in two ways and the larger one kept:
   from the spread of the boots inside the points (MAD, scaled to the
   median of that many boots), and from the differences of consecutive
   point medians (MAD of the differences over sqrt 2; a step is one
   difference among many, so it barely moves this estimate). The second
   sees what the first cannot: a whole run drifting with the host's state
   (docs/design.md measured 20-23 % boot-to-boot CV under timed TCG, and
   runs that drift by more).
3. **Candidates** from PELT (:mod:`ruptures`, least-squares cost on the
   relative point medians, every point a possible start of a segment,
   segments of one point allowed so that a step at the last commit is
   seen) with the penalty ``PENALTY_FACTOR * noise**2 * log(n)``: a split
   must explain more than noise would, as in the BIC for a change in mean.
4. **Placement.** Each candidate is moved to the commit boundary, between
   its neighbouring change points, where every boot of the points on either
   side separates best (least squares, PELT's own cost, on the per-boot
   values): one median per point can land a step one commit early or late.
5. **Tests.** Each candidate is judged against its neighbouring segments:
   its size is the relative change of the segments' medians (of their point
   medians); its p-value the larger of a two-sided Mann-Whitney U test
   between the segments' per-boot values (boot by boot) and a z-test of the
   segment medians against the noise of step 2 (run by run: drift between
   runs makes boots of one run alike, and the first test blind to it), both
   Bonferroni adjusted for the positions the split could have taken (it was
   placed where the segments differ most). A candidate smaller than
   ``min_change`` or not significant at ``alpha`` is dropped, the weakest
   first (highest p, then smallest size), and the others are placed and
   judged again with the merged segments, until every one left passes.
6. **Exact series** (icount: every boot of every point the same value, and
   the metric is counted, not timed): the noise is zero and every
   difference between consecutive points is a step; any change above the
   exactness epsilon (:data:`~pytest_hermit.gate.stats.EXACT_RTOL`)
   counts, whatever ``min_change`` says, and its certainty is ``exact``
   instead of a p-value. PELT's optimum with a vanishing penalty is exactly
   that set of steps; it is computed directly here, because PELT's
   floating-point segment costs are not zero at that scale.

Measured (``benchmarks/history_changepoints.py``, 400 flat and 200 stepped
series each, 3 % CV per boot): no false change point in flat series of 20
commits x 10 boots, 20 x 1 or 50 x 5; 2.8 % of flat series with 1 %
drift between runs had one. A +5 % step in the middle of 20 x 10 is found
at its commit in 99 %; at the last commit in 62 % (90 % with 20 boots):
a single run that differs could be drift, so a step at the edge needs
more boots, or the next commit, to be called.

Why ruptures (BSD-2, maintained, a wheel that needs only numpy and scipy): Apache
Otava 0.8 pins numpy==2.2.0 exactly and pulls google-cloud-bigquery,
slack-sdk and pg8000; MongoDB's signal-processing-algorithms needs
Python < 3.12, numpy < 2 and gevent. Either would dictate this plugin's
users' numpy or Python.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_hermit.gate.stats import EXACT_MIN_VALUES, EXACT_RTOL

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MIN_CHANGE",
    "PENALTY_FACTOR",
    "ChangePoint",
    "Detection",
    "detect",
    "is_constant",
]

#: Smallest relative change reported in a series that is not exact (1 %).
DEFAULT_MIN_CHANGE = 0.01
#: Significance level of the segment test.
DEFAULT_ALPHA = 0.01
#: Penalty per change point, in units of noise**2 * log(n) (BIC for a change in mean: 2).
PENALTY_FACTOR = 2.0
#: Points needed before the differences of consecutive medians say anything about the noise.
_MIN_POINTS_FOR_DIFFERENCES = 5
#: MAD -> standard deviation of a normal distribution.
_MAD_TO_SD = 1.4826
#: Standard error of a median over that of a mean, for normal data (sqrt(pi / 2)).
_MEDIAN_EFFICIENCY = math.sqrt(math.pi / 2)


@dataclass(frozen=True)
class ChangePoint:
    """A step between point ``index - 1`` (the last before it) and point ``index`` (the first after it)."""

    index: int
    #: Median of the point medians of the segment before and of the one after.
    before: float
    after: float
    #: ``after / before - 1``: +0.067 is a rise of 6.7 % (a rise is worse for costs, better for throughputs).
    change: float
    #: Two-sided Mann-Whitney U p-value between the segments' per-boot values; None when exact.
    p_value: float | None
    #: Both segments hold one value each, repeated in every boot: the change is certain.
    exact: bool
    #: Per-boot values in the segment before and after.
    n_before: int
    n_after: int


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found, with what it found it from (like scipy's result objects: read by name)."""

    change_points: tuple[ChangePoint, ...]
    #: Indices PELT proposed (every step in an exact series), before the tests.
    candidates: tuple[int, ...]
    #: Estimated standard deviation of a point's median, relative to the series' level (0 when exact).
    noise: float
    #: PELT's penalty on the relative point medians (0 when exact: no PELT run).
    penalty: float
    #: Every point held one value in every boot and the metric may be exact.
    exact: bool


def is_constant(values: Sequence[float]) -> bool:
    """At least two values, all the same up to float printing (the gate's exactness rule:
    one value always equals itself, so a point of one boot and one repetition proves nothing)."""
    if len(values) < EXACT_MIN_VALUES:
        return False
    top, bottom = max(values), min(values)
    return top - bottom <= EXACT_RTOL * max(abs(top), abs(bottom))


def _relative_change(before: float, after: float) -> float:
    if before == after:
        return 0.0
    if before == 0:
        return math.inf if after > before else -math.inf
    return (after - before) / abs(before)


def _validate(points: Sequence[Sequence[float]]) -> list[list[float]]:
    out = []
    for i, values in enumerate(points):
        vals = [float(v) for v in values]
        if not vals:
            raise ValueError(f"point {i} of the series has no values: every point needs at least one boot")
        bad = [v for v in vals if not math.isfinite(v)]
        if bad:
            raise ValueError(f"point {i} of the series holds {bad[0]!r}: values must be finite numbers")
        out.append(vals)
    return out


def _noise(points: list[list[float]], medians: list[float], scale: float) -> float:
    """Relative standard deviation of one point's median (see the module docstring, step 2)."""
    estimates = []
    residuals = [
        abs(v - m) / scale for values, m in zip(points, medians, strict=True) if len(values) > 1 for v in values
    ]
    if residuals:
        boots = statistics.median(len(values) for values in points if len(values) > 1)
        sd = _MAD_TO_SD * statistics.median(residuals)
        estimates.append(_MEDIAN_EFFICIENCY * sd / math.sqrt(boots))
    if len(medians) >= _MIN_POINTS_FOR_DIFFERENCES or not residuals:
        diffs = [abs(b - a) / scale for a, b in itertools.pairwise(medians)]
        if diffs:
            estimates.append(_MAD_TO_SD * statistics.median(diffs) / math.sqrt(2))
    return max(estimates, default=0.0)


def _pelt(signal: list[float], penalty: float) -> list[int]:
    """Starts of the segments after the first, as PELT places them."""
    import numpy as np
    import ruptures  # imported here: it costs half a second, and only `pytest-hermit history` needs it

    algo: Any = ruptures.Pelt(model="l2", min_size=1, jump=1)
    ends = algo.fit(np.asarray(signal, dtype=float).reshape(-1, 1)).predict(pen=penalty)
    return [int(e) for e in ends[:-1]]


def _mann_whitney(a: list[float], b: list[float]) -> float:
    from scipy import stats

    p = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p  # all values equal: nothing tells the segments apart


def _z_test(before: float, after: float, k_before: int, k_after: int, noise: float, scale: float) -> float:
    """Two-sided p of the difference of two segment medians, each of k point medians of relative SD ``noise``."""
    from scipy import stats

    def variance(k: int) -> float:
        # the median of one or two values is their mean; of more, it costs a factor pi/2 in variance
        return (noise**2) * (1.0 if k <= 2 else _MEDIAN_EFFICIENCY**2) / k

    z = abs(after - before) / scale / math.sqrt(variance(k_before) + variance(k_after))
    return float(2 * stats.norm.sf(z))


def _refine(points: list[list[float]], start: int, at: int, end: int) -> int:
    """The split of points [start, end) where the per-boot values separate best (least squares, as PELT's cost).

    PELT saw one median per point; a step of a few noise widths can land a
    point early or late there, and every boot of the points on either side
    tells which is right.
    """
    best, best_gain = at, -1.0
    values = [v for p in points[start:end] for v in p]
    total, count = sum(values), len(values)
    left_sum = 0.0
    left_n = 0
    for i in range(start, end - 1):
        left_sum += sum(points[i])
        left_n += len(points[i])
        right_n = count - left_n
        diff = left_sum / left_n - (total - left_sum) / right_n
        gain = left_n * right_n / count * diff * diff
        if gain > best_gain:
            best, best_gain = i + 1, gain
    return best


@dataclass(frozen=True)
class _Series:
    """The validated series and what every judgement of it shares."""

    points: list[list[float]]
    medians: list[float]
    scale: float
    noise: float
    exact_allowed: bool


def _judge(s: _Series, bounds: list[int], k: int) -> ChangePoint:
    """Change point ``bounds[k]`` against the segments on either side (``bounds`` starts with 0, ends with n).

    Not exact: the p-value is the larger of two tests, each Bonferroni
    adjusted for the positions the split could have taken between its
    neighbours (the position was chosen because it separates best, so a
    plain p-value would be too small): Mann-Whitney U between the segments'
    per-boot values (boot by boot) and a z-test of the segment medians
    against the series' noise (run by run, drift between runs included).
    """
    start, at, end = bounds[k - 1], bounds[k], bounds[k + 1]
    before_vals = [v for p in s.points[start:at] for v in p]
    after_vals = [v for p in s.points[at:end] for v in p]
    before = statistics.median(s.medians[start:at])
    after = statistics.median(s.medians[at:end])
    exact = s.exact_allowed and is_constant(before_vals) and is_constant(after_vals)
    p = None
    if not exact:
        positions = end - start - 1
        raw = max(
            _mann_whitney(before_vals, after_vals),
            _z_test(before, after, at - start, end - at, s.noise, s.scale),
        )
        p = min(1.0, raw * positions)
    return ChangePoint(at, before, after, _relative_change(before, after), p, exact, len(before_vals), len(after_vals))


def _passes(cp: ChangePoint, min_change: float, alpha: float) -> bool:
    if cp.exact:
        return abs(cp.change) > EXACT_RTOL
    assert cp.p_value is not None
    return abs(cp.change) >= min_change and cp.p_value < alpha


def detect(
    points: Sequence[Sequence[float]],
    *,
    min_change: float = DEFAULT_MIN_CHANGE,
    alpha: float = DEFAULT_ALPHA,
    exact_allowed: bool = True,
) -> Detection:
    """The change points of a series (see the module docstring for the method).

    ``points[i]`` are the per-boot values of point i (a commit), in commit
    order. ``exact_allowed``: the metric is counted (icount), so identical
    values mean an exact series; a timed metric never is. A series of fewer
    than three points has no change point: a step needs a level on each side
    and a point to tell noise from it. ValueError for a point without values
    or with a value that is not finite, naming the point.
    """
    if not 0 <= min_change < 1:
        raise ValueError(f"min_change must be a fraction in [0, 1), got {min_change!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    pts = _validate(points)
    n = len(pts)
    medians = [statistics.median(p) for p in pts]
    exact = exact_allowed and all(is_constant(p) for p in pts)
    if n < 3:
        return Detection((), (), 0.0, 0.0, exact)
    scale = statistics.median(abs(m) for m in medians) or 1.0
    if exact:
        noise = penalty = 0.0
        candidates = [i for i in range(1, n) if not is_constant([medians[i - 1], medians[i]])]
    else:
        # A timed series that happens to repeat its values still gets a penalty above float noise.
        noise = max(_noise(pts, medians, scale), EXACT_RTOL)
        penalty = PENALTY_FACTOR * noise**2 * math.log(n)
        candidates = _pelt([m / scale for m in medians], penalty)
    series = _Series(pts, medians, scale, noise, exact_allowed)
    kept = list(candidates)
    while True:
        bounds = [0, *kept, n]
        if not exact:
            for k in range(1, len(bounds) - 1):
                bounds[k] = _refine(pts, bounds[k - 1], bounds[k], bounds[k + 1])
            kept = bounds[1:-1]
        judged = [_judge(series, bounds, k) for k in range(1, len(bounds) - 1)]
        failing = [cp for cp in judged if not _passes(cp, min_change, alpha)]
        if not failing:
            break
        weakest = max(failing, key=lambda cp: (cp.p_value if cp.p_value is not None else 0.0, -abs(cp.change)))
        kept.remove(weakest.index)
    return Detection(tuple(judged), tuple(candidates), noise, penalty, exact)
