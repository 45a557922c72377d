"""``pytest-hermit show NAME``: a baseline's samples per test and environment, and what they were taken on."""

from __future__ import annotations

import argparse
from collections import defaultdict

from pytest_hermit.cli.common import Out, dir_arg, dirty, run_words
from pytest_hermit.exitcodes import EXIT_OK
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate import stats
from pytest_hermit.plugin.argtypes import baseline_name
from pytest_hermit.report.tables import Row, Table

HELP = "show the samples and context of a baseline"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", type=baseline_name, help="baseline name")
    dir_arg(p)


def command(args: argparse.Namespace, out: Out) -> int:
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
        title = f"{baseline.name}: {test} {run_words(run)}(trimmed geometric mean of boot medians, boots x reps)"
        out.table(Table(title, envs, rows))
        for env in envs:
            c = by_env[env][0].context
            h = c.host
            out.line(
                f"  {env}: {c.date or 'no date'}, commit {c.git_commit or '?'}{dirty(c)} ({c.git_branch or '?'}), "
                f"guest {c.guest_sha256[:12] or '?'} '{c.guest_cmdline}', host {h.cpu_model or '?'}, "
                f"kernel {h.host_kernel or '?'}, libvirt {h.libvirt_version or '?'}, qemu {h.qemu_version or '?'}, "
                f"{h.hypervisor_signature or '?'}{' (emulated)' if h.emulated else ''}, "
                f"plugin {c.plugin_version or '?'}"
            )
        out.line()
    return EXIT_OK
