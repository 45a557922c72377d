"""Run reports: Markdown for people, JSON for tools, pytest-benchmark's and github-action-benchmark's formats.

Pure functions from measurements and comparisons to text or JSON-shaped
dicts; ``pytest_hermit.plugin.outputs`` writes the files at the end of a run.
"""

from __future__ import annotations

import datetime as dt
import platform
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_hermit._version import __version__
from pytest_hermit.gate.git import GitState
from pytest_hermit.gate.judge import Judged
from pytest_hermit.gate.stats import Comparison, ConfidenceInterval, Verdict
from pytest_hermit.profile import diff as profile_diff
from pytest_hermit.profile.profile import FunctionProfile
from pytest_hermit.report.tables import render_markdown
from pytest_hermit.report.terminal import build_comparison_tables, build_tables, guest_warning_lines
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Direction, Samples

RESULTS_SCHEMA = "pytest-hermit/results"
RESULTS_VERSION = 1


def markdown(measurements: list[Measurement], judged: list[Judged], baseline: str | None) -> str:
    """One table per workload shaped like the study's, then the changes against the baseline."""
    parts = ["## pytest-hermit results", ""]
    failed = [c for j in judged for c in j.comparisons if c.failed]
    if judged:
        verdict = f"**{len(failed)} regression(s)**" if failed else "no regression"
        parts += [f"Compared with `{baseline}`: {verdict}.", ""]
        parts += [f"- {c.message(j.measurement.env)}" for j in judged for c in j.comparisons if c.failed]
        if failed:
            parts.append("")
        for j in judged:
            if any(c.failed for c in j.comparisons) and (lines := j.profile_lines()):
                parts += [f"{j.measurement.test_id} `{j.measurement.run}` on {j.measurement.env}:", "", "```"]
                parts += [*lines, "```", ""]
    for table in build_tables(measurements):
        parts += [render_markdown(table), ""]
    for table in build_comparison_tables(judged, baseline or ""):
        parts += [render_markdown(table), ""]
    if warned := guest_warning_lines(measurements):
        parts += ["### The guest warned", "", *(f"- {line}" for line in warned), ""]
    return "\n".join(parts)


def samples_document(samples: Samples) -> dict[str, Any]:
    """The samples of one metric as the reports hold them (its name is the key beside it)."""
    return {
        "unit": samples.unit,
        "direction": samples.direction.value,
        "per_boot": [list(b) for b in samples.per_boot],
        "median": samples.median,
    }


def comparison_document(c: Comparison, env: str) -> dict[str, Any]:
    """A comparison as the JSON report holds it: every field, so :func:`comparison_from_document` restores it."""
    return {
        "verdict": c.verdict.name.lower(),
        "method": c.method,
        "strict": c.strict,
        "change": c.change,
        "interval": [c.interval.low, c.interval.high],
        "confidence": c.interval.level,
        "p_value": c.p_value,
        "p_adjusted": c.p_adjusted,
        "tolerance": c.tolerance,
        "baseline_location": c.baseline_location,
        "current_location": c.current_location,
        "message": c.message(env),
        "family_size": c.family_size,
        "alpha": c.alpha,
        "baseline_boots": c.baseline_boots,
        "baseline_reps": c.baseline_reps,
        "current_boots": c.current_boots,
        "current_reps": c.current_reps,
        "boots_needed": c.boots_needed,
    }


def comparison_from_document(d: dict[str, Any], metric: str, unit: str, direction: str) -> Comparison:
    """The comparison :func:`comparison_document` wrote (the metric's name, unit and direction sit beside it)."""
    return Comparison(
        metric=metric,
        unit=unit,
        direction=Direction(direction),
        baseline_location=d["baseline_location"],
        current_location=d["current_location"],
        change=d["change"],
        interval=ConfidenceInterval(d["interval"][0], d["interval"][1], d["confidence"]),
        p_value=d["p_value"],
        p_adjusted=d["p_adjusted"],
        family_size=d["family_size"],
        tolerance=d["tolerance"],
        alpha=d["alpha"],
        verdict=Verdict[d["verdict"].upper()],
        baseline_boots=d["baseline_boots"],
        baseline_reps=d["baseline_reps"],
        current_boots=d["current_boots"],
        current_reps=d["current_reps"],
        boots_needed=d["boots_needed"],
        method=d["method"],
        strict=d["strict"],
    )


def samples_from_document(metric: str, d: dict[str, Any]) -> Samples:
    return Samples(
        metric, d["unit"], tuple(tuple(float(v) for v in b) for b in d["per_boot"]), Direction(d["direction"])
    )


def results_json(measurements: list[Measurement], judged: list[Judged], context: dict[str, Any]) -> dict[str, Any]:
    """Every sample, every verdict and the run's context (schema documented in docs/reports.md)."""
    verdicts: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    profile_changes: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for j in judged:
        m = j.measurement
        for c in j.comparisons:
            verdicts[(m.test_id, m.env, m.run, c.metric)] = comparison_document(c, m.env)
        if j.reference_profile is not None and m.profile is not None:
            profile_changes[(m.test_id, m.env, m.run)] = [
                {"function": r.name, "base": r.base, "new": r.new, "change": r.change, "where": r.where}
                for r in profile_diff.changes(j.reference_profile, m.profile)
            ]
    runs = []
    for m in measurements:
        runs.append(
            {
                "test": m.test_id,
                "env": m.env,
                "run": m.run,
                "workload": m.workload,
                "boots": m.boots,
                "reps": m.reps,
                "cmdline": m.cmdline,
                "hypervisor": m.hypervisor,
                "tsc_khz": m.tsc_khz,
                "emulated": m.emulated,
                "counted": m.counted,
                "transcripts": [str(p) for p in m.transcripts],
                "guest_warnings": list(m.guest_warnings),
                "guest": m.guest,
                "guest_sha256": m.guest_sha256,
                "metrics": {
                    name: {**samples_document(s), "comparison": verdicts.get((m.test_id, m.env, m.run, name))}
                    for name, s in m.samples.items()
                },
                **({"profile": m.profile.encode()} if m.profile is not None else {}),
                **(
                    {"profile_changes": profile_changes[(m.test_id, m.env, m.run)]}
                    if (m.test_id, m.env, m.run) in profile_changes
                    else {}
                ),
            }
        )
    return {"schema": RESULTS_SCHEMA, "version": RESULTS_VERSION, "context": context, "runs": runs}


def read_results(document: dict[str, Any]) -> tuple[list[Measurement], list[Judged]]:
    """The measurements and judged comparisons of a :func:`results_json` document, as they were.

    pytest-xdist workers hand their numbers to the controller in this form,
    so there is one JSON shape of a run, not two. A judged measurement is the
    same object as the one in the list (as in a serial run); references
    (baseline samples) are not in the report and stay empty.
    """
    measurements, judged = [], []
    for run in document["runs"]:
        metrics = run["metrics"]
        m = Measurement(
            env=run["env"],
            workload=run["workload"],
            samples={name: samples_from_document(name, d) for name, d in metrics.items()},
            boots=run["boots"],
            reps=run["reps"],
            cmdline=run["cmdline"],
            transcripts=tuple(Path(p) for p in run["transcripts"]),
            hypervisor=run["hypervisor"],
            tsc_khz=run["tsc_khz"],
            emulated=run["emulated"],
            counted=run["counted"],
            test_id=run["test"],
            run=run["run"],
            guest_warnings=tuple(run.get("guest_warnings", ())),
            guest=run.get("guest", ""),
            guest_sha256=run.get("guest_sha256", ""),
            profile=FunctionProfile.decode(run["profile"]) if run.get("profile") else None,
        )
        measurements.append(m)
        comparisons = [
            comparison_from_document(d["comparison"], name, d["unit"], d["direction"])
            for name, d in metrics.items()
            if d["comparison"] is not None
        ]
        if comparisons:
            judged.append(Judged(m, comparisons))
    return measurements, judged


def _seconds(samples: Samples, tsc_khz: int | None, counted: bool = False) -> tuple[list[float], str]:
    """Values as seconds (lower is better), the way pytest-benchmark reads every number."""
    values = samples.values
    if samples.direction is Direction.HIGHER_IS_BETTER:
        # pytest-benchmark reads every number as a cost: a rate becomes its inverse.
        if samples.unit == "MB/s":
            return [1.0 / v if v else float("inf") for v in values], "1 / (MB/s): seconds per MB"
        return [1.0 / v if v else float("inf") for v in values], f"1 / ({samples.unit}): higher is better"
    if samples.unit == "cycles" and counted:
        return list(values), "instructions as is (icount counts them; they are not time)"
    if samples.unit == "cycles" and tsc_khz:
        return [v / (tsc_khz * 1000.0) for v in values], "cycles / TSC frequency"
    if samples.unit == "ms":
        return [v / 1000.0 for v in values], "ms / 1000"
    if samples.unit == "s":
        return list(values), "s"
    return list(values), f"{samples.unit} as is (no time conversion known)"


def _stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    n = len(ordered)
    mean = statistics.fmean(ordered)
    stddev = statistics.stdev(ordered) if n > 1 else 0.0
    if n > 1:
        q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = median = q3 = ordered[0]
    iqr = q3 - q1
    low = next((v for v in ordered if v >= q1 - 1.5 * iqr), ordered[0])
    high = next((v for v in reversed(ordered) if v <= q3 + 1.5 * iqr), ordered[-1])
    iqr_out = sum(1 for v in ordered if v < low or v > high)
    sd_out = sum(1 for v in ordered if abs(v - mean) > stddev) if stddev else 0
    return {
        "min": ordered[0],
        "max": ordered[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": median,
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_out,
        "stddev_outliers": sd_out,
        "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": low,
        "hd15iqr": high,
        "ops": 1.0 / mean if mean else 0.0,
        "total": sum(ordered),
        "data": ordered,
        "iterations": 1,
    }


def benchmark_json(measurements: Iterable[Measurement], git: GitState, now: dt.datetime) -> dict[str, Any]:
    """pytest-benchmark's JSON: one benchmark per (test, environment, metric), values in seconds.

    pytest-benchmark assumes seconds where lower is better: cycles become
    seconds through the guest's TSC frequency, ms become seconds, MB/s
    become seconds per MB, and any other higher-is-better metric (a guest
    profile's ``better = "higher"``) its inverse. The original unit,
    direction and values are in extra_info.
    """
    benchmarks = []
    for m in measurements:
        for name, s in m.samples.items():
            values, conversion = _seconds(s, m.tsc_khz, m.counted)
            base = m.test_id.split("::")[-1]
            # A test's only (or first plain) run keeps the short name; other runs say which they are.
            which = name if m.run == m.workload else f"{m.run}:{name}"
            benchmarks.append(
                {
                    "group": f"{m.workload}:{name}",
                    "name": f"{base}:{which}",
                    "fullname": f"{m.test_id}:{which}",
                    "params": {"env": m.env},
                    "param": m.env,
                    "extra_info": {
                        "run": m.run,
                        "metric": name,
                        "unit": s.unit,
                        "direction": s.direction.value,
                        "conversion": conversion,
                        "median": s.median,
                        "per_boot": [list(b) for b in s.per_boot],
                        "emulated": m.emulated,
                        "counted": m.counted,
                        "tsc_khz": m.tsc_khz,
                    },
                    "options": {
                        "boots": m.boots,
                        "reps": m.reps,
                        "timer": "guest",
                        "disable_gc": False,
                        "min_rounds": m.boots,
                        "max_time": 0,
                        "min_time": 0,
                        "warmup": False,
                    },
                    "stats": _stats(values),
                }
            )
    return {
        "machine_info": {
            "node": platform.node(),
            "processor": platform.processor(),
            "machine": platform.machine(),
            "python_implementation": platform.python_implementation(),
            "python_version": platform.python_version(),
            "python_compiler": platform.python_compiler(),
            "release": platform.release(),
            "system": platform.system(),
            "cpu": {},
        },
        "commit_info": {"id": git.commit, "branch": git.branch, "dirty": bool(git.dirty), "project": "pytest-hermit"},
        "benchmarks": benchmarks,
        "datetime": now.astimezone(dt.UTC).isoformat(),
        "version": f"pytest-hermit {__version__}",
    }


#: github-action-benchmark's two custom tools, one file each: the action
#: takes one direction per file (``tool: customSmallerIsBetter`` or
#: ``customBiggerIsBetter``), so a file never mixes them.
ACTION_BENCHMARK_FILES = {
    Direction.LOWER_IS_BETTER: "smaller-is-better.json",
    Direction.HIGHER_IS_BETTER: "bigger-is-better.json",
}


def _half_spread(per_boot_medians: list[float]) -> float:
    """Half the range of the boots' medians: what the charts draw as the error bar."""
    return (max(per_boot_medians) - min(per_boot_medians)) / 2 if per_boot_medians else 0.0


def action_benchmark_json(measurements: Iterable[Measurement]) -> dict[Direction, list[dict[str, Any]]]:
    """github-action-benchmark's custom entries, split by direction, with hermit-bench's grouping.

    Each entry has the fields the action's custom tools read (``name``,
    ``unit``, ``value``, ``range`` as a string, ``extra`` for the tooltip)
    and the two that hermit-os's fork of the action passes through to its
    charts: ``group`` (the heading a chart sits under) and ``plot_group``
    (entries with the same value share one chart; ``"none"``: a chart of its
    own). The value is the median of all repetitions, in the metric's unit:
    cycles stay cycles (under icount, counted instructions).
    """
    out: dict[Direction, list[dict[str, Any]]] = {d: [] for d in ACTION_BENCHMARK_FILES}
    for m in measurements:
        base = m.test_id.split("::")[-1]
        for name, s in m.samples.items():
            which = name if m.run == m.workload else f"{m.run}:{name}"
            medians = [statistics.median(b) for b in s.per_boot if b]
            kind = "counted instructions (icount)" if m.counted else ("emulated" if m.emulated else "")
            extra = [f"{m.boots} boots x {m.reps} reps on {m.env}", f"test {m.test_id}"]
            if kind:
                extra.append(kind)
            out[s.direction].append(
                {
                    "name": f"{base}:{which}",
                    "unit": s.unit,
                    "value": s.median,
                    "range": f"± {_half_spread(medians):.6g}",
                    "extra": "\n".join(extra),
                    "group": m.workload,
                    "plot_group": "none",
                }
            )
    return out
