"""``pytest-hermit explain A B``: where a guest's instructions went, per function, between two profiled runs.

A and B are baselines (``--dir``, as ``compare`` has) or history records
(a record's file, or the start of its name in ``--dir``), saved with
``--hermit-profile``. For every run both hold a profile of, the functions
whose instructions per boot changed are listed, largest increase first:
the table a regression's failure message shows, offline and without
building the baseline's commit again. ``--callgrind FILE`` writes the diff
for callgrind_annotate and KCachegrind, ``--folded FILE`` B's profile as
folded stacks for speedscope or flamegraph.pl.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit.cli.common import Out, dir_arg, run_words
from pytest_hermit.exitcodes import EXIT_OK, EXIT_REFUSED
from pytest_hermit.gate import baselines as bl
from pytest_hermit.history import records
from pytest_hermit.profile import diff
from pytest_hermit.profile.callgrind import callgrind
from pytest_hermit.profile.folded import folded
from pytest_hermit.profile.profile import FunctionProfile

HELP = "list the functions whose guest instructions changed between two profiled baselines or history records"

#: (test, env, run)
RunKey = tuple[str, str, str]


@dataclass(frozen=True)
class Profiled:
    """One side: its name and the profile of each run, with whether it was counted exactly (icount)."""

    name: str
    profiles: dict[RunKey, tuple[FunctionProfile, bool]]


class ExplainError(Exception):
    """A side that cannot be found or read; the message says which and what is there."""


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("side_a", metavar="A", help="the reference: a baseline name, or a history record (file or name)")
    p.add_argument("side_b", metavar="B", help="the run explained against A, named the same ways")
    dir_arg(p)
    p.add_argument("--limit", type=int, default=30, metavar="N", help="functions shown per run (default 30)")
    p.add_argument("--callgrind", type=Path, metavar="FILE", help="write the diff in callgrind's format")
    p.add_argument("--folded", type=Path, metavar="FILE", help="write B's profile as folded stacks (speedscope)")


def _from_baseline(baseline: bl.Baseline) -> Profiled:
    profiles = {}
    for entry in baseline:
        if entry.profile is not None:
            exact = bool(entry.context.environment.get("icount", False))
            profiles[(entry.test, entry.env, entry.run)] = (entry.profile, exact)
    return Profiled(baseline.name, profiles)


def _from_record(record: records.RunRecord, name: str) -> Profiled:
    profiles = {(m.test, m.env, m.run): (m.profile, m.counted) for m in record.measurements if m.profile is not None}
    return Profiled(name, profiles)


def _read(path: Path, name: str) -> Profiled:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExplainError(f"{name}: cannot read {path}: {exc}") from None
    schema = document.get("schema") if isinstance(document, dict) else None
    if schema == records.SCHEMA:
        return _from_record(records.from_document(document, path), name)
    return _from_baseline(bl.from_document(document, path))


def load_side(name: str, directory: Path) -> Profiled:
    """A baseline ``DIR/NAME.json``, a file, or the one history record in DIR whose name starts with NAME."""
    as_baseline = directory / f"{name}.json"
    if as_baseline.is_file():
        return _read(as_baseline, name)
    as_file = Path(name)
    if as_file.is_file():
        return _read(as_file, name)
    matches = sorted(directory.glob(f"{name}*.json")) if directory.is_dir() else []
    if len(matches) == 1:
        return _read(matches[0], name)
    if len(matches) > 1:
        raise ExplainError(f"{name!r} names {len(matches)} files in {directory}: give more of the record's name")
    there = ", ".join(sorted(p.stem for p in directory.glob("*.json"))[:10]) if directory.is_dir() else ""
    raise ExplainError(f"no baseline or history record {name!r} in {directory} (there: {there or 'nothing'})")


def _numbered(path: Path, index: int, count: int) -> Path:
    return path if count == 1 else path.with_name(f"{path.stem}.{index}{path.suffix}")


def command(args: argparse.Namespace, out: Out) -> int:
    try:
        a = load_side(args.side_a, args.dir)
        b = load_side(args.side_b, args.dir)
    except (ExplainError, records.RecordError) as exc:
        out.line(f"pytest-hermit explain: {exc}")
        return EXIT_REFUSED
    common = sorted(a.profiles.keys() & b.profiles.keys())
    for side, other in ((a, b), (b, a)):
        for test, env, run in sorted(side.profiles.keys() - other.profiles.keys()):
            out.line(f"not explained: {test} {run_words(run)}on {env} has a profile in {side.name!r} only")
    if not common:
        out.line(
            f"no run has a profile in both {a.name!r} and {b.name!r}: record both with --hermit-profile "
            "(icount or qemu)"
        )
        return EXIT_REFUSED
    written = []
    for index, key in enumerate(common, start=1):
        (base, exact_a), (new, exact_b) = a.profiles[key], b.profiles[key]
        test, env, run = key
        out.line(
            f"{test} {run_words(run)}on {env}: {a.name} -> {b.name} "
            f"({base.total / base.boots:,.0f} -> {new.total / new.boots:,.0f} instructions per boot)"
        )
        for line in diff.table(diff.changes(base, new), exact=exact_a and exact_b, limit=args.limit):
            out.line(line)
        out.line()
        if args.callgrind:
            path = _numbered(args.callgrind, index, len(common))
            path.write_text(callgrind(base, new, f"pytest-hermit explain {a.name} {b.name}: {test} {run} on {env}"))
            written.append(f"callgrind diff: {path} (callgrind_annotate {path})")
        if args.folded:
            path = _numbered(args.folded, index, len(common))
            path.write_text(folded(new, root=f"{env}:{run}"))
            written.append(f"folded stacks of {b.name}: {path} (open in https://www.speedscope.app)")
    for line in written:
        out.line(line)
    return EXIT_OK
