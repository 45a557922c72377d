"""The end of a run: the baseline saved (by the gate) and the report files the options ask for.

pytest glue: reads the session, writes files, and leaves lines for the
terminal summary in ``session.notes``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest_hermit.durable as durable
from pytest_hermit._version import __version__
from pytest_hermit.errors import HermitError
from pytest_hermit.plugin.session import HermitSession
from pytest_hermit.report.formats import (
    ACTION_BENCHMARK_FILES,
    action_benchmark_json,
    benchmark_json,
    markdown,
    results_json,
)


def run_context(session: HermitSession) -> dict[str, Any]:
    """What the JSON report says about the run as a whole."""
    s = session.settings
    git = session.git
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
            "profile": guest.profile.name,
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


def write_reports(session: HermitSession) -> list[str]:
    """Write the reports the options ask for; lines saying where they went."""
    s = session.settings
    measurements, judged = session.measurements, session.gate.judged
    notes = []
    label = session.comparison_label
    if s.report_md is not None:
        text = markdown(measurements, judged, label)
        durable.replace(s.report_md, text)
        notes.append(f"hermit: Markdown report in {s.report_md}")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
            notes.append("hermit: appended the Markdown report to $GITHUB_STEP_SUMMARY")
    if s.json is not None:
        durable.replace(s.json, json.dumps(results_json(measurements, judged, run_context(session)), indent=1) + "\n")
        notes.append(f"hermit: JSON results in {s.json}")
    if s.benchmark_json is not None:
        doc = benchmark_json(measurements, session.git, dt.datetime.now(dt.UTC))
        durable.replace(s.benchmark_json, json.dumps(doc, indent=1) + "\n")
        notes.append(f"hermit: pytest-benchmark JSON in {s.benchmark_json}")
    if s.action_benchmark is not None:
        for direction, entries in action_benchmark_json(measurements).items():
            path = s.action_benchmark / ACTION_BENCHMARK_FILES[direction]
            if entries:
                durable.replace(path, json.dumps(entries, indent=1) + "\n")
                notes.append(f"hermit: github-action-benchmark JSON in {path} ({len(entries)} entries)")
            elif path.exists():
                # The action refuses an empty file; one left by an earlier run would be charted as this run's.
                path.unlink()
                notes.append(f"hermit: removed {path} of an earlier run (no such metrics in this run)")
    if s.plot is not None:
        from pytest_hermit.report.plots import write_plots  # matplotlib is imported only when plots are asked for

        paths = write_plots(
            s.plot, measurements, judged, session.gate.reference_samples, baseline_name=session.comparison_label
        )
        notes.append(f"hermit: {len(paths)} plot(s) in {s.plot}")
    return notes


def finish(session: HermitSession) -> bool:
    """Save the baseline (the gate's job) and write the reports; False if either failed.

    A failed save does not stop the reports (they say what was measured).
    """
    ok, notes = session.gate.finish()
    session.notes.extend(notes)
    try:
        session.notes.extend(write_reports(session))
    except (OSError, HermitError) as exc:
        session.notes.append(f"hermit: ERROR: could not write a report: {exc}")
        ok = False
    return ok
