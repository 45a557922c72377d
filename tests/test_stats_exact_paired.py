"""Exact comparisons, paired A/B analysis and strict mode of the gate's statistics.

Same noise model as tests/test_stats.py (multiplicative boot and repetition
effects); paired data add a drift common to both boots of a pair (the host's
load at that moment), which pairing cancels and two independent samples do not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_hermit.gate.stats import (
    EXACT_RTOL,
    Verdict,
    compare,
    is_exact,
    judge_all,
    next_step_all,
)
from pytest_hermit.results import numbers as fmt
from pytest_hermit.results.samples import Samples
from tests.test_stats import RESAMPLES, draw


def always(_s: Samples) -> bool:
    return True


def const(value: float, boots: int = 2, reps: int = 1, *, metric: str = "getpid", unit: str = "cycles") -> Samples:
    return Samples.of(metric, unit, [[value] * reps] * boots)


# --------------------------------------------------------------------------- exact comparisons


def test_identical_values_are_judged_exactly_with_two_observations_a_side() -> None:
    c = compare(const(15.0), const(15.3), 0.005, exact_for=always)
    assert c.method == "exact" and c.exact
    assert c.verdict is Verdict.REGRESSION
    assert c.change == pytest.approx(0.02)
    assert (c.interval.low, c.interval.high, c.interval.level) == (c.change, c.change, 1.0)
    assert (c.p_value, c.p_adjusted, c.boots_needed) == (0.0, 0.0, None)
    assert c.message("icount") == (
        "getpid regressed on icount: 15.000 -> 15.300 cycles (+2.0%, exact: the same in every boot and "
        "repetition, tolerance 0.5%, 2 boots x 1 rep)"
    )
    assert c.cells()["p"] == "exact"


def test_one_value_a_side_is_never_exact_because_one_value_always_equals_itself() -> None:
    assert not is_exact(const(15.0, 1, 1))
    assert is_exact(const(15.0, 1, 2)), "two repetitions of one boot are two observations"
    with pytest.raises(ValueError, match="have 1 boot"):
        compare(const(15.0, 1, 1), const(15.3, 1, 1), 0.005, exact_for=always)
    with pytest.raises(ValueError, match="have 1 boot"):
        compare(const(15.0, 2, 1), const(15.3, 1, 1), 0.005, exact_for=always)


def test_exact_verdicts_are_the_change_against_the_tolerance_never_inconclusive() -> None:
    cases = [
        (15.3, Verdict.REGRESSION),
        (14.7, Verdict.IMPROVEMENT),
        (15.03, Verdict.UNCHANGED),
        (15.0, Verdict.UNCHANGED),
    ]
    for after, verdict in cases:
        c = compare(const(15.0, 3, 5), const(after, 2, 4), 0.005, exact_for=always)
        assert c.verdict is verdict, after
    same = compare(const(15.0), const(15.0), 0.0, exact_for=always)
    assert same.verdict is Verdict.UNCHANGED and same.p_value == 1.0
    # exactly at the tolerance is unchanged, whatever floating point makes of 15.075 / 15 - 1
    assert compare(const(15.0), const(15.075), 0.005, exact_for=always).verdict is Verdict.UNCHANGED
    # a throughput that drops is worse
    down = compare(const(100.0, unit="MB/s"), const(90.0, unit="MB/s"), 0.05, exact_for=always)
    assert down.verdict is Verdict.REGRESSION and down.change == pytest.approx(0.1)


def test_exact_messages_show_enough_digits_for_the_change() -> None:
    text = compare(const(15.0), const(15.03), 0.001, exact_for=always).message("icount")
    assert "15.000 -> 15.030 cycles (+0.20%, exact" in text
    assert "regressed" in text
    text = compare(const(5858.0, 2, 3), const(5858.6, 4, 3), 0.0, exact_for=always).message("icount")
    assert "5858.0 -> 5858.6 cycles (+0.010%, exact" in text
    assert text.endswith("4 boots x 3 reps, baseline 2 boots x 3 reps)")


def test_numbers_distinct_and_fine_percent() -> None:
    assert fmt.distinct(15.0, 15.3) == ("15.000", "15.300")
    assert fmt.distinct(13758.0, 13759.0) == ("13758", "13759")
    assert fmt.distinct(15.0, 15.0000001) == ("15.0000000", "15.0000001")
    assert fmt.distinct(0.123, 0.1231) == ("0.12300", "0.12310")
    assert fmt.signed_percent_fine(0.02) == "+2.0%"
    assert fmt.signed_percent_fine(0.002) == "+0.20%"
    assert fmt.signed_percent_fine(-1.3e-5) == "-0.0013%"
    assert fmt.signed_percent_fine(0.0) == "+0.0%"


def test_values_within_the_relative_epsilon_count_as_identical() -> None:
    assert is_exact(const(15.0, 3, 3))
    assert is_exact(Samples.of("getpid", "cycles", [[15.0, 15.0 * (1 + EXACT_RTOL / 2)]]))
    assert not is_exact(Samples.of("getpid", "cycles", [[15.0, 15.0 * (1 + 10 * EXACT_RTOL)]]))
    assert not is_exact(Samples.of("getpid", "cycles", [[15.0], [15.1]]))


def test_spread_or_a_refusal_of_exactness_falls_back_to_the_statistics() -> None:
    rng = np.random.default_rng(21)
    noisy = draw(rng, 10, 5, cv_boot=0.01)
    c = compare(const(9.0, 10, 5), noisy, 0.05, exact_for=always, n_resamples=RESAMPLES)
    assert c.method == "bootstrap"
    # the statistics still refuse one boot
    with pytest.raises(ValueError, match="have 1 boot"):
        compare(const(15.0), Samples.of("getpid", "cycles", [[15.0, 15.2]]), 0.05, exact_for=always)
    # host-measured metric, or a non-deterministic environment: never exact
    with pytest.raises(ValueError, match="have 1 boot"):
        compare(const(15.0, 1, 2), const(15.3, 1, 2), 0.05, exact_for=lambda s: False)
    with pytest.raises(ValueError, match="have 1 boot"):
        compare(const(15.0, 1, 2), const(15.3, 1, 2), 0.05)
    c = compare(const(15.0, 5, 2), const(15.3, 5, 2), 0.005, exact_for=lambda s: s.metric != "getpid")
    assert c.method == "bootstrap"
    # exact still validates what every comparison needs
    with pytest.raises(ValueError, match="unit mismatch"):
        compare(const(15.0), const(15.0, unit="ns"), 0.05, exact_for=always)
    with pytest.raises(ValueError, match="not positive"):
        compare(const(0.0), const(1.0), 0.05, exact_for=always)


def test_exact_comparisons_take_no_part_in_the_holm_family() -> None:
    rng = np.random.default_rng(22)
    stat_a, stat_b = draw(rng, 10, 10, metric="malloc", cv_boot=0.02), draw(rng, 10, 10, metric="malloc", cv_boot=0.02)
    pairs = [
        (const(15.0, 10, 10), const(15.0, 10, 10)),
        (stat_a, stat_b),
        (const(120.0, 10, 10, metric="sched_yield"), const(130.0, 10, 10, metric="sched_yield")),
    ]
    family = judge_all(pairs, lambda s: 0.05, exact_for=always, n_resamples=RESAMPLES)
    alone = compare(stat_a, stat_b, 0.05, n_resamples=RESAMPLES, seed=None)
    assert [c.method for c in family] == ["exact", "bootstrap", "exact"]
    assert all(c.family_size == 1 for c in family)
    assert family[1].interval.level == pytest.approx(0.95)
    assert family[1].p_adjusted == family[1].p_value == pytest.approx(alone.p_value)
    assert family[2].verdict is Verdict.REGRESSION
    assert "Holm" not in family[1].message("icount")


def test_next_step_is_final_at_once_when_every_metric_is_exact() -> None:
    step = next_step_all(
        [(const(15.0), const(15.3)), (const(9.0, metric="malloc"), const(9.0, metric="malloc"))],
        lambda s: 0.05,
        initial_boots=1,
        max_boots=40,
        exact_for=always,
    )
    assert step.done and step.decided
    assert [c.verdict for c in step.comparisons] == [Verdict.UNCHANGED, Verdict.UNCHANGED]
    # a noisy metric among exact ones goes through the planned looks as before
    rng = np.random.default_rng(23)
    step = next_step_all(
        [
            (const(15.0, 10, 5), const(15.0, 10, 5)),
            (draw(rng, 40, 5, metric="malloc"), draw(rng, 10, 5, metric="malloc", factor=1.02)),
        ],
        lambda s: 0.05,
        initial_boots=10,
        max_boots=40,
        exact_for=always,
        n_resamples=RESAMPLES,
    )
    assert step.looks == (10, 25, 40) and step.add_boots == 15
    assert step.comparisons[0].method == "exact" and step.comparisons[1].family_size == 1


# --------------------------------------------------------------------------- paired A/B analysis


def drifting_pairs(
    rng: np.random.Generator, pairs: int, reps: int, *, factor: float, drift: float = 0.3, own: float = 0.03
) -> tuple[Samples, Samples]:
    """A/B boots in pairs: a large drift shared by the two boots of a pair, small noise of their own."""
    common = rng.normal(0, drift, size=pairs)

    def side(f: float) -> Samples:
        values = (
            9.0
            * f
            * np.exp(common[:, None] + rng.normal(0, own, size=(pairs, 1)) + rng.normal(0, 0.05, size=(pairs, reps)))
        )
        return Samples.of("getpid", "cycles", values.tolist())

    return side(1.0), side(factor)


def test_a_shift_under_large_common_drift_is_found_paired_and_missed_unpaired() -> None:
    rng = np.random.default_rng(31)
    a, b = drifting_pairs(rng, 10, 5, factor=1.15)
    paired = compare(a, b, 0.05, paired=True)
    unpaired = compare(a, b, 0.05)
    assert paired.method == "paired" and paired.verdict is Verdict.REGRESSION
    assert paired.interval.contains(0.15)
    assert unpaired.method == "bootstrap" and unpaired.verdict is not Verdict.REGRESSION
    assert unpaired.interval.high - unpaired.interval.low > 4 * (paired.interval.high - paired.interval.low)
    text = paired.message("qemu")
    assert "(+18.3% paired, " in text and "paired t-test p=" in text and text.endswith("10 pairs x 5 reps)")


def test_paired_detection_rate_beats_unpaired_on_drifting_pairs() -> None:
    rng = np.random.default_rng(32)
    hits = {True: 0, False: 0}
    for i in range(100):
        a, b = drifting_pairs(rng, 10, 5, factor=1.10)
        for paired in (True, False):
            hits[paired] += compare(a, b, 0.05, paired=paired, n_resamples=RESAMPLES, seed=i).failed
    assert hits[True] >= 80
    assert hits[False] <= 20


def test_paired_a_over_a_false_alarms_and_coverage() -> None:
    """300 A/A pair sets of 10 pairs, boot CV 20 % of their own, common drift 30 %."""
    rng = np.random.default_rng(33)
    verdicts = {Verdict.REGRESSION: 0, Verdict.IMPROVEMENT: 0}
    covered = 0
    for _ in range(300):
        a, b = drifting_pairs(rng, 10, 5, factor=1.0, own=0.2)
        c = compare(a, b, 0.05, paired=True)
        verdicts[c.verdict] = verdicts.get(c.verdict, 0) + 1
        covered += c.interval.contains(0.0)
    # nominal: 2.5 % each way (the t-test and the t interval agree)
    assert verdicts[Verdict.REGRESSION] / 300 <= 0.035
    assert verdicts[Verdict.IMPROVEMENT] / 300 <= 0.035
    assert covered / 300 >= 0.93


def test_paired_needs_as_many_boots_on_each_side_and_says_pairs_when_undecided() -> None:
    rng = np.random.default_rng(34)
    with pytest.raises(ValueError, match="as many boots on each side: A has 10, B has 9"):
        compare(draw(rng, 10, 5), draw(rng, 9, 5), 0.05, paired=True)
    a, b = drifting_pairs(rng, 6, 5, factor=1.03, own=0.2)
    c = compare(a, b, 0.05, paired=True)
    assert c.verdict is Verdict.INCONCLUSIVE
    assert c.boots_needed is not None and c.boots_needed > 6
    assert c.advice() == f"about {c.boots_needed} pairs needed"


def test_paired_adaptive_looks_add_pairs() -> None:
    rng = np.random.default_rng(35)
    a, b = drifting_pairs(rng, 40, 5, factor=1.02, own=0.15)

    def first(s: Samples, n: int) -> Samples:
        return Samples(s.metric, s.unit, s.per_boot[:n])

    step = next_step_all([(first(a, 10), first(b, 10))], lambda s: 0.05, initial_boots=10, max_boots=40, paired=True)
    assert not step.done and step.add_boots == 15
    assert step.comparison.method == "paired"
    step = next_step_all([(a, b)], lambda s: 0.05, initial_boots=10, max_boots=40, paired=True)
    assert step.done and step.look == 2


def test_paired_identical_pairs_are_unchanged() -> None:
    a = Samples.of("getpid", "cycles", [[9.0, 9.0], [10.0, 10.0], [11.0, 11.0]] * 3)
    c = compare(a, a, 0.05, paired=True)
    assert c.verdict is Verdict.UNCHANGED and c.p_value == 1.0 and c.change == 0.0


# --------------------------------------------------------------------------- strict mode


def test_strict_mode_never_calls_a_change_inside_the_tolerance_a_regression() -> None:
    """+4 % at 5 % tolerance, 40 x 10 boots, boot CV 3 %: default calls it a regression
    now and then (its point estimate lands above 5 %), strict never does."""
    rng = np.random.default_rng(41)
    default = strict = 0
    for i in range(200):
        a = draw(rng, 40, 10, cv_boot=0.03)
        b = draw(rng, 40, 10, cv_boot=0.03, factor=1.04)
        default += compare(a, b, 0.05, n_resamples=RESAMPLES, seed=i).failed
        c = compare(a, b, 0.05, n_resamples=RESAMPLES, seed=i, strict=True)
        strict += c.failed
        assert c.strict
    assert default >= 5
    assert strict == 0


def test_strict_mode_still_finds_a_clear_regression_and_says_strict() -> None:
    rng = np.random.default_rng(42)
    a, b = draw(rng, 20, 10, cv_boot=0.02), draw(rng, 20, 10, cv_boot=0.02, factor=1.15)
    c = compare(a, b, 0.05, strict=True)
    assert c.verdict is Verdict.REGRESSION and c.interval.low > 0.05
    assert "tolerance 5%, strict, 20 boots" in c.message("kvm")
    up = compare(b, a, 0.05, strict=True)
    assert up.verdict is Verdict.IMPROVEMENT and up.interval.high < -0.05


def test_strict_mode_leaves_a_likely_but_unproven_regression_inconclusive() -> None:
    rng = np.random.default_rng(43)
    a, b = draw(rng, 40, 10, cv_boot=0.03), draw(rng, 40, 10, cv_boot=0.03, factor=1.065)
    default = compare(a, b, 0.05)
    strict = compare(a, b, 0.05, strict=True)
    assert default.verdict is Verdict.REGRESSION
    assert strict.verdict is Verdict.INCONCLUSIVE
    assert strict.interval.low <= 0.05 < strict.change
    assert strict.boots_needed is not None and strict.boots_needed > 40
    assert not math.isnan(strict.p_value)
