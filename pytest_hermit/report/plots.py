"""PNG plots of a run: per-boot distributions against the baseline, and bars across environments.

Plain functions on plain data, no pytest: ``write_plots`` is what ``--hermit-plot=DIR``
calls at the end of a session. Two kinds of picture:

``<test>-<workload>-<metric>-<env>.png``
    The per-boot distribution of one metric in one environment: every repetition
    as a faint dot, each boot's median as a solid dot (boots in the order they
    ran, so drift shows), a box over the boot medians; the baseline's boots
    beside the current run's when there is a baseline. With a comparison a
    second panel shows the change and its interval against the tolerance band,
    and the title says it: ``getpid on qemu: +31.2% [+24.0%..+38.9%] regression``.
``<test>-<workload>-bars.png``
    The study's tables as bars: one group per metric, one bar per environment
    (median of the per-boot medians, error bar from the first to the third
    quartile of the boot medians), one panel per unit, log scale when the
    values span orders of magnitude, emulated environments hatched.

Name parts keep ``A-Z a-z 0-9 _ . + -``; anything else becomes ``_``. ``<test>``
is the test's name without its file and parameters (``TestX.test_basic`` for a
method), plus ``.<params>`` when the test has parameters besides the
environment, prefixed by the file's stem (``test_x.test_basic``) when two
files share the name. A name already written in the same call gets ``-2``,
``-3``, ... appended.

matplotlib is an optional dependency (``pip install pytest-hermit[plots]``);
figures are drawn on its Agg canvas directly, without pyplot or a display.
"""

from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_hermit.durable import move_into_place
from pytest_hermit.errors import HermitError
from pytest_hermit.gate.judge import Judged
from pytest_hermit.gate.stats import Comparison, Verdict
from pytest_hermit.results import numbers as fmt
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Direction, Samples

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from pytest_hermit.gate.baselines import Baseline

__all__ = [
    "BaselineLookup",
    "PlotError",
    "baseline_lookup",
    "file_part",
    "names_of_tests",
    "require_matplotlib",
    "write_plots",
]

#: ``baseline_samples(measurement, metric)``: the baseline's samples of that metric, or None.
BaselineLookup = Callable[[Measurement, str], Samples | None]

#: Above this ratio of the largest to the smallest bar, a panel's axis is logarithmic.
LOG_SCALE_RATIO = 30.0
DPI = 110

VERDICT_COLOURS = {
    Verdict.REGRESSION: "#c0392b",
    Verdict.IMPROVEMENT: "#1e8449",
    Verdict.INCONCLUSIVE: "#b9770e",
    Verdict.UNCHANGED: "#4d4d4d",
}
BASELINE_COLOUR = "#5d6d7e"
CURRENT_COLOUR = "#2e86c1"
#: Colours for the study's four environments, then for any others in order of appearance.
ENV_COLOURS = {"kvm": "#2e86c1", "qemu": "#e67e22", "hvm": "#27ae60", "pvh": "#8e44ad"}
OTHER_COLOURS = ("#c0392b", "#16a085", "#7f8c8d", "#d4ac0d", "#34495e", "#a04000")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
_MAX_PART = 60


class PlotError(HermitError):
    """Plots were asked for but cannot be drawn (matplotlib missing, directory not writable)."""


def baseline_lookup(baseline: Baseline | None) -> BaselineLookup:
    """The lookup ``write_plots`` wants, over a loaded baseline (None: no baseline)."""

    def lookup(measurement: Measurement, metric: str) -> Samples | None:
        if baseline is None:
            return None
        entry = baseline.get(measurement.test_id, measurement.env, measurement.run, metric)
        return entry.samples if entry is not None else None

    return lookup


def file_part(text: str) -> str:
    """``text`` as a safe, predictable part of a file name."""
    part = _UNSAFE.sub("_", text.strip()).lstrip(".") or "_"
    if len(part) > _MAX_PART:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        part = f"{part[: _MAX_PART - 9]}~{digest}"
    return part


def _split_test_id(test_id: str, env: str) -> tuple[str, str, str]:
    """(file stem, name inside the file, parameters other than the environment)."""
    base, _, params = test_id.partition("[")
    params = params.removesuffix("]")
    file_path, _, inner = base.partition("::")
    if not inner:
        file_path, inner = "", base
    stem = Path(file_path).name.removesuffix(".py") if file_path else ""
    name = inner.replace("::", ".") or "run"
    words = params.split("-") if params else []
    # the environment's id is one of the dash-joined ids, and may hold dashes itself
    n = len(env.split("-"))
    for i in range(len(words) - n + 1):
        if "-".join(words[i : i + n]) == env:
            del words[i : i + n]
            break
    params = "-".join(words)
    return stem, name, params


def names_of_tests(measurements: Iterable[Measurement]) -> dict[tuple[str, str], str]:
    """The ``<test>`` part of the file names, keyed by (test id, environment)."""
    parts = {(m.test_id, m.env): _split_test_id(m.test_id, m.env) for m in measurements}
    files_per_name: dict[str, set[str]] = {}
    for stem, name, _ in parts.values():
        files_per_name.setdefault(name, set()).add(stem)
    labels = {}
    for key, (stem, name, rest) in parts.items():
        label = f"{stem}.{name}" if len(files_per_name[name]) > 1 and stem else name
        labels[key] = label + (f".{rest}" if rest else "")
    return labels


# --------------------------------------------------------------------------- formatting


def _compact(x: float) -> str:
    return fmt.number(x, compact=True)


def _better(direction: Direction) -> str:
    return "lower is better" if direction is Direction.LOWER_IS_BETTER else "higher is better"


def _env_label(m: Measurement) -> str:
    return f"{m.env} (emulated)" if m.emulated else m.env


def _shape(boots: int, reps: int) -> str:
    return f"{boots} boot{'s' if boots != 1 else ''} x {reps} rep{'s' if reps != 1 else ''}"


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _usable(s: Samples | None) -> bool:
    return s is not None and bool(_finite(s.values))


# --------------------------------------------------------------------------- collection


@dataclass
class _Item:
    """One measurement with its comparisons by metric."""

    measurement: Measurement
    comparisons: dict[str, Comparison] = field(default_factory=dict)


def _collect(measurements: Sequence[Measurement], judged: Sequence[Judged]) -> list[_Item]:
    """One item per (test, run, environment), the last one winning; a judged measurement wins.

    The gate may add boots to a measurement while judging it, so the judged
    measurement can hold more boots than the one in ``measurements``.
    """
    items: dict[tuple[str, str, str], _Item] = {}
    for m in measurements:
        items[(m.test_id, m.run, m.env)] = _Item(m)
    for j in judged:
        m = j.measurement
        items[(m.test_id, m.run, m.env)] = _Item(m, {c.metric: c for c in j.comparisons})
    return list(items.values())


# --------------------------------------------------------------------------- public API


def require_matplotlib() -> None:
    """:class:`PlotError` when matplotlib cannot be imported (checked at start-up for --hermit-plot)."""
    try:
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise PlotError(
            f"--hermit-plot needs matplotlib, which cannot be imported ({exc}): "
            "pip install 'pytest-hermit[plots]' (or matplotlib), or leave out --hermit-plot"
        ) from None


def write_plots(
    directory: Path,
    measurements: Sequence[Measurement],
    judged: Sequence[Judged] = (),
    baseline_samples: BaselineLookup | None = None,
    *,
    baseline_name: str | None = None,
) -> list[Path]:
    """Draw every plot of a run into ``directory`` (created if needed); return the files written, in order.

    ``measurements`` are the run's measurements, ``judged`` the gate's
    comparisons (their measurements may hold more boots and then win),
    ``baseline_samples(measurement, metric)`` gives the baseline's samples for
    the distribution plots (see :func:`baseline_lookup`), ``baseline_name``
    names the baseline in the pictures. Metrics without values are left out;
    one boot, no baseline or no comparison all still give a picture.
    """
    require_matplotlib()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlotError(f"--hermit-plot: cannot create {directory}: {exc}") from exc

    items = _collect(measurements, judged)
    labels = names_of_tests(item.measurement for item in items)
    lookup = baseline_samples or baseline_lookup(None)
    side_name = f"baseline {baseline_name!r}" if baseline_name else "baseline"
    written: list[Path] = []
    taken: set[str] = set()

    def path_for(*parts: str) -> Path:
        stem = "-".join(file_part(p) for p in parts)
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name)
        return directory / f"{name}.png"

    groups: dict[tuple[str, str], list[_Item]] = {}
    for item in items:
        m = item.measurement
        test = labels[(m.test_id, m.env)]
        groups.setdefault((test, m.run), []).append(item)
        for metric, current in m.samples.items():
            if not _usable(current):
                continue
            baseline = lookup(m, metric)
            fig = distribution_figure(
                m,
                metric,
                test,
                baseline if _usable(baseline) else None,
                item.comparisons.get(metric),
                side_name,
            )
            written.append(_save(fig, path_for(test, m.run, metric, m.env)))

    for (test, run), members in groups.items():
        fig_or_none = bars_figure(test, run, members, side_name)
        if fig_or_none is not None:
            written.append(_save(fig_or_none, path_for(test, run, "bars")))
    return written


def _save(fig: Figure, path: Path) -> Path:
    return save_png(fig, path, "--hermit-plot")


def save_png(fig: Figure, path: Path, option: str) -> Path:
    """``fig`` as a PNG at ``path``, whole or not at all (a reader never sees half a plot).

    ``option`` names what asked for it in the error.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        fig.savefig(partial, dpi=DPI, format="png")
        move_into_place(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise PlotError(f"{option}: cannot write {path}: {exc}") from exc
    return path


# --------------------------------------------------------------------------- per-boot distributions


def _strip(ax: Axes, x: float, samples: Samples, colour: str, *, label: bool) -> None:
    """Boots side by side around ``x`` in run order: repetitions faint, boot medians solid, a box over the medians."""
    boots = [b for b in (tuple(_finite(boot)) for boot in samples.per_boot) if b]
    n = len(boots)
    half = 0.32
    xs = [x - half + (i + 0.5) * 2 * half / n for i in range(n)]
    rep_x: list[float] = []
    rep_y: list[float] = []
    for bx, boot in zip(xs, boots, strict=True):
        # a small fixed fan inside each boot's slot keeps repeated values apart
        width = min(0.6 * half / n, 0.04)
        for r, v in enumerate(boot):
            rep_x.append(bx + (width * ((r % 7) - 3) / 3 if len(boot) > 1 else 0.0))
            rep_y.append(v)
    medians = [statistics.median(b) for b in boots]
    ax.boxplot(
        [medians],
        positions=[x],
        widths=2 * half + 0.08,
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": colour, "alpha": 0.12, "edgecolor": colour},
        medianprops={"color": colour, "linewidth": 2.2},
        whiskerprops={"color": colour, "alpha": 0.6},
        capprops={"color": colour, "alpha": 0.6},
        zorder=1,
    )
    ax.scatter(
        rep_x, rep_y, s=7, color=colour, alpha=0.22, linewidths=0, zorder=2, label="repetitions" if label else None
    )
    ax.scatter(
        xs,
        medians,
        s=34,
        color=colour,
        edgecolors="white",
        linewidths=0.6,
        zorder=3,
        label="boot medians (in run order)" if label else None,
    )


def distribution_figure(
    m: Measurement,
    metric: str,
    test: str,
    baseline: Samples | None,
    comparison: Comparison | None,
    baseline_side: str = "baseline",
) -> Figure:
    """The per-boot distribution of one metric in one environment, against the baseline when given."""
    from matplotlib.figure import Figure

    current = m.samples[metric]
    fig = Figure(figsize=(8.4, 4.8) if comparison else (6.4, 4.8), layout="constrained")
    if comparison is not None:
        ax, cax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3.2, 1]})
    else:
        ax, cax = fig.subplots(1, 1), None

    sides: list[tuple[str, Samples, str]] = []
    if baseline is not None:
        sides.append((baseline_side, baseline, BASELINE_COLOUR))
    sides.append(("current run", current, CURRENT_COLOUR))
    for i, (_, samples, colour) in enumerate(sides):
        _strip(ax, float(i), samples, colour, label=i == len(sides) - 1)
    ax.set_xticks(range(len(sides)), [f"{name}\n{_shape(s.boots, s.reps)}" for name, s, _ in sides])
    ax.set_xlim(-0.6, len(sides) - 0.4)
    ax.set_ylabel(f"{metric} [{current.unit}] — {_better(current.direction)}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.8)

    env = _env_label(m)
    if comparison is not None and cax is not None:
        c = comparison
        colour = VERDICT_COLOURS[c.verdict]
        pct = fmt.signed_percent
        title = f"{metric} on {env}: {pct(c.change)} [{pct(c.interval.low)}..{pct(c.interval.high)}] "
        title += c.verdict.name.lower()
        sub = (
            f"{test} · {m.workload} · {_compact(c.baseline_location)} → {_compact(c.current_location)} {c.unit}"
            f" · p={fmt.p_value(c.p_adjusted)} · tolerance ±{100 * c.tolerance:g}%"
        )
        if c.verdict is Verdict.INCONCLUSIVE:
            sub += f"\n{c.advice()}"
        fig.suptitle(title, color=colour, fontsize=13, fontweight="bold")
        _change_panel(cax, c)
    else:
        boots = [b for b in (_finite(boot) for boot in current.per_boot) if b]
        middle = statistics.median(statistics.median(b) for b in boots)
        plural = "s" if len(boots) != 1 else ""
        title = f"{metric} on {env}: {_compact(middle)} {current.unit} (median of {len(boots)} boot{plural})"
        sub = f"{test} · {m.workload} · " + ("not compared" if baseline is not None else "no baseline to compare with")
        fig.suptitle(title, fontsize=13, fontweight="bold")
    ax.set_title(sub, fontsize=9, color="#444444")
    return fig


def _change_panel(ax: Axes, c: Comparison) -> None:
    """The change with its interval, against the tolerance band (percent, positive = worse)."""
    colour = VERDICT_COLOURS[c.verdict]
    tol = 100 * c.tolerance
    low, mid, high = 100 * c.interval.low, 100 * c.change, 100 * c.interval.high
    ax.axhspan(-tol, tol, color="#27ae60", alpha=0.12, label=f"tolerance ±{tol:g}%")
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.errorbar(
        [0],
        [mid],
        yerr=[[mid - low], [high - mid]],
        fmt="o",
        color=colour,
        markersize=8,
        capsize=8,
        elinewidth=2.5,
        capthick=2.5,
        label=f"change, {100 * c.interval.level:.4g}% CI",
    )
    span = max(abs(low), abs(high), tol) * 1.25 or 1.0
    ax.set_ylim(-span, span)
    ax.set_xlim(-1, 1)
    ax.set_xticks([0], [c.verdict.name.lower()])
    for tick in ax.get_xticklabels():
        tick.set_color(colour)
        tick.set_fontweight("bold")
    ax.set_ylabel("change against baseline, % (positive = worse)")
    ax.yaxis.set_label_position("right")
    ax.yaxis.tick_right()
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", fontsize=7, framealpha=0.8, bbox_to_anchor=(0.5, -0.1))
    ax.set_title(
        f"{fmt.signed_percent(c.change)}\n[{fmt.signed_percent(c.interval.low)}..{fmt.signed_percent(c.interval.high)}]",
        fontsize=9,
        color=colour,
    )


# --------------------------------------------------------------------------- bars across environments


def _env_colour(env: str, others: dict[str, str]) -> str:
    if env in ENV_COLOURS:
        return ENV_COLOURS[env]
    if env not in others:
        others[env] = OTHER_COLOURS[len(others) % len(OTHER_COLOURS)]
    return others[env]


def _summary(samples: Samples) -> tuple[float, float, float] | None:
    """(q1, median, q3) of the per-boot medians; None without values."""
    medians = _finite(statistics.median(b) for b in (_finite(boot) for boot in samples.per_boot) if b)
    if not medians:
        return None
    mid = statistics.median(medians)
    if len(medians) < 2:
        return mid, mid, mid
    q1, _, q3 = statistics.quantiles(medians, n=4, method="inclusive")
    return min(q1, mid), mid, max(q3, mid)


def _units(items: Sequence[_Item]) -> tuple[dict[str, str], dict[str, Direction]]:
    """Metric -> unit in order of appearance (one panel per unit), and each unit's direction."""
    units: dict[str, str] = {}
    directions: dict[str, Direction] = {}
    for item in items:
        for name, s in item.measurement.samples.items():
            if _usable(s):
                units.setdefault(name, s.unit)
                directions.setdefault(s.unit, s.direction)
    return units, directions


def _bar(
    ax: Axes,
    x: float,
    width: float,
    summary: tuple[float, float, float],
    m: Measurement,
    colour: str,
    c: Comparison | None,
) -> None:
    """One environment's bar for one metric: median, quartile error bar, value (and change) on top."""
    q1, mid, q3 = summary
    container = ax.bar(
        [x],
        [mid],
        width=width * 0.92,
        color=colour,
        alpha=0.55 if m.emulated else 0.9,
        hatch="//" if m.emulated else None,
        edgecolor=colour if m.emulated else "none",
        yerr=[[mid - q1], [q3 - mid]],
        capsize=3,
        error_kw={"elinewidth": 1, "ecolor": "#333333"},
    )
    text, text_colour = _compact(mid), "#222222"
    if c is not None:
        text += f"\n{fmt.signed_percent(c.change)}"
        if c.verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT):
            text_colour = VERDICT_COLOURS[c.verdict]
    for label in ax.bar_label(container, labels=[text], padding=2, fontsize=7):
        label.set_color(text_colour)


def _scale(ax: Axes, heights: list[float], metrics: list[str], unit: str, direction: Direction) -> None:
    """Axis limits (log scale when the bars span more than LOG_SCALE_RATIO), metric ticks and the unit label."""
    positive = [h for h in heights if h > 0]
    log = bool(positive) and len(positive) == len(heights) and max(positive) / min(positive) > LOG_SCALE_RATIO
    if log:
        ax.set_yscale("log")
        ax.set_ylim(min(positive) / 2.5, max(positive) * 6)
    elif heights:
        top = max(max(heights), 0.0)
        ax.set_ylim(min(0.0, min(heights) * 1.2), top * 1.3 if top > 0 else 1.0)
    ax.set_xticks(
        range(len(metrics)),
        metrics,
        rotation=25 if len(metrics) > 6 else 0,
        ha="right" if len(metrics) > 6 else "center",
    )
    scale = ", log scale" if log else ""
    ax.set_ylabel(f"{unit} — {_better(direction)}{scale}")
    ax.grid(axis="y", alpha=0.3, which="major")
    ax.set_axisbelow(True)


def _legend(fig_axes: Axes, items: Sequence[_Item], others: dict[str, str]) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(
            facecolor=_env_colour(item.measurement.env, others),
            alpha=0.55 if item.measurement.emulated else 0.9,
            hatch="//" if item.measurement.emulated else None,
            label=f"{_env_label(item.measurement)} ({_shape(item.measurement.boots, item.measurement.reps)})",
        )
        for item in items
    ]
    fig_axes.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)


def bars_figure(test: str, workload: str, items: Sequence[_Item], baseline_side: str = "baseline") -> Figure | None:
    """The study's table as bars; None when no metric has a value."""
    from matplotlib.figure import Figure

    units, directions = _units(items)
    if not units:
        return None
    panels = list(dict.fromkeys(units.values()))
    n_env = len(items)
    widest = max(sum(1 for u in units.values() if u == p) for p in panels)
    width = max(6.4, min(16.0, 1.6 + widest * (0.6 + 0.45 * n_env)))
    fig = Figure(figsize=(width, 1.4 + 3.4 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    others: dict[str, str] = {}
    any_change = False
    bar_w = min(0.8 / n_env, 0.5)
    for ax, unit in zip(axes, panels, strict=True):
        metrics = [name for name, u in units.items() if u == unit]
        heights: list[float] = []
        for j, item in enumerate(items):
            m = item.measurement
            colour = _env_colour(m.env, others)
            for k, metric in enumerate(metrics):
                got = m.samples.get(metric)
                summary = _summary(got) if got is not None else None
                if summary is None:
                    continue
                heights.append(summary[1])
                c = item.comparisons.get(metric)
                any_change = any_change or c is not None
                _bar(ax, k + (j - (n_env - 1) / 2) * bar_w, bar_w, summary, m, colour, c)
        _scale(ax, heights, metrics, unit, directions[unit])
    _legend(axes[0], items, others)
    fig.suptitle(f"{workload} — {test}", fontsize=13, fontweight="bold")
    note = "bar: median of the per-boot medians · error bar: quartiles of the boot medians"
    if any_change:
        note += f"\nsecond line: change against {baseline_side}, positive = worse (red: regression, green: improvement)"
    axes[0].set_title(note, fontsize=8, color="#444444")
    return fig
