"""The ``pytest-hermit`` command: look at saved baselines and compare two of them.

::

    pytest-hermit list --dir DIR
    pytest-hermit show NAME --dir DIR [--markdown]
    pytest-hermit compare NAME_A NAME_B --dir DIR [--tolerance 5] [--allow-foreign-baseline] [--markdown]

``compare`` applies the gate's statistics (:mod:`pytest_hermit.gate.stats`) to two
saved baselines, B judged against A, one family per (test, environment).

Exit status (shared with the plugin, see ``docs/statistics.md``):

* 0 (:data:`EXIT_OK`): no regression;
* 1 (:data:`EXIT_REGRESSION`): at least one regression (wins over refusals: the
  regressions that could be judged are real);
* 7 (:data:`EXIT_REFUSED`): nothing regressed, but something could not be
  judged: a refused comparison (other host, emulation, other command line),
  a missing entry, a missing or corrupt baseline file, or a usage error (e.g. a
  baseline name that is not a plain file stem: one line on stderr);
* 6 (:data:`EXIT_BROKEN`): used by the plugin only, for runs whose VMs broke.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from pytest_hermit.cli import branches
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate import stats
from pytest_hermit.report.tables import Row, Table, render_markdown, render_text

__all__ = ["EXIT_BROKEN", "EXIT_OK", "EXIT_REFUSED", "EXIT_REGRESSION", "main"]

from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, EXIT_REGRESSION

DEFAULT_DIR = ".hermit/baselines"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as :data:`EXIT_REFUSED` instead of exiting with 2."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message}")


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"tolerance must be in [0, 100) percent, got {text!r}")
    return value / 100


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"confidence must be in [0.5, 1), e.g. 0.95, got {text!r}")
    return value


def _name(text: str) -> str:
    try:
        return bl.validate_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class _Out:
    out: TextIO
    markdown: bool

    def table(self, table: Table) -> None:
        self.out.write((render_markdown(table) if self.markdown else render_text(table)) + "\n\n")

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")


def _cmd_list(args: argparse.Namespace, out: _Out) -> int:
    names = bl.list_names(args.dir)
    if not names:
        out.line(f"no baselines in {args.dir}")
        return EXIT_OK
    status = EXIT_OK
    rows = []
    for name in names:
        try:
            baseline = bl.load(bl.path_for(args.dir, name))
        except bl.BaselineError as exc:
            rows.append(Row(name, "", {"entries": "unreadable", "environments": exc.what}))
            status = EXIT_REFUSED
            continue
        contexts = [e.context for e in baseline]
        dates = sorted(c.date for c in contexts if c.date)
        commits = sorted({c.git_commit[:10] + ("-dirty" if c.git_dirty else "") for c in contexts if c.git_commit})
        rows.append(
            Row(
                name,
                "",
                {
                    "entries": str(len(baseline)),
                    "tests": str(len({e.test for e in baseline})),
                    "environments": ",".join(sorted({e.env for e in baseline})),
                    "date": dates[-1] if dates else "",
                    "commit": ",".join(commits),
                },
            )
        )
    out.table(
        Table(
            f"baselines in {args.dir}",
            ["entries", "tests", "environments", "date", "commit"],
            rows,
            label_header="name",
            unit_header="",
        )
    )
    return status


def _run(run: str) -> str:
    """A run's identity as it appears after a test id ("run 'basic' "), or nothing when unknown."""
    return f"run {run!r} " if run else ""


def _dirty(c: bl.Context) -> str:
    """Said next to the commit, so nobody takes numbers of uncommitted code for the commit's."""
    return " + uncommitted changes (dirty)" if c.git_dirty else ""


def _cmd_show(args: argparse.Namespace, out: _Out) -> int:
    baseline = bl.load_named(args.dir, args.name)
    by_test: dict[tuple[str, str], dict[str, list[bl.Entry]]] = defaultdict(lambda: defaultdict(list))
    for e in baseline:
        by_test[(e.test, e.run)][e.env].append(e)
    for (test, run), by_env in by_test.items():
        envs = sorted(by_env)
        units: dict[str, str] = {}
        cells: dict[str, dict[str, str]] = defaultdict(dict)
        for env in envs:
            for e in by_env[env]:
                units.setdefault(e.samples.metric, e.samples.unit)
                s = e.samples
                cells[s.metric][env] = f"{stats.location(s):.1f} ({s.boots}x{s.reps})" if s.boots else "empty"
        rows = [Row(metric, unit, cells[metric]) for metric, unit in units.items()]
        title = f"{baseline.name}: {test} {_run(run)}(trimmed geometric mean of boot medians, boots x reps)"
        out.table(Table(title, envs, rows))
        for env in envs:
            c = by_env[env][0].context
            h = c.host
            out.line(
                f"  {env}: {c.date or 'no date'}, commit {c.git_commit or '?'}{_dirty(c)} ({c.git_branch or '?'}), "
                f"guest {c.guest_sha256[:12] or '?'} '{c.guest_cmdline}', host {h.cpu_model or '?'}, "
                f"kernel {h.host_kernel or '?'}, libvirt {h.libvirt_version or '?'}, qemu {h.qemu_version or '?'}, "
                f"{h.hypervisor_signature or '?'}{' (emulated)' if h.emulated else ''}, "
                f"plugin {c.plugin_version or '?'}"
            )
        out.line()
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace, out: _Out) -> int:
    a = bl.load_named(args.dir, args.name_a)
    b = bl.load_named(args.dir, args.name_b)
    problems: list[str] = []
    groups: dict[tuple[str, str, str], list[tuple[bl.Entry, bl.Entry]]] = defaultdict(list)
    for key in sorted(a.entries.keys() | b.entries.keys()):
        test, env, run, metric = key
        ea, eb = a.entries.get(key), b.entries.get(key)
        if ea is None or eb is None:
            missing, other = (a, b) if ea is None else (b, a)
            problems.append(
                f"not compared: {metric} of {test} {_run(run)}on {env} is in {other.name!r} but not in {missing.name!r}"
            )
            continue
        for reason in (
            bl.refuse_emulation(ea.context, eb.context),
            bl.refuse_host(ea.context, eb.context, allow_foreign=args.allow_foreign_baseline),
            bl.refuse_environment(ea.context, eb.context),
            bl.refuse_cmdline(ea.context, eb.context),
        ):
            if reason:
                problems.append(f"refused: {metric} of {test} {_run(run)}on {env}: {reason}")
                break
        else:
            groups[(test, env, run)].append((ea, eb))

    verdicts: list[stats.Verdict] = []
    summary: dict[str, dict[str, str]] = defaultdict(dict)
    summary_units: dict[str, str] = {}
    level = f"{round(100 * args.confidence, 2):g}%"
    for (test, env, run), pairs in groups.items():
        try:
            comparisons = stats.judge_all(
                [(ea.samples, eb.samples) for ea, eb in pairs],
                lambda _s: args.tolerance,
                confidence=args.confidence,
            )
        except ValueError as exc:
            problems.append(f"not compared: {test} {_run(run)}on {env}: {exc}")
            continue
        columns = ["A", "B", "change", f"CI ({level} family)", "p (Holm)", "verdict"]
        rows = []
        for c in comparisons:
            cells = c.cells()
            if c.verdict is stats.Verdict.INCONCLUSIVE:
                cells["verdict"] += f" (~{c.boots_needed} boots)" if c.boots_needed else " (baseline too small)"
            rows.append(
                Row(
                    c.metric,
                    c.unit,
                    dict(
                        zip(
                            columns,
                            [cells[k] for k in ("baseline", "current", "change", "interval", "p", "verdict")],
                            strict=True,
                        )
                    ),
                )
            )
            verdicts.append(c.verdict)
            label = f"{test.split('[', 1)[0]} {_run(run)}{c.metric}"
            summary_units[label] = c.unit
            summary[label][env] = f"{cells['change']} {cells['verdict']}"
        out.table(
            Table(
                f"{test} {_run(run)}on {env}: {a.name} (A) -> {b.name} (B), tolerance {args.tolerance * 100:g}%",
                columns,
                rows,
            )
        )
        for c in comparisons:
            if c.verdict is stats.Verdict.REGRESSION:
                out.line(c.message(env))
        if any(c.verdict is stats.Verdict.REGRESSION for c in comparisons):
            out.line()

    envs = sorted({env for _, env, _ in groups})
    if len(groups) > 1:
        rows = [Row(label, summary_units[label], cells) for label, cells in summary.items()]
        out.table(Table(f"summary: change {a.name} -> {b.name} (positive is worse)", envs, rows))
    for p in problems:
        out.line(p)
    worst = max(verdicts, default=stats.Verdict.UNCHANGED)
    if worst is stats.Verdict.REGRESSION:
        return EXIT_REGRESSION
    if problems:
        return EXIT_REFUSED
    return EXIT_OK


# --------------------------------------------------------------------------- parser


#: Subcommands: name -> (help, add arguments, run).
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, _Out], int]]


def _dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path(DEFAULT_DIR), help=f"baseline directory (default {DEFAULT_DIR})")
    p.add_argument("--markdown", action="store_true", help="print tables as Markdown")


def _list_args(p: argparse.ArgumentParser) -> None:
    _dir_arg(p)


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", type=_name, help="baseline name")
    _dir_arg(p)


def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name_a", type=_name, metavar="NAME_A", help="the reference baseline")
    p.add_argument("name_b", type=_name, metavar="NAME_B", help="the baseline judged against NAME_A")
    _dir_arg(p)
    p.add_argument("--tolerance", type=_percent, default=0.05, metavar="PERCENT", help="tolerance band (default 5)")
    p.add_argument(
        "--confidence", type=_confidence, default=stats.DEFAULT_CONFIDENCE, help="family-wise confidence (default 0.95)"
    )
    p.add_argument(
        "--allow-foreign-baseline",
        action="store_true",
        help="compare entries recorded on different hosts (emulation versus hardware is still refused)",
    )


def _branches_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", metavar="BASE", help="git ref of the reference (A), e.g. main")
    p.add_argument("head", metavar="HEAD", help="git ref judged against BASE (B), e.g. my-branch or HEAD")
    p.add_argument("--build", required=True, metavar="CMD", help="shell command that builds the image in a checkout")
    p.add_argument("--image", required=True, metavar="PATH", help="the built kernel, relative to the checkout")
    p.add_argument("--initrd", metavar="PATH", help="the built initrd, relative to the checkout (HermitCore apps)")
    p.epilog = "Everything after -- goes to pytest, e.g. ... --build make --image build/k.elf -- tests/"


def _cmd_branches(args: argparse.Namespace, out: _Out) -> int:
    request = branches.BranchRequest(
        base=args.base,
        head=args.head,
        build=args.build,
        image=args.image,
        initrd=args.initrd,
        pytest_args=tuple(args.pytest_args),
        repo=Path.cwd(),
    )
    return branches.run(request)


COMMANDS: dict[str, Command] = {
    "list": ("list the baselines in a directory", _list_args, _cmd_list),
    "show": ("show the samples and context of a baseline", _show_args, _cmd_show),
    "compare": ("judge baseline NAME_B against NAME_A with the gate's statistics", _compare_args, _cmd_compare),
    "branches": (
        "build two git refs in temporary worktrees and judge HEAD against BASE in an interleaved A/B run",
        _branches_args,
        _cmd_branches,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pytest-hermit", description="Inspect and compare pytest-hermit baselines.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (never raises for expected failures)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse cannot take positionals after "--" once BASE and HEAD are
    # consumed: split pytest's arguments off first.
    passed_on: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passed_on = argv[:cut], argv[cut + 1 :]
    try:
        args = parser.parse_args(argv)
        if passed_on and args.command != "branches":
            raise _UsageError(f"pytest-hermit {args.command}: unexpected arguments after --: {' '.join(passed_on)}")
        args.pytest_args = passed_on
    except _UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_REFUSED
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    out = _Out(sys.stdout, getattr(args, "markdown", False))
    try:
        status: int = args.run(args, out)
    except bl.BaselineError as exc:
        sys.stderr.write(f"pytest-hermit: {exc}\n")
        return EXIT_REFUSED
    return status


if __name__ == "__main__":
    sys.exit(main())
