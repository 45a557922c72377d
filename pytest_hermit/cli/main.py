"""The ``pytest-hermit`` command: baselines, branch comparisons, history, bisection, host check, project setup.

::

    pytest-hermit list --dir DIR
    pytest-hermit show NAME --dir DIR [--markdown]
    pytest-hermit compare NAME_A NAME_B --dir DIR [--tolerance 5] [--allow-foreign-baseline] [--markdown]
    pytest-hermit explain A B --dir DIR [--limit N] [--callgrind FILE] [--folded FILE]
    pytest-hermit branches BASE HEAD --build CMD --image PATH [--initrd PATH] [-- PYTEST_ARGS]
    pytest-hermit bisect GOOD BAD --build CMD --image PATH [--initrd PATH] [--metric M] [-- PYTEST_ARGS]
    pytest-hermit history [--dir DIR] [--env E] [--metric M] [--md FILE] [--plot DIR]
    pytest-hermit history prune [--keep-last N] [--before DATE] [--dir DIR] [--dry-run]
    pytest-hermit doctor [--json] [--pyproject FILE] [--state-dir DIR]
    pytest-hermit init [--dir DIR]

``compare`` applies the gate's statistics (:mod:`pytest_hermit.gate.stats`) to two
saved baselines, B judged against A, one family per (test, environment).

Exit status (shared with the plugin, see ``docs/statistics.md``; ``bisect``,
``history``, ``doctor`` and ``init`` document their own in ``--help``):

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
from collections.abc import Callable, Sequence
from typing import NoReturn

from pytest_hermit.cli import bisect, branches, compare, doctor, explain, history, init, listing, show
from pytest_hermit.cli.common import Out
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, EXIT_REGRESSION
from pytest_hermit.gate import baselines as bl

__all__ = ["EXIT_BROKEN", "EXIT_OK", "EXIT_REFUSED", "EXIT_REGRESSION", "main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as :data:`EXIT_REFUSED` instead of exiting with 2."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message}")


#: Subcommands: name -> (help, add arguments, run).
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, Out], int]]

COMMANDS: dict[str, Command] = {
    "list": (listing.HELP, listing.add_args, listing.command),
    "show": (show.HELP, show.add_args, show.command),
    "compare": (compare.HELP, compare.add_args, compare.command),
    "explain": (explain.HELP, explain.add_args, explain.command),
    "branches": (branches.HELP, branches.add_args, branches.command),
    "history": (history.HELP, history.add_args, history.command),
    "bisect": (bisect.HELP, bisect.add_args, bisect.command),
    "doctor": (doctor.HELP, doctor.add_args, doctor.command),
    "init": (init.HELP, init.add_args, init.command),
}

#: The subcommands that run pytest: everything after "--" is its arguments.
RUN_PYTEST = {"branches", "bisect"}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pytest-hermit",
        description="Baselines, branch comparisons, history and bisection of pytest-hermit measurements; "
        "what this host can run (doctor) and a project's starting point (init).",
    )
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
        if passed_on and args.command not in RUN_PYTEST:
            raise _UsageError(f"pytest-hermit {args.command}: unexpected arguments after --: {' '.join(passed_on)}")
        args.pytest_args = passed_on
    except _UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_REFUSED
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    out = Out(sys.stdout, getattr(args, "markdown", False))
    try:
        status: int = args.run(args, out)
    except bl.BaselineError as exc:
        sys.stderr.write(f"pytest-hermit: {exc}\n")
        return EXIT_REFUSED
    return status
