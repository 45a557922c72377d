"""``pytest-hermit history``: every series of the history directory in commit order, with its change points.

::

    pytest-hermit history [--dir DIR] [--env E] [--metric M] [--test T] [--branch B]
                          [--md FILE] [--plot DIR] [--repo PATH] [--min-change PCT] [--alpha A]
    pytest-hermit history prune (--keep-last N | --before DATE) [--dir DIR] [--dry-run]

Records come from runs with ``--hermit-history=DIR``. A file that is not a
readable record is skipped with a warning that names it and the field that
is wrong: one bad file must not hide the whole history from a CI summary,
and leaving a record out can hide a change but never invent one. Nothing
but ``prune`` ever removes a record.

Exit status:

* 0: the history was read and shown (change points or not; skipped files warned about);
* 7 (:data:`EXIT_REFUSED`): bad usage, no such directory, no readable record
  among its files, or --plot without matplotlib;
* 8 (:data:`EXIT_OUTPUT`): the history was shown but --md or --plot could not be written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest_hermit.durable as durable
from pytest_hermit.cli.common import Out
from pytest_hermit.errors import HermitError
from pytest_hermit.exitcodes import EXIT_OK, EXIT_OUTPUT, EXIT_REFUSED
from pytest_hermit.history import changepoints, store
from pytest_hermit.history.commits import read_log
from pytest_hermit.history.series import Filters, build_history
from pytest_hermit.history.summary import Analysed, analyse, render
from pytest_hermit.plugin.argtypes import percent_or_zero, positive_int

HELP = "show the history of --hermit-history records: series in commit order and their change points"
PRUNE_HELP = "remove old history records (--keep-last N and/or --before DATE); nothing else removes any"


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a significance level like 0.01, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"the significance level must lie between 0 and 1, got {text!r}")
    return value


def _date(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 date like 2025-01-31 or 2025-01-31T12:00:00+00:00, got {text!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir",
        type=Path,
        default=Path(store.DEFAULT_DIR),
        help=f"history directory, as given to --hermit-history (default {store.DEFAULT_DIR})",
    )
    p.add_argument(
        "--env", type=_names, action="extend", default=[], metavar="E", help="only these environments (repeatable)"
    )
    p.add_argument(
        "--metric", type=_names, action="extend", default=[], metavar="M", help="only these metrics (repeatable)"
    )
    p.add_argument(
        "--test", action="append", default=[], metavar="T", help="only tests whose node id contains T (repeatable)"
    )
    p.add_argument("--branch", metavar="B", help="only records of runs on branch B")
    p.add_argument("--md", type=Path, metavar="FILE", help="also write Markdown (appended to $GITHUB_STEP_SUMMARY)")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write one PNG trend plot per series (needs matplotlib)")
    p.add_argument(
        "--repo",
        type=Path,
        default=Path("."),
        metavar="PATH",
        help="git repository whose commit order orders the points (default: the current directory; "
        "without one, or when it lacks a record's commit, points are ordered by date)",
    )
    p.add_argument(
        "--min-change",
        type=percent_or_zero,
        default=changepoints.DEFAULT_MIN_CHANGE,
        metavar="PERCENT",
        help=f"smallest change reported, in percent (default {100 * changepoints.DEFAULT_MIN_CHANGE:g}; "
        "exact icount series report any change)",
    )
    p.add_argument(
        "--alpha",
        type=_alpha,
        default=changepoints.DEFAULT_ALPHA,
        help=f"significance level of a change point (default {changepoints.DEFAULT_ALPHA:g})",
    )
    sub = p.add_subparsers(dest="history_action", metavar="ACTION", parser_class=type(p))
    prune = sub.add_parser("prune", help=PRUNE_HELP, description=PRUNE_HELP)
    # SUPPRESS: without --dir here, the one given before "prune" (or its default) stays.
    prune.add_argument("--dir", type=Path, default=argparse.SUPPRESS, help="history directory")
    prune.add_argument("--keep-last", type=positive_int, metavar="N", help="keep the newest N records")
    prune.add_argument("--before", type=_date, metavar="DATE", help="remove records dated before DATE (UTC)")
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")


def _warn(text: str) -> None:
    sys.stderr.write(f"pytest-hermit history: {text}\n")


def _load(directory: Path) -> store.Loaded | None:
    try:
        loaded = store.load_all(directory)
    except FileNotFoundError:
        _warn(
            f"no history directory {directory}: record runs with pytest --hermit-history={directory}, "
            "or point --dir at where they went"
        )
        return None
    for problem in loaded.problems:
        _warn(f"skipped: {problem}")
    if loaded.problems and not loaded.records:
        _warn(f"no readable record in {directory}: nothing to show")
        return None
    return loaded


def _prune(args: argparse.Namespace, out: Out) -> int:
    if args.keep_last is None and args.before is None:
        _warn("prune needs --keep-last N or --before DATE (or both: then a record goes only when both let it go)")
        return EXIT_REFUSED
    loaded = _load(args.dir)
    if loaded is None:
        return EXIT_REFUSED
    chosen = store.prune_plan(loaded, keep_last=args.keep_last, before=args.before)
    if args.dry_run:
        for path in chosen:
            out.line(f"would remove {path}")
        out.line(f"{len(chosen)} of {len(loaded.records)} record(s) would be removed (--dry-run)")
        return EXIT_OK
    removed = store.remove(chosen)
    for path in removed:
        out.line(f"removed {path}")
    out.line(f"removed {len(removed)} of {len(loaded.records)} record(s) from {args.dir}")
    return EXIT_OK


def _write_markdown(path: Path, text: str) -> list[str]:
    """Write the Markdown (and append it to the CI step summary); lines saying where it went."""
    durable.replace(path, text)
    notes = [f"Markdown history in {path}"]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        notes.append("appended the Markdown history to $GITHUB_STEP_SUMMARY")
    return notes


def _titles(analysed: list[Analysed]) -> list[str]:
    return [f"{a.series.key.label()} · {a.series.key.guest_cmdline}" for a in analysed]


def command(args: argparse.Namespace, out: Out) -> int:
    if args.history_action == "prune":
        return _prune(args, out)
    if args.plot is not None:
        from pytest_hermit.history.plots import require_matplotlib

        try:
            require_matplotlib()
        except HermitError as exc:
            _warn(str(exc))
            return EXIT_REFUSED
    loaded = _load(args.dir)
    if loaded is None:
        return EXIT_REFUSED
    filters = Filters(frozenset(args.env), frozenset(args.metric), tuple(args.test), args.branch)
    history = build_history((r for _, r in loaded.records), read_log(args.repo), filters)
    analysed = analyse(history, min_change=args.min_change, alpha=args.alpha)
    source = str(args.dir)
    skipped = [f"skipped {p}" for p in loaded.problems]
    if skipped:
        history = replace(history, notes=(*history.notes, *skipped))
    out.out.write(render(history, analysed, source=source))
    status = EXIT_OK
    notes: list[str] = []
    try:
        if args.md is not None:
            notes += _write_markdown(args.md, render(history, analysed, source=source, markdown=True))
        if args.plot is not None:
            from pytest_hermit.history.plots import write_trend_plots

            paths = write_trend_plots(args.plot, analysed, _titles(analysed))
            notes.append(f"{len(paths)} trend plot(s) in {args.plot}")
    except (OSError, HermitError) as exc:
        _warn(f"ERROR: could not write the history's reports: {exc}")
        status = EXIT_OUTPUT
    for note in notes:
        out.line(note)
    return status
