"""Run reports: Markdown for people, JSON for tools, pytest-benchmark's format for its commands.

Pure functions from the session's measurements and comparisons to text or
JSON-shaped dicts; the plugin writes the files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_hermit import __version__
from pytest_hermit.errors import HermitError
from pytest_hermit.gate.judge import GitState, Judged, git_info
from pytest_hermit.report.tables import render_markdown
from pytest_hermit.report.terminal import build_comparison_tables, build_tables
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Direction, Samples

if TYPE_CHECKING:  # the session imports nothing from here; only the edge functions need it
    from pytest_hermit.session import HermitSession

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
    for table in build_tables(measurements):
        parts += [render_markdown(table), ""]
    for table in build_comparison_tables(judged, baseline or ""):
        parts += [render_markdown(table), ""]
    return "\n".join(parts)


def _samples_doc(samples: Samples) -> dict[str, Any]:
    return {
        "unit": samples.unit,
        "direction": samples.direction.value,
        "per_boot": [list(b) for b in samples.per_boot],
        "median": samples.median,
    }


def results_json(measurements: list[Measurement], judged: list[Judged], context: dict[str, Any]) -> dict[str, Any]:
    """Every sample, every verdict and the run's context (schema documented in docs/reports.md)."""
    verdicts: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for j in judged:
        m = j.measurement
        for c in j.comparisons:
            verdicts[(m.test_id, m.env, m.run, c.metric)] = {
                "verdict": c.verdict.name.lower(),
                "change": c.change,
                "interval": [c.interval.low, c.interval.high],
                "confidence": c.interval.level,
                "p_value": c.p_value,
                "p_adjusted": c.p_adjusted,
                "tolerance": c.tolerance,
                "baseline_location": c.baseline_location,
                "current_location": c.current_location,
                "message": c.message(j.measurement.env),
            }
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
                "transcripts": [str(p) for p in m.transcripts],
                "metrics": {
                    name: {**_samples_doc(s), "comparison": verdicts.get((m.test_id, m.env, m.run, name))}
                    for name, s in m.samples.items()
                },
            }
        )
    return {"schema": RESULTS_SCHEMA, "version": RESULTS_VERSION, "context": context, "runs": runs}


def _seconds(samples: Samples, tsc_khz: int | None) -> tuple[list[float], str]:
    """Values as seconds (lower is better), the way pytest-benchmark reads every number."""
    values = samples.values
    if samples.unit == "cycles" and tsc_khz:
        return [v / (tsc_khz * 1000.0) for v in values], "cycles / TSC frequency"
    if samples.unit == "ms":
        return [v / 1000.0 for v in values], "ms / 1000"
    if samples.unit == "s":
        return list(values), "s"
    if samples.direction is Direction.HIGHER_IS_BETTER and samples.unit == "MB/s":
        return [1.0 / v if v else float("inf") for v in values], "1 / (MB/s): seconds per MB"
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
    seconds through the guest's TSC frequency, ms become seconds, and MB/s
    become seconds per MB. The original unit and values are in extra_info.
    """
    benchmarks = []
    for m in measurements:
        for name, s in m.samples.items():
            values, conversion = _seconds(s, m.tsc_khz)
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


def run_context(session: HermitSession) -> dict[str, Any]:
    """What the JSON report says about the run as a whole."""
    s = session.settings
    git = git_info(s.rootdir)
    guest = session.guest_if_resolved
    context: dict[str, Any] = {
        "plugin_version": __version__,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environments": [e.as_dict() for e in session.selected],
        "guest": None
        if guest is None
        else {
            "kernel": str(guest.kernel),
            "initrd": str(guest.initrd or ""),
            "sha256": guest.sha256,
            "cmdline": guest.cmdline,
        },
        "git_commit": git.commit,
        "git_branch": git.branch,
        "git_dirty": git.dirty,
        "baseline": s.gate.compare,
        "ab": None,
    }
    if s.ab_kernel is not None:
        context["ab"] = {
            "kernel_b": str(s.ab_kernel),
            "initrd_b": str(s.ab_initrd or ""),
            "cmdline_b": s.ab_cmdline,
            "seed": s.ab_seed,
        }
    return context


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_all(session: HermitSession) -> list[str]:
    """Write the reports the options ask for; lines saying where they went."""
    s = session.settings
    measurements, judged = session.measurements, session.gate.judged
    notes = []
    label = session.comparison_label
    if s.report_md is not None:
        text = markdown(measurements, judged, label)
        _write(s.report_md, text)
        notes.append(f"hermit: Markdown report in {s.report_md}")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
            notes.append("hermit: appended the Markdown report to $GITHUB_STEP_SUMMARY")
    if s.json is not None:
        _write(s.json, json.dumps(results_json(measurements, judged, run_context(session)), indent=1) + "\n")
        notes.append(f"hermit: JSON results in {s.json}")
    if s.benchmark_json is not None:
        doc = benchmark_json(measurements, git_info(s.rootdir), dt.datetime.now(dt.UTC))
        _write(s.benchmark_json, json.dumps(doc, indent=1) + "\n")
        notes.append(f"hermit: pytest-benchmark JSON in {s.benchmark_json}")
    if s.plot is not None:
        from pytest_hermit.report.plots import write_plots  # matplotlib is imported only when plots are asked for

        paths = write_plots(
            s.plot, measurements, judged, session.gate.reference_samples, baseline_name=session.comparison_label
        )
        notes.append(f"hermit: {len(paths)} plot(s) in {s.plot}")
    return notes


def finish(session: HermitSession) -> bool:
    """Save the baseline and write the reports at the end of the run; False if either failed.

    A failed save does not stop the reports (they say what was measured).
    """
    ok = True
    try:
        saved = session.gate.save()
    except (OSError, HermitError) as exc:
        session.notes.append(f"hermit: ERROR: could not save the baseline: {exc}")
        saved, ok = None, False
    if saved is not None:
        session.notes.append(f"hermit: saved baseline {session.gate.settings.save!r} to {saved}")
    session.notes.extend(session.gate.withheld_lines())
    try:
        session.notes.extend(write_all(session))
    except (OSError, HermitError) as exc:
        session.notes.append(f"hermit: ERROR: could not write a report: {exc}")
        ok = False
    return ok
