"""--hermit-strict: the option, its ini twin, and the gate passing it to the statistics (no VM)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_hermit.gate import stats
from pytest_hermit.gate.judge import Gate, GateSettings
from pytest_hermit.plugin.options import Settings
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples
from tests.test_stats import draw


def _measurement(s: Samples) -> Measurement:
    return Measurement(env="qemu", workload="basic", samples={s.metric: s}, boots=s.boots, reps=s.reps, cmdline="")


def _never(_boots: int) -> Measurement:
    raise AssertionError("no boots should be added")


@pytest.mark.parametrize(
    ("args", "ini", "expected"),
    [((), "", False), (("--hermit-strict",), "", True), ((), "hermit_strict = true\n", True)],
)
def test_the_option_and_its_ini_twin_set_strict(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str, expected: bool
) -> None:
    pytester.makeini("[pytest]\n" + ini)
    config = pytester.parseconfigure(*args)
    assert Settings.from_config(config, {}, "pyproject.toml").gate.strict is expected


def test_help_says_what_strict_does(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = " ".join(result.stdout.str().split())
    assert "--hermit-strict a regression needs the whole confidence interval above the tolerance" in text
    assert "hermit_strict (bool)" in text


def test_the_gate_judges_strictly_when_asked() -> None:
    rng = np.random.default_rng(43)
    reference, current = draw(rng, 40, 10, cv_boot=0.03), draw(rng, 40, 10, cv_boot=0.03, factor=1.065)
    default = Gate(GateSettings()).judge_pairs(_measurement(current), lambda m: [(reference, m["getpid"])], _never)
    strict = Gate(GateSettings(strict=True)).judge_pairs(
        _measurement(current), lambda m: [(reference, m["getpid"])], _never
    )
    assert default.comparisons[0].verdict is stats.Verdict.REGRESSION
    assert strict.comparisons[0].verdict is stats.Verdict.INCONCLUSIVE and strict.comparisons[0].strict
