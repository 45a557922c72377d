"""``pytest-hermit list``: the baselines in a directory, with their size, date and commit."""

from __future__ import annotations

import argparse

from pytest_hermit.cli.common import Out, dir_arg
from pytest_hermit.exitcodes import EXIT_OK, EXIT_REFUSED
from pytest_hermit.gate import baselines as bl
from pytest_hermit.report.tables import Row, Table

HELP = "list the baselines in a directory"


def add_args(p: argparse.ArgumentParser) -> None:
    dir_arg(p)


def command(args: argparse.Namespace, out: Out) -> int:
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
