"""The end-of-run tables, shaped like the reference study's.

One table per workload (and test), one column per environment, one row per
metric: median, spread across boots, and cycles also as nanoseconds where the
guest reported its TSC frequency.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from pytest_hermit.gate.judge import Judged
from pytest_hermit.report.tables import Row, Table, render_text
from pytest_hermit.results import numbers as fmt
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples


def spread_percent(samples: Samples) -> float | None:
    """Boot-to-boot spread: interquartile range of the per-boot medians, relative to their median."""
    medians = samples.boot_medians
    if len(medians) < 2:
        return None
    q1, _, q3 = statistics.quantiles(medians, n=4, method="inclusive")
    centre = statistics.median(medians)
    return (q3 - q1) / abs(centre) * 100 if centre else None


def cell(measurement: Measurement, metric: str) -> str:
    samples = measurement[metric]
    text = fmt.counted(samples.median) if measurement.counted else fmt.number(samples.median)
    if samples.unit == "cycles":
        ns = measurement.cycles_to_ns(samples.median)
        if ns is not None:
            text += f" ({fmt.number(ns)} ns)"
    spread = spread_percent(samples)
    if spread is not None:
        text += f" ±{spread:.0f}%"
    return text


def column_label(measurement: Measurement) -> str:
    if measurement.counted:
        return f"{measurement.env} (instructions)"
    return f"{measurement.env} (emulated)" if measurement.emulated else measurement.env


def build_tables(measurements: list[Measurement]) -> list[Table]:
    """Tables for the terminal summary, one per (test, run); the last measurement of a (test, run, env) wins."""
    groups: dict[tuple[str, str], dict[str, Measurement]] = defaultdict(dict)
    for m in measurements:
        test = m.test_id.split("[", 1)[0]
        groups[(test, m.run)][column_label(m)] = m
    tables = []
    for (test, run), by_env in groups.items():
        columns = list(by_env)
        metrics: dict[str, str] = {}
        for m in by_env.values():
            for name, samples in m.samples.items():
                metrics.setdefault(name, samples.unit)
        rows = [
            Row(label=name, unit=unit, cells={col: cell(m, name) for col, m in by_env.items() if name in m})
            for name, unit in metrics.items()
        ]
        shape = {f"{m.boots} boots x {m.reps} reps" for m in by_env.values()}
        title = f"{run} — {test} — median ±spread of boots ({', '.join(sorted(shape))})"
        tables.append(Table(title=title, columns=columns, rows=rows))
    return tables


def build_comparison_tables(judged: list[Judged], baseline: str) -> list[Table]:
    """Change against the baseline: one table per (test, run), environments as columns."""
    groups: dict[tuple[str, str], dict[str, Judged]] = defaultdict(dict)
    for j in judged:
        m = j.measurement
        groups[(m.test_id.split("[", 1)[0], m.run)][column_label(m)] = j
    tables = []
    for (test, run), by_env in groups.items():
        units: dict[str, str] = {}
        cells: dict[str, dict[str, str]] = defaultdict(dict)
        for col, j in by_env.items():
            for c in j.comparisons:
                units.setdefault(c.metric, c.unit)
                x = c.cells()
                cells[c.metric][col] = (
                    f"{x['baseline']} -> {x['current']} {x['change']} [{x['interval']}] {x['verdict']}"
                )
        rows = [Row(label=metric, unit=unit, cells=cells[metric]) for metric, unit in units.items()]
        title = f"{run} — {test} — change against baseline {baseline!r} (positive = worse; interval; verdict)"
        tables.append(Table(title=title, columns=list(by_env), rows=rows))
    return tables


def summary_lines(
    measurements: list[Measurement], judged: list[Judged], label: str | None, notes: list[str]
) -> list[str]:
    """The end-of-run section: measurement tables, comparison tables (against ``label``), then notes."""
    lines: list[str] = []
    for table in build_tables(measurements):
        lines += [render_text(table), ""]
    for table in build_comparison_tables(judged, label or ""):
        lines += [render_text(table), ""]
    lines += [f"hermit: guest warning: {line}" for line in guest_warning_lines(measurements)]
    return lines + notes


def guest_warning_lines(measurements: list[Measurement]) -> list[str]:
    """One line per distinct kernel-log warning of a run: its numbers may not be what was asked."""
    return [f"{m.test_id}, {m.run} on {m.env}: {w}" for m in measurements for w in m.guest_warnings]
