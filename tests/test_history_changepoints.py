"""Change points on plain numbers: steps found at their commit with their size, none in flat series."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_hermit.history.changepoints import detect


def _noisy(rng: np.random.Generator, levels: list[float], boots: int, cv: float) -> list[list[float]]:
    return [list(level * (1 + rng.normal(0, cv, boots))) for level in levels]


@pytest.mark.parametrize("at", [1, 4, 7])
def test_an_exact_step_is_found_at_its_commit_with_its_size(at: int) -> None:
    points = [[15.0, 15.0]] * at + [[16.0, 16.0]] * (8 - at)
    found = detect(points, exact_allowed=True)
    assert found.exact
    (cp,) = found.change_points
    assert (cp.index, cp.exact, cp.p_value) == (at, True, None)
    assert cp.change == pytest.approx(1 / 15)
    assert (cp.before, cp.after) == (15.0, 16.0)


def test_an_exact_series_reports_changes_below_min_change() -> None:
    """A 0.2% step under icount is real: the 1% minimum is for noisy series."""
    found = detect([[1000.0, 1000.0]] * 3 + [[1002.0, 1002.0]] * 3, min_change=0.01, exact_allowed=True)
    assert [cp.index for cp in found.change_points] == [3]


def test_a_regression_and_its_fix_are_two_change_points() -> None:
    found = detect([[15.0] * 2, [15.0] * 2, [17.0] * 2, [17.0] * 2, [15.0] * 2], exact_allowed=True)
    assert [(cp.index, round(cp.change, 4)) for cp in found.change_points] == [(2, 0.1333), (4, -0.1176)]


def test_one_value_per_commit_is_never_an_exact_series() -> None:
    """One boot of one repetition per commit proves nothing about determinism: a Linux guest's
    wobble would be an "exact" change point at every commit."""
    wobble = [[9193.0], [9175.0], [9177.0], [9176.0], [9193.0], [9170.0]]
    found = detect(wobble, exact_allowed=True)
    assert not found.exact
    assert all(not cp.exact for cp in found.change_points)


def test_identical_timed_numbers_are_not_exact() -> None:
    """A timed metric (not counted) that repeats its values gets tests, not an exact verdict."""
    found = detect([[80.0, 80.0, 80.0]] * 4 + [[90.0, 90.0, 90.0]] * 4, exact_allowed=False)
    assert not found.exact
    (cp,) = found.change_points
    assert cp.index == 4 and not cp.exact and cp.p_value is not None and cp.p_value < 0.01


@pytest.mark.parametrize("seed", range(5))
def test_a_noisy_step_is_found_at_its_commit_with_about_its_size(seed: int) -> None:
    """20 commits x 10 boots at 3% CV per boot, +8% from commit 12 on."""
    rng = np.random.default_rng(seed)
    points = _noisy(rng, [100.0] * 12 + [108.0] * 8, boots=10, cv=0.03)
    found = detect(points, exact_allowed=False)
    (cp,) = found.change_points
    assert cp.index == 12
    assert cp.change == pytest.approx(0.08, abs=0.015)
    assert cp.p_value is not None and cp.p_value < 0.01 and not cp.exact


@pytest.mark.parametrize("seed", range(20))
def test_a_flat_noisy_series_has_no_change_point(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    found = detect(_noisy(rng, [100.0] * 20, boots=10, cv=0.03), exact_allowed=False)
    assert found.change_points == ()


def test_a_flat_series_of_single_boots_has_no_change_point() -> None:
    rng = np.random.default_rng(7)
    assert detect(_noisy(rng, [100.0] * 30, boots=1, cv=0.03), exact_allowed=False).change_points == ()


def test_a_step_below_min_change_is_not_reported() -> None:
    rng = np.random.default_rng(3)
    points = _noisy(rng, [100.0] * 10 + [100.5] * 10, boots=50, cv=0.001)
    assert detect(points, min_change=0.01, exact_allowed=False).change_points == ()
    assert [cp.index for cp in detect(points, min_change=0.001, exact_allowed=False).change_points] == [10]


@pytest.mark.parametrize("points", [[], [[15.0]], [[15.0], [16.0]], [[100.0, 101.0], [130.0, 131.0]]])
def test_one_or_two_points_have_no_change_point(points: list[list[float]]) -> None:
    assert detect(points, exact_allowed=True).change_points == ()
    assert detect(points, exact_allowed=False).change_points == ()


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="point 1 of the series has no values"):
        detect([[1.0], [], [1.0]])
    with pytest.raises(ValueError, match="point 2 of the series holds nan"):
        detect([[1.0], [1.0], [float("nan")]])
    with pytest.raises(ValueError, match="alpha"):
        detect([[1.0]] * 3, alpha=0)
