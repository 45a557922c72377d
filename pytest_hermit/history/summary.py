"""The history as people read it: every series' points and change points, as text or Markdown.

Pure: from a :class:`~pytest_hermit.history.series.History` and the change
points of each series to one string. ``pytest-hermit history`` prints the
text and writes the Markdown (a CI step summary).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_hermit.history.changepoints import ChangePoint, Detection, detect
from pytest_hermit.history.series import GIT_ORDER, History, Point, Series, SeriesKey, short
from pytest_hermit.report.tables import Row, Table, render_markdown, render_text
from pytest_hermit.results import numbers as fmt
from pytest_hermit.results.samples import Direction

__all__ = ["Analysed", "analyse", "change_point_line", "render"]

_COLUMNS = ("boots", "median", "spread", "change")


@dataclass(frozen=True)
class Analysed:
    """A series and its change points."""

    series: Series
    detection: Detection

    @property
    def change_points(self) -> tuple[ChangePoint, ...]:
        return self.detection.change_points


def analyse(history: History, *, min_change: float, alpha: float) -> list[Analysed]:
    """The change points of every series of ``history``."""
    return [
        Analysed(
            s,
            detect(
                [p.values for p in s.points],
                min_change=min_change,
                alpha=alpha,
                exact_allowed=s.key.exact_allowed,
            ),
        )
        for s in history.series
    ]


def _value(key: SeriesKey, x: float) -> str:
    return fmt.counted(x) if key.exact_allowed else fmt.number(x)


def _spread(a: Analysed, p: Point) -> str:
    if a.detection.exact:
        return "exact"
    spread = p.spread
    return "-" if spread is None else f"IQR {fmt.percent(spread, 1)}"


def _sureness(cp: ChangePoint) -> str:
    if cp.exact:
        return "exact: every boot on either side the same"
    assert cp.p_value is not None
    return f"p={fmt.p_value(cp.p_value)}"


def _kind(key: SeriesKey, cp: ChangePoint) -> str:
    worse = cp.change > 0 if key.direction is Direction.LOWER_IS_BETTER else cp.change < 0
    return "regression" if worse else "improvement"


def _commit_words(p: Point, markdown: bool) -> str:
    label = f"`{p.label}`" if markdown else p.label
    return f'{label} "{p.subject}"' if p.subject else label


def change_point_line(a: Analysed, cp: ChangePoint, *, markdown: bool = False, label: str | None = None) -> str:
    """One change point in one line: what, where (the commit range), how much and how sure."""
    key = a.series.key
    last, first = a.series.points[cp.index - 1], a.series.points[cp.index]
    if cp.exact:
        before, after = fmt.distinct(cp.before, cp.after)
        size = fmt.signed_percent_fine(cp.change)
    else:
        before, after = fmt.decimal(cp.before), fmt.decimal(cp.after)
        size = fmt.signed_percent(cp.change)
    where = f"between {_commit_words(last, markdown)} and {_commit_words(first, markdown)}"
    if last.commit and first.commit:
        span = f"{short(last.commit)}..{short(first.commit)}"
        where += f" ({f'`{span}`' if markdown else span})"
    what = label or key.label()
    if markdown:
        what = f"**{what}**"
    return f"{what}: {size} {_kind(key, cp)}, {before} -> {after} {key.unit} {where}; {_sureness(cp)}"


def _labels(analysed: Sequence[Analysed]) -> dict[SeriesKey, str]:
    """Series labels; those that share test, run, environment and metric say what tells them apart."""
    base = Counter(a.series.key.label() for a in analysed)
    labels = {}
    for a in analysed:
        key = a.series.key
        label = key.label()
        if base[label] > 1:
            label += f" [{key.host_words()}; cmdline {key.guest_cmdline!r}]"
        labels[key] = label
    return labels


def _table(a: Analysed, title: str) -> Table:
    marks = {cp.index: cp for cp in a.change_points}
    rows = []
    for i, p in enumerate(a.series.points):
        cp = marks.get(i)
        change = ""
        if cp is not None:
            change = fmt.signed_percent_fine(cp.change) if cp.exact else fmt.signed_percent(cp.change)
        rows.append(
            Row(
                p.label,
                (p.subject or "")[:50],
                {
                    "boots": str(len(p.values)),
                    "median": _value(a.series.key, p.median),
                    "spread": _spread(a, p),
                    "change": change,
                },
            )
        )
    return Table(title, _COLUMNS, rows, label_header="commit", unit_header="subject")


def render(history: History, analysed: Sequence[Analysed], *, source: str, markdown: bool = False) -> str:
    """The whole history: a summary, the change points, then every series' points."""
    labels = _labels(analysed)
    found = [(a, cp) for a in analysed for cp in a.change_points]
    order = "the repository's commit order" if history.ordering == GIT_ORDER else "record date"
    head = (
        f"{history.records} record(s) in {source}, {len(analysed)} series, points in {order}; "
        f"{len(found)} change point(s)"
    )
    parts = ["## pytest-hermit history", "", head, ""] if markdown else [head, ""]
    for note in history.notes:
        parts.append(f"- note: {note}" if markdown else f"note: {note}")
    if history.notes:
        parts.append("")
    if found:
        parts += ["### Change points", ""] if markdown else ["change points:"]
        for a, cp in found:
            line = change_point_line(a, cp, markdown=markdown, label=labels[a.series.key])
            parts.append(f"- {line}" if markdown else f"  {line}")
        parts.append("")
    for a in analysed:
        key = a.series.key
        better = "lower is better" if key.direction is Direction.LOWER_IS_BETTER else "higher is better"
        title = f"{labels[key]} ({key.unit}, {better})"
        context = f"host: {key.host_words() or 'unknown'}; guest command line: {key.guest_cmdline or '(none)'}"
        table = _table(a, title)
        if markdown:
            parts += [render_markdown(table), "", context, ""]
        else:
            parts += [render_text(table), f"  {context}", ""]
    return "\n".join(parts).rstrip("\n") + "\n"
