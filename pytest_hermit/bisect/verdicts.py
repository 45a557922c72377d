"""What one A/B run says about a commit: which metrics regressed against A, and by how much.

Read from the run's JSON report (schema ``pytest-hermit/results`` version 1,
``docs/reports.md``), not from its terminal text: the report keeps every
comparison's verdict, method and numbers, whatever the test prints. A commit
is bad when a considered metric regressed (``--metric`` narrows which are
considered), undecided (skipped, as ``git bisect skip``) when none regressed
but one was inconclusive, good otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_hermit.bisect.search import Mark
from pytest_hermit.results import numbers as fmt

SCHEMA = "pytest-hermit/results"
VERSION = 1


class ReportError(Exception):
    """A JSON report that is not a ``pytest-hermit/results`` document this code reads; the message says what."""


@dataclass(frozen=True)
class Change:
    """One metric of one run of one test, B judged against A."""

    test: str
    env: str
    run: str
    workload: str
    metric: str
    unit: str
    #: regression, improvement, unchanged or inconclusive
    verdict: str
    #: exact, paired or bootstrap: what decided (docs/reports.md)
    method: str
    before: float
    after: float
    #: Relative, positive = worse.
    change: float
    interval: tuple[float, float]
    confidence: float

    @property
    def where(self) -> tuple[str, str, str]:
        """The (test, environment, run) it belongs to."""
        return (self.test, self.env, self.run)


@dataclass(frozen=True)
class Judgement:
    """A commit's verdict and the changes that decided it.

    ``deciding`` holds the regressions of a bad commit, the inconclusive
    comparisons of an undecided one, and for a good one the worst change of
    each considered metric (how close it came).
    """

    mark: Mark
    deciding: tuple[Change, ...]


def _field(doc: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return doc[key]
    except (KeyError, TypeError):
        raise ReportError(f"the JSON report has no {key!r} in {where}") from None


def changes(doc: Mapping[str, Any]) -> tuple[Change, ...]:
    """Every comparison in the report, in its order; metrics without one (no A/B, no baseline) are left out."""
    if not isinstance(doc, Mapping) or doc.get("schema") != SCHEMA or doc.get("version") != VERSION:
        found = (doc.get("schema"), doc.get("version")) if isinstance(doc, Mapping) else type(doc).__name__
        raise ReportError(f"the JSON report is not {SCHEMA} version {VERSION} (found {found})")
    out = []
    try:
        for run in _field(doc, "runs", "the document"):
            where = f"run {run.get('test')!r}"
            for name, metric in _field(run, "metrics", where).items():
                c = metric.get("comparison")
                if c is None:
                    continue
                low, high = c["interval"]
                out.append(
                    Change(
                        test=str(_field(run, "test", where)),
                        env=str(_field(run, "env", where)),
                        run=str(_field(run, "run", where)),
                        workload=str(_field(run, "workload", where)),
                        metric=str(name),
                        unit=str(_field(metric, "unit", f"{where}, metric {name!r}")),
                        verdict=str(c["verdict"]),
                        method=str(c["method"]),
                        before=float(c["baseline_location"]),
                        after=float(c["current_location"]),
                        change=float(c["change"]),
                        interval=(float(low), float(high)),
                        confidence=float(c["confidence"]),
                    )
                )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"the JSON report has an unreadable comparison ({type(exc).__name__}: {exc})") from None
    return tuple(out)


def missing(found: Collection[Change], metrics: Collection[str]) -> list[str]:
    """The requested metrics that no comparison of the report has, sorted."""
    have = {c.metric for c in found}
    return sorted(set(metrics) - have)


def judge(found: Collection[Change], metrics: Collection[str] = ()) -> Judgement:
    """The commit's mark from its comparisons with GOOD (only ``metrics`` count, when given)."""
    considered = [c for c in found if not metrics or c.metric in metrics]
    regressed = tuple(c for c in considered if c.verdict == "regression")
    if regressed:
        return Judgement(Mark.BAD, regressed)
    undecided = tuple(c for c in considered if c.verdict == "inconclusive")
    if undecided:
        return Judgement(Mark.SKIP, undecided)
    worst: dict[str, Change] = {}
    for c in considered:
        key = c.metric if metrics else ""
        if key not in worst or c.change > worst[key].change:
            worst[key] = c
    return Judgement(Mark.GOOD, tuple(worst.values()))


def confirmed(against_parent: Collection[Change], against_good: Collection[Change]) -> tuple[Change, ...]:
    """The regressions of the culprit against its parent that it also showed against GOOD.

    Only those confirm it: a metric that regressed against the parent but not
    against GOOD is not the slowdown being looked for (noise, or a step back
    that an earlier step forward hides).
    """
    wanted = {(*c.where, c.metric) for c in against_good if c.verdict == "regression"}
    return tuple(c for c in against_parent if c.verdict == "regression" and (*c.where, c.metric) in wanted)


def qualified(found: Collection[Change]) -> bool:
    """Whether the report covers more than one (test, environment, run), so a metric's name alone is ambiguous."""
    return len({c.where for c in found}) > 1


def describe(c: Change, qualify: bool = False) -> str:
    """One change as a line: ``getpid: 15.000 -> 16.000 cycles (+6.7%, exact)``.

    The numbers are written as the plugin's own messages write them
    (``results/numbers.py``), so a bisection's lines read like the gate's.
    """
    label = c.metric
    if qualify:
        label += f" ({c.test}" + (f", run {c.run!r})" if c.run != c.workload else ")")
    if c.method == "exact":
        before, after = fmt.distinct(c.before, c.after)
        return f"{label}: {before} -> {after} {c.unit} ({fmt.signed_percent_fine(c.change)}, exact)"
    paired = " paired" if c.method == "paired" else ""
    low, high = c.interval
    return (
        f"{label}: {fmt.decimal(c.before)} -> {fmt.decimal(c.after)} {c.unit} "
        f"({fmt.signed_percent(c.change)}{paired}, {fmt.percent(c.confidence, 2)} CI "
        f"{fmt.signed_percent(low)}..{fmt.signed_percent(high)})"
    )
