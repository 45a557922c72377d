"""The gate's statistics on seeded synthetic data with known effects.

Noise model (docs/design.md, "Statistics, in brief"): every boot gets a multiplicative
boot effect (CV ``cv_boot``), every repetition a multiplicative repetition
effect (CV ``cv_rep``) on top; a shift multiplies the whole arm.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from pytest_hermit.gate.stats import (
    Comparison,
    ConfidenceInterval,
    Verdict,
    compare,
    holm,
    judge_all,
    location,
    next_step,
    next_step_all,
    planned_looks,
    spending,
)
from pytest_hermit.results.samples import Direction, Samples

RESAMPLES = 1000  # enough for 95 % intervals, fast enough for simulations


def draw(
    rng: np.random.Generator,
    boots: int,
    reps: int,
    *,
    factor: float = 1.0,
    cv_boot: float = 0.2,
    cv_rep: float = 0.1,
    metric: str = "getpid",
    unit: str = "cycles",
    base: float = 9.0,
) -> Samples:
    boot = rng.normal(0, cv_boot, size=boots)
    rep = rng.normal(0, cv_rep, size=(boots, reps))
    values = base * factor * np.exp(boot[:, None] + rep)
    return Samples.of(metric, unit, values.tolist())


def simulate(
    n: int, boots: int, reps: int, *, factor: float, seed: int, cv_boot: float = 0.2, truth: float | None = None
) -> tuple[dict[Verdict, float], float]:
    """Verdict frequencies and interval coverage of ``truth`` over ``n`` comparisons."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(Verdict, 0)
    covered = 0
    truth = factor - 1 if truth is None else truth
    for i in range(n):
        a = draw(rng, boots, reps, cv_boot=cv_boot)
        b = draw(rng, boots, reps, factor=factor, cv_boot=cv_boot)
        c = compare(a, b, 0.05, n_resamples=RESAMPLES, seed=i)
        counts[c.verdict] += 1
        covered += c.interval.contains(truth)
    return {v: k / n for v, k in counts.items()}, covered / n


# --------------------------------------------------------------------------- verdicts and messages


def test_verdicts_are_ordered_so_that_the_worst_wins() -> None:
    assert Verdict.UNCHANGED < Verdict.IMPROVEMENT < Verdict.INCONCLUSIVE < Verdict.REGRESSION
    assert max([Verdict.UNCHANGED, Verdict.REGRESSION, Verdict.INCONCLUSIVE]) is Verdict.REGRESSION
    assert max([Verdict.UNCHANGED, Verdict.IMPROVEMENT]) is Verdict.IMPROVEMENT


def _comparison(**overrides: object) -> Comparison:
    fields: dict[str, object] = dict(
        metric="getpid",
        unit="cycles",
        direction=Direction.LOWER_IS_BETTER,
        baseline_location=9.0,
        current_location=10.4,
        change=0.156,
        interval=ConfidenceInterval(0.121, 0.190, 0.95),
        p_value=0.0003,
        p_adjusted=0.0003,
        family_size=1,
        tolerance=0.05,
        alpha=0.05,
        verdict=Verdict.REGRESSION,
        baseline_boots=10,
        baseline_reps=20,
        current_boots=10,
        current_reps=20,
        boots_needed=None,
    )
    fields.update(overrides)
    return Comparison(**fields)  # type: ignore[arg-type]


def test_the_message_has_exactly_the_shape_of_the_design() -> None:
    assert _comparison().message("kvm") == (
        "getpid regressed on kvm: 9.0 -> 10.4 cycles (+15.6%, 95% CI +12.1%..+19.0%, "
        "Mann-Whitney p=0.0003, tolerance 5%, 10 boots x 20 reps)"
    )


def test_the_message_names_the_family_correction_and_unequal_shapes() -> None:
    text = _comparison(
        family_size=4, p_adjusted=0.0012, interval=ConfidenceInterval(0.1, 0.2, 0.9875), baseline_boots=40
    ).message("hvm")
    assert "98.75% CI" in text
    assert "Mann-Whitney p=0.0012 (Holm, 4 metrics)" in text
    assert text.endswith("10 boots x 20 reps, baseline 40 boots x 20 reps)")


def test_an_inconclusive_message_says_how_many_boots_would_decide() -> None:
    text = _comparison(verdict=Verdict.INCONCLUSIVE, boots_needed=85).message("kvm")
    assert text.startswith("getpid inconclusive on kvm: ")
    assert text.endswith("; about 85 boots needed)")
    text = _comparison(verdict=Verdict.INCONCLUSIVE, boots_needed=None).message("kvm")
    assert "record it again with more boots" in text


# --------------------------------------------------------------------------- validation


def test_empty_samples_are_refused_with_a_reason() -> None:
    good = draw(np.random.default_rng(0), 5, 5)
    with pytest.raises(ValueError, match="current samples of 'getpid' are empty"):
        compare(good, Samples.of("getpid", "cycles", []), 0.05)
    with pytest.raises(ValueError, match="boot 1 has no repetitions"):
        compare(good, Samples.of("getpid", "cycles", [[1.0], []]), 0.05)


def test_one_boot_is_refused_because_boots_are_the_unit_of_evidence() -> None:
    good = draw(np.random.default_rng(0), 5, 5)
    with pytest.raises(ValueError, match=r"have 1 boot; at least 2 are needed.*not independent"):
        compare(Samples.of("getpid", "cycles", [[9.0] * 50]), good, 0.05)


def test_mismatched_units_metrics_and_bad_settings_are_refused() -> None:
    rng = np.random.default_rng(0)
    a = draw(rng, 5, 5)
    with pytest.raises(ValueError, match="unit mismatch for 'getpid': baseline in 'cycles', current in 'ns'"):
        compare(a, draw(rng, 5, 5, unit="ns"), 0.05)
    with pytest.raises(ValueError, match="different metrics"):
        compare(a, draw(rng, 5, 5, metric="malloc"), 0.05)
    with pytest.raises(ValueError, match="tolerance must be a fraction"):
        compare(a, a, 5)
    with pytest.raises(ValueError, match="confidence"):
        compare(a, a, 0.05, confidence=95)
    with pytest.raises(ValueError, match="not positive"):
        compare(a, Samples.of("getpid", "cycles", [[0.0, 0.0], [1.0, 1.0]]), 0.05)
    with pytest.raises(ValueError, match="non-finite"):
        compare(a, Samples.of("getpid", "cycles", [[float("nan")], [1.0]]), 0.05)


# --------------------------------------------------------------------------- clear cases


def test_a_clear_slowdown_is_a_regression_whose_interval_holds_the_truth() -> None:
    rng = np.random.default_rng(1)
    a = draw(rng, 10, 20, cv_boot=0.02)
    b = draw(rng, 10, 20, factor=1.15, cv_boot=0.02)
    c = compare(a, b, 0.05)
    assert c.verdict is Verdict.REGRESSION
    assert c.interval.low > 0.05
    assert c.interval.contains(0.15)
    assert c.change == pytest.approx(c.current_location / c.baseline_location - 1)
    assert c.p_value < 0.001
    assert c.message("kvm").startswith("getpid regressed on kvm: ")


def test_a_quiet_unchanged_metric_is_unchanged() -> None:
    rng = np.random.default_rng(2)
    c = compare(draw(rng, 10, 20, cv_boot=0.01), draw(rng, 10, 20, cv_boot=0.01), 0.05)
    assert c.verdict is Verdict.UNCHANGED
    assert -0.05 <= c.interval.low <= c.interval.high <= 0.05
    assert c.boots_needed is None


def test_throughput_that_drops_is_worse_and_throughput_that_rises_is_better() -> None:
    rng = np.random.default_rng(3)
    base = draw(rng, 10, 5, cv_boot=0.02, metric="Copy", unit="MB/s", base=23342.8)
    assert base.direction is Direction.HIGHER_IS_BETTER
    slower = draw(rng, 10, 5, factor=0.7, cv_boot=0.02, metric="Copy", unit="MB/s", base=23342.8)
    faster = draw(rng, 10, 5, factor=1.3, cv_boot=0.02, metric="Copy", unit="MB/s", base=23342.8)
    down = compare(base, slower, 0.05)
    assert down.verdict is Verdict.REGRESSION
    assert down.change == pytest.approx(0.3, abs=0.03)  # 30 % less throughput reads +30 %
    assert down.interval.low > 0
    up = compare(base, faster, 0.05)
    assert up.verdict is Verdict.IMPROVEMENT
    assert up.change == pytest.approx(-0.3, abs=0.03)
    assert up.interval.high < 0


def test_noise_larger_than_the_tolerance_is_inconclusive_and_says_how_many_boots() -> None:
    rng = np.random.default_rng(4)
    c = compare(draw(rng, 10, 20), draw(rng, 10, 20, factor=1.03), 0.05)
    assert c.verdict is Verdict.INCONCLUSIVE
    assert c.boots_needed is None or c.boots_needed > 10
    rng = np.random.default_rng(12)
    big = compare(draw(rng, 200, 5, cv_boot=0.1), draw(rng, 10, 20, cv_boot=0.1), 0.05)
    assert big.verdict is Verdict.INCONCLUSIVE
    assert big.boots_needed is not None and big.boots_needed > 10


def test_the_location_is_robust_to_an_outlier_boot() -> None:
    clean = Samples.of("getpid", "cycles", [[9.0, 9.0, 9.0]] * 9 + [[9.0, 9.0, 9.0]])
    spoiled = Samples.of("getpid", "cycles", [[9.0, 9.0, 9.0]] * 9 + [[90.0, 90.0, 90.0]])
    assert location(clean) == pytest.approx(9.0)
    assert location(spoiled) == pytest.approx(9.0)


def test_boots_with_different_numbers_of_repetitions_are_handled() -> None:
    a = Samples.of("getpid", "cycles", [[9, 10, 9], [10, 9], [9, 9, 9, 10], [10]] * 3)
    b = Samples.of("getpid", "cycles", [[12, 13, 12], [13, 12], [12, 12, 12, 13], [13]] * 3)
    c = compare(a, b, 0.05)
    assert c.verdict is Verdict.REGRESSION
    assert c.current_reps == 4


def test_results_are_reproducible_and_frozen() -> None:
    rng = np.random.default_rng(5)
    a, b = draw(rng, 10, 20), draw(rng, 10, 20)
    assert compare(a, b, 0.05) == compare(a, b, 0.05)
    with pytest.raises(AttributeError):
        compare(a, b, 0.05).change = 0.0  # type: ignore[misc]


def test_two_thousand_resamples_take_milliseconds() -> None:
    rng = np.random.default_rng(6)
    a, b = draw(rng, 10, 20), draw(rng, 10, 20)
    compare(a, b, 0.05, n_resamples=2000)
    start = time.perf_counter()
    compare(a, b, 0.05, n_resamples=2000)
    assert time.perf_counter() - start < 0.25


# --------------------------------------------------------------------------- error rates (simulated)


def test_a_over_a_false_alarms_stay_near_one_percent() -> None:
    """300 A/A comparisons, 10 boots x 20 reps, boot CV 20 %, rep CV 10 %."""
    rates, coverage = simulate(300, 10, 20, factor=1.0, seed=101)
    assert rates[Verdict.REGRESSION] <= 0.02
    assert rates[Verdict.IMPROVEMENT] <= 0.02
    assert coverage >= 0.95


def test_power_at_a_ten_percent_slowdown_with_enough_boots() -> None:
    """At boot CV 20 % a 10 % shift needs ~100 boots a side for 80 % power (not 10)."""
    rates, coverage = simulate(100, 100, 10, factor=1.10, seed=102)
    assert rates[Verdict.REGRESSION] >= 0.8
    assert coverage >= 0.9


def test_power_at_a_ten_percent_slowdown_on_a_quiet_host_with_ten_boots() -> None:
    """Boot CV 3 % (a quiet KVM host): 10 boots x 20 reps suffice."""
    rates, _ = simulate(100, 10, 20, factor=1.10, seed=103, cv_boot=0.03)
    assert rates[Verdict.REGRESSION] >= 0.8


def test_ten_boots_catch_a_thirty_percent_slowdown_most_of_the_time() -> None:
    rates, coverage = simulate(100, 10, 20, factor=1.30, seed=104)
    assert rates[Verdict.REGRESSION] >= 0.6
    assert coverage >= 0.93


# --------------------------------------------------------------------------- many metrics


def test_holm_adjusts_step_down() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([0.9, 0.3]) == pytest.approx([0.9, 0.6])


def test_judge_all_corrects_for_the_family_of_metrics() -> None:
    rng = np.random.default_rng(7)
    names = ["getpid", "sched_yield", "malloc", "first_page_access"]
    pairs = [
        (draw(rng, 10, 20, metric=n, cv_boot=0.02), draw(rng, 10, 20, metric=n, cv_boot=0.02, factor=f))
        for n, f in zip(names, [1.3, 1.0, 1.0, 1.0], strict=True)
    ]
    tolerances = {"getpid": 0.05, "sched_yield": 0.05, "malloc": 0.2, "first_page_access": 0.05}
    results = judge_all(pairs, lambda s: tolerances[s.metric], n_resamples=RESAMPLES)
    assert [c.metric for c in results] == names
    assert results[0].verdict is Verdict.REGRESSION
    assert all(c.verdict is not Verdict.REGRESSION for c in results[1:])
    assert all(c.family_size == 4 and c.interval.level == pytest.approx(0.9875) for c in results)
    assert all(c.p_adjusted >= c.p_value for c in results)
    assert results[2].tolerance == 0.2
    assert judge_all([], lambda s: 0.05) == []


# --------------------------------------------------------------------------- adaptive sampling


def test_looks_are_planned_evenly_and_spend_exactly_alpha() -> None:
    assert planned_looks(10, 40, 3) == (10, 25, 40)
    assert planned_looks(10, 10, 3) == (10,)
    assert planned_looks(10, 12, 4) == (10, 11, 12)
    spent = spending(0.05, (10, 25, 40))
    assert sum(spent) == pytest.approx(0.05)
    assert spent[0] < spent[1] < spent[2]
    with pytest.raises(ValueError, match="max_boots"):
        planned_looks(10, 5)


def test_a_big_slowdown_stops_at_the_first_look() -> None:
    rng = np.random.default_rng(8)
    step = next_step(
        draw(rng, 20, 10, cv_boot=0.05),
        draw(rng, 10, 10, factor=1.5, cv_boot=0.05),
        0.05,
        initial_boots=10,
        max_boots=40,
        n_resamples=RESAMPLES,
    )
    assert step.done and step.look == 0
    assert step.comparison.verdict is Verdict.REGRESSION


def test_an_undecided_look_asks_for_the_next_planned_boots_and_the_last_look_is_final() -> None:
    rng = np.random.default_rng(9)
    base = draw(rng, 40, 10)
    current = draw(rng, 10, 10, factor=1.02)
    step = next_step(base, current, 0.05, initial_boots=10, max_boots=40, n_resamples=RESAMPLES)
    assert not step.done and step.add_boots == 15 and step.looks == (10, 25, 40)
    more = Samples(current.metric, current.unit, current.per_boot + draw(rng, 30, 10, factor=1.02).per_boot)
    final = next_step(base, more, 0.05, initial_boots=10, max_boots=40, n_resamples=RESAMPLES)
    assert final.done and final.look == 2
    assert final.alpha_spent == pytest.approx(spending(0.05, (10, 25, 40))[2])


def test_sequential_a_over_a_false_alarms_stay_controlled() -> None:
    """100 A/A runs through all looks (10 -> 25 -> 40 boots): regressions at any look."""
    rng = np.random.default_rng(110)
    alarms = 0
    for i in range(100):
        base = draw(rng, 40, 5)
        pool = draw(rng, 40, 5)
        boots = 10
        while True:
            current = Samples(pool.metric, pool.unit, pool.per_boot[:boots])
            step = next_step_all(
                [(base, current)], lambda s: 0.05, initial_boots=10, max_boots=40, n_resamples=RESAMPLES, seed=i
            )
            if step.done:
                break
            boots += step.add_boots
        alarms += step.verdict is Verdict.REGRESSION
    assert alarms / 100 <= 0.03


def test_next_step_refuses_a_run_shorter_than_the_first_look() -> None:
    rng = np.random.default_rng(11)
    with pytest.raises(ValueError, match="first look is planned at 10"):
        next_step(draw(rng, 10, 5), draw(rng, 5, 5), 0.05, initial_boots=10, max_boots=20)
