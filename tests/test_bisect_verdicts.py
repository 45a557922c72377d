"""What a bisection reads from an A/B run's JSON report, the report written by the plugin's own code."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from pytest_hermit.bisect.search import Mark
from pytest_hermit.bisect.verdicts import (
    Change,
    ReportError,
    changes,
    confirmed,
    describe,
    judge,
    missing,
    qualified,
)
from pytest_hermit.gate import stats
from pytest_hermit.gate.judge import Judged
from pytest_hermit.report.formats import results_json
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples

BASIC = {"getpid": 15.0, "sched_yield": 57.0, "malloc": 2414.156, "first_page_access": 4268.031}


def exact_report(current: dict[str, float], test: str = "test_port.py::test_basic[icount]") -> dict[str, Any]:
    """The JSON report of an icount A/B run of ``basic`` (two boots, one rep), through the plugin's writer."""
    pairs = [
        (Samples.of(m, "cycles", [[BASIC[m]]] * 2), Samples.of(m, "cycles", [[current.get(m, BASIC[m])]] * 2))
        for m in BASIC
    ]
    comparisons = stats.judge_all(pairs, lambda s: 0.005, exact_for=lambda s: True)
    m = Measurement(
        env="icount",
        workload="basic",
        samples={b.metric: b for _, b in pairs},
        boots=2,
        reps=1,
        cmdline="workload=basic reps=1",
        counted=True,
        test_id=test,
    )
    # through JSON text, as the bisection reads it from the file
    return json.loads(json.dumps(results_json([m], [Judged(m, comparisons)], {})))


def test_an_exact_regression_is_bad_and_reads_like_the_plugins_message() -> None:
    found = changes(exact_report({"getpid": 16.0}))
    assert [c.metric for c in found] == list(BASIC)
    verdict = judge(found)
    assert verdict.mark is Mark.BAD
    assert [describe(c) for c in verdict.deciding] == ["getpid: 15.000 -> 16.000 cycles (+6.7%, exact)"]


def test_nothing_regressed_is_good_with_the_worst_change_shown() -> None:
    verdict = judge(changes(exact_report({"malloc": 2415.0})))  # +0.03%: within the 0.5% tolerance
    assert verdict.mark is Mark.GOOD
    assert [c.metric for c in verdict.deciding] == ["malloc"]
    assert describe(verdict.deciding[0]) == "malloc: 2414.2 -> 2415.0 cycles (+0.035%, exact)"


def test_only_the_chosen_metrics_decide() -> None:
    found = changes(exact_report({"malloc": 3000.0}))
    assert judge(found).mark is Mark.BAD
    verdict = judge(found, ["getpid", "sched_yield"])
    assert verdict.mark is Mark.GOOD
    assert [c.metric for c in verdict.deciding] == ["getpid", "sched_yield"]  # one line per chosen metric
    assert missing(found, ["getpid", "getppid"]) == ["getppid"]


def test_an_inconclusive_comparison_is_a_skip() -> None:
    found = changes(exact_report({}))
    unsure = tuple(replace(c, verdict="inconclusive") if c.metric == "getpid" else c for c in found)
    verdict = judge(unsure)
    assert verdict.mark is Mark.SKIP
    assert [c.metric for c in verdict.deciding] == ["getpid"]


def test_the_confirmation_counts_only_metrics_that_regressed_against_good_too() -> None:
    against_good = changes(exact_report({"getpid": 16.0}))
    against_parent = changes(exact_report({"getpid": 16.0, "malloc": 3000.0}))
    assert [c.metric for c in confirmed(against_parent, against_good)] == ["getpid"]
    assert confirmed(changes(exact_report({"malloc": 3000.0})), against_good) == ()


def test_two_tests_make_every_line_say_which() -> None:
    one = exact_report({"getpid": 16.0})
    two = exact_report({}, test="test_port.py::test_other[icount]")
    found = changes({**one, "runs": one["runs"] + two["runs"]})
    assert qualified(found) and not qualified(found[:4])
    assert describe(found[0], qualify=True) == (
        "getpid (test_port.py::test_basic[icount]): 15.000 -> 16.000 cycles (+6.7%, exact)"
    )
    assert "run 'basic iters=10'" in describe(replace(found[0], run="basic iters=10"), qualify=True)


def test_a_statistical_change_says_its_interval() -> None:
    c = Change(
        test="t",
        env="kvm",
        run="basic",
        workload="basic",
        metric="getpid",
        unit="cycles",
        verdict="regression",
        method="paired",
        before=9.0,
        after=10.4,
        change=0.156,
        interval=(0.121, 0.19),
        confidence=0.95,
    )
    assert describe(c) == "getpid: 9.0 -> 10.4 cycles (+15.6% paired, 95% CI +12.1%..+19.0%)"


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"schema": "pytest-hermit/baseline", "version": 2}, "not pytest-hermit/results version 1"),
        ([], "not pytest-hermit/results version 1"),
        ({"schema": "pytest-hermit/results", "version": 1}, "no 'runs'"),
        (
            {
                "schema": "pytest-hermit/results",
                "version": 1,
                "runs": [{"test": "t", "metrics": {"m": {"comparison": {}}}}],
            },
            "unreadable comparison",
        ),
    ],
)
def test_a_report_it_cannot_read_says_what_is_wrong(doc: Any, words: str) -> None:
    with pytest.raises(ReportError, match=words):
        changes(doc)


def test_metrics_without_a_comparison_are_left_out() -> None:
    doc = exact_report({})
    doc["runs"][0]["metrics"]["getpid"]["comparison"] = None
    assert "getpid" not in {c.metric for c in changes(doc)}
