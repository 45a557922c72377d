"""PNG trend plots of history series: one per series, its change points marked.

``<test>-<run>-<metric>-<env>.png`` (name parts as :func:`pytest_hermit.report.plots.file_part`
makes them; ``-2``, ``-3``... when two series share them, e.g. two hosts):
every boot as a faint dot, each commit's median as a solid dot joined by a
line, in commit order; each segment's median as a horizontal line; each
change point as a dashed line between the last commit before it and the
first after it, labelled with its size.

matplotlib is optional (``pip install 'pytest-hermit[plots]'``); figures are
drawn on its Agg canvas directly, without pyplot or a display, as
:mod:`pytest_hermit.report.plots` does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_hermit.gate.stats import Verdict
from pytest_hermit.history.summary import Analysed
from pytest_hermit.report.plots import VERDICT_COLOURS, PlotError, file_part, save_png
from pytest_hermit.results import numbers as fmt
from pytest_hermit.results.samples import Direction

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["require_matplotlib", "trend_figure", "write_trend_plots"]

_POINT_COLOUR = "#2e86c1"
_SEGMENT_COLOUR = "#4d4d4d"
#: Commit labels on the x axis beyond this many points would overlap: every k-th is shown.
_MAX_TICKS = 40


def require_matplotlib() -> None:
    """:class:`PlotError` when matplotlib cannot be imported (checked before any record is read)."""
    try:
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise PlotError(
            f"pytest-hermit history --plot needs matplotlib, which cannot be imported ({exc}): "
            "pip install 'pytest-hermit[plots]' (or matplotlib), or leave out --plot"
        ) from None


def trend_figure(a: Analysed, title: str) -> Figure:
    """One series: boots, commit medians, segment medians and change points."""
    from matplotlib.figure import Figure

    points = a.series.points
    key = a.series.key
    fig = Figure(figsize=(max(6.4, min(16.0, 0.35 * len(points) + 3)), 4.8), layout="constrained")
    ax = fig.subplots(1, 1)
    xs = [x for x, p in enumerate(points) for _ in p.values]
    ys = [v for p in points for v in p.values]
    ax.scatter(xs, ys, s=9, color=_POINT_COLOUR, alpha=0.25, linewidths=0, label="boots", zorder=2)
    medians = [p.median for p in points]
    ax.plot(range(len(points)), medians, "-o", color=_POINT_COLOUR, markersize=5, linewidth=1.2, zorder=3)
    ax.lines[-1].set_label("commit median")

    bounds = [0, *(cp.index for cp in a.change_points), len(points)]
    levels = [cp.before for cp in a.change_points] + ([a.change_points[-1].after] if a.change_points else [])
    if not a.change_points and points:
        levels = [sorted(medians)[len(medians) // 2]]
    for (start, end), level in zip(itertools.pairwise(bounds), levels, strict=False):
        ax.hlines(level, start - 0.3, end - 0.7, color=_SEGMENT_COLOUR, linewidth=2, alpha=0.7, zorder=4)
    for cp in a.change_points:
        worse = cp.change > 0 if key.direction is Direction.LOWER_IS_BETTER else cp.change < 0
        colour = VERDICT_COLOURS[Verdict.REGRESSION if worse else Verdict.IMPROVEMENT]
        size = fmt.signed_percent_fine(cp.change) if cp.exact else fmt.signed_percent(cp.change)
        sure = "exact" if cp.exact else f"p={fmt.p_value(cp.p_value or 0.0)}"
        ax.axvline(cp.index - 0.5, color=colour, linestyle="--", linewidth=1.5, zorder=1)
        ax.annotate(
            f"{size}\n{sure}",
            (cp.index - 0.5, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color=colour,
            fontweight="bold",
        )
    step = max(1, -(-len(points) // _MAX_TICKS))
    ticks = list(range(0, len(points), step))
    ax.set_xticks(ticks, [points[i].label for i in ticks], rotation=60, ha="right", fontsize=7)
    ax.set_xlim(-0.7, len(points) - 0.3)
    better = "lower is better" if key.direction is Direction.LOWER_IS_BETTER else "higher is better"
    ax.set_ylabel(f"{key.metric} [{key.unit}] — {better}")
    ax.set_xlabel("commit (oldest left)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    found = f"{len(a.change_points)} change point(s)"
    fig.suptitle(f"{key.metric} on {key.env}: {found}", fontsize=13, fontweight="bold")
    ax.set_title(title, fontsize=8, color="#444444")
    return fig


def write_trend_plots(directory: Path, analysed: Sequence[Analysed], titles: Sequence[str]) -> list[Path]:
    """One PNG per series into ``directory`` (created if needed); the files written, in order."""
    require_matplotlib()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlotError(f"--plot: cannot create {directory}: {exc}") from exc
    written = []
    taken: set[str] = set()
    for a, title in zip(analysed, titles, strict=True):
        k = a.series.key
        stem = "-".join(file_part(p) for p in (k.test.split("/")[-1], k.run, k.metric, k.env))
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name)
        path = directory / f"{name}.png"
        written.append(save_png(trend_figure(a, title), path, "--plot"))
    return written
