"""``pytest-hermit compare NAME_A NAME_B``: the gate's judgement on two saved baselines, B judged against A.

One family per (test, environment, run), judged as the gate judges
(``gate.judge.judge_family``): the same exactness for counted (icount)
numbers and the same tolerances (``[tool.hermit.tolerance]`` of the
pyproject.toml in the current folder, the environments' own defaults,
``--tolerance`` over both). Entries that are missing on one side or were
taken on another host, environment or command line are named and not
compared.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from pytest_hermit.cli.common import Out, dir_arg, run_words
from pytest_hermit.exitcodes import EXIT_OK, EXIT_REFUSED, EXIT_REGRESSION
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate import stats
from pytest_hermit.gate.judge import Tolerances, judge_family, untimeable
from pytest_hermit.plugin.argtypes import baseline_name, confidence, percent_or_zero
from pytest_hermit.plugin.options import parse_tolerances
from pytest_hermit.plugin.pyproject import tool_hermit
from pytest_hermit.report.tables import Row, Table
from pytest_hermit.results import numbers as fmt
from pytest_hermit.results.samples import Samples
from pytest_hermit.vm.environments import default_tolerances, load_registry

HELP = "judge baseline NAME_B against NAME_A with the gate's statistics"

#: (test, env, run) -> the (A, B) entries of its metrics.
Groups = dict[tuple[str, str, str], list[tuple[bl.Entry, bl.Entry]]]

_CELLS = ("baseline", "current", "change", "interval", "p", "verdict")


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name_a", type=baseline_name, metavar="NAME_A", help="the reference baseline")
    p.add_argument("name_b", type=baseline_name, metavar="NAME_B", help="the baseline judged against NAME_A")
    dir_arg(p)
    p.add_argument(
        "--tolerance",
        type=percent_or_zero,
        default=None,
        metavar="PERCENT",
        help="tolerance band for every metric (default: as the gate: [tool.hermit.tolerance] of ./pyproject.toml, "
        "else 5, icount 0.5)",
    )
    p.add_argument(
        "--confidence", type=confidence, default=stats.DEFAULT_CONFIDENCE, help="family-wise confidence (default 0.95)"
    )
    p.add_argument(
        "--allow-foreign-baseline",
        action="store_true",
        help="compare entries recorded on different hosts (emulation versus hardware is still refused)",
    )


def pair_entries(a: bl.Baseline, b: bl.Baseline, allow_foreign: bool) -> tuple[Groups, list[str]]:
    """The entries both baselines hold and may be compared, grouped into families; what was left out, and why."""
    problems: list[str] = []
    groups: Groups = defaultdict(list)
    for key in sorted(a.entries.keys() | b.entries.keys()):
        test, env, run, metric = key
        ea, eb = a.entries.get(key), b.entries.get(key)
        if ea is None or eb is None:
            missing, other = (a, b) if ea is None else (b, a)
            problems.append(
                f"not compared: {metric} of {test} {run_words(run)}on {env} is in {other.name!r} "
                f"but not in {missing.name!r}"
            )
            continue
        for reason in (
            bl.refuse_emulation(ea.context, eb.context),
            bl.refuse_host(ea.context, eb.context, allow_foreign=allow_foreign),
            bl.refuse_environment(ea.context, eb.context),
            bl.refuse_cmdline(ea.context, eb.context),
        ):
            if reason:
                problems.append(f"refused: {metric} of {test} {run_words(run)}on {env}: {reason}")
                break
        else:
            groups[(test, env, run)].append((ea, eb))
    return groups, problems


def family_rows(comparisons: list[stats.Comparison], columns: list[str]) -> list[Row]:
    """One row per metric: A, B, change, interval, p and verdict (with the boots an undecided one needs)."""
    rows = []
    for c in comparisons:
        cells = c.cells()
        if c.verdict is stats.Verdict.INCONCLUSIVE:
            cells["verdict"] += f" (~{c.boots_needed} boots)" if c.boots_needed else " (baseline too small)"
        rows.append(Row(c.metric, c.unit, dict(zip(columns, [cells[k] for k in _CELLS], strict=True))))
    return rows


def command(args: argparse.Namespace, out: Out) -> int:
    a = bl.load_named(args.dir, args.name_a)
    b = bl.load_named(args.dir, args.name_b)
    groups, problems = pair_entries(a, b, args.allow_foreign_baseline)
    verdicts: list[stats.Verdict] = []
    summary: dict[str, dict[str, str]] = defaultdict(dict)
    summary_units: dict[str, str] = {}
    columns = ["A", "B", "change", f"CI ({fmt.percent(args.confidence, 2)} family)", "p (Holm)", "verdict"]
    tolerances = gate_tolerances(args.tolerance, Path.cwd() / "pyproject.toml")
    for (test, env, run), pairs in groups.items():
        counted = all(bl.is_exact(ea.context) and bl.is_exact(eb.context) for ea, eb in pairs)
        samples = [(ea.samples, eb.samples) for ea, eb in pairs]
        left_out = untimeable(samples, counted)
        problems += [
            f"not compared: {m} of {test} {run_words(run)}on {env}: the host timed it and one boot a side "
            "cannot show its noise"
            for m in left_out
        ]
        samples = [(sa, sb) for sa, sb in samples if sb.metric not in left_out]
        if not samples:
            continue
        try:
            comparisons = judge_family(
                samples, tolerance_in(tolerances, env), counted=counted, confidence=args.confidence
            )
        except ValueError as exc:
            problems.append(f"not compared: {test} {run_words(run)}on {env}: {exc}")
            continue
        bands = sorted({c.tolerance for c in comparisons})
        band = "/".join(f"{t * 100:g}%" for t in bands)
        title = f"{test} {run_words(run)}on {env}: {a.name} (A) -> {b.name} (B), tolerance {band}"
        out.table(Table(title, columns, family_rows(comparisons, columns)))
        for c in comparisons:
            verdicts.append(c.verdict)
            cells = c.cells()
            label = f"{test.split('[', 1)[0]} {run_words(run)}{c.metric}"
            summary_units[label] = c.unit
            summary[label][env] = f"{cells['change']} {cells['verdict']}"
        regressions = [c for c in comparisons if c.verdict is stats.Verdict.REGRESSION]
        for c in regressions:
            out.line(c.message(env))
        if regressions:
            out.line()
    if len(groups) > 1:
        envs = sorted({env for _, env, _ in groups})
        rows = [Row(label, summary_units[label], cells) for label, cells in summary.items()]
        out.table(Table(f"summary: change {a.name} -> {b.name} (positive is worse)", envs, rows))
    for p in problems:
        out.line(p)
    return _status(verdicts, problems)


def tolerance_in(tolerances: Tolerances, env: str) -> Callable[[Samples], float]:
    return lambda samples: tolerances.of(env, samples.metric)


def gate_tolerances(given: float | None, pyproject: Path) -> Tolerances:
    """The tolerances the gate would use in this folder: ``[tool.hermit.tolerance]``, the environments' defaults."""
    tool = tool_hermit(pyproject)
    source = str(pyproject)
    tolerances = parse_tolerances(given, tool, source)
    return tolerances.with_env_defaults(default_tolerances(load_registry(tool, source)))


def _status(verdicts: list[stats.Verdict], problems: list[str]) -> int:
    """A regression wins over refusals: the regressions that could be judged are real."""
    if max(verdicts, default=stats.Verdict.UNCHANGED) is stats.Verdict.REGRESSION:
        return EXIT_REGRESSION
    return EXIT_REFUSED if problems else EXIT_OK
