"""icount end to end: identical numbers in every boot, and a 2% slowdown caught in one boot (real VMs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SMALL_LOOPS, run_pytest

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]

BASIC = f"""
def test_basic(hermit_run):
    hermit_run("basic", cmdline="{SMALL_LOOPS}")
"""
METRICS = ("getpid", "sched_yield", "malloc", "first_page_access")


def _values(report: Path) -> dict[str, list[float]]:
    run = json.loads(report.read_text())["runs"][0]
    return {m: [v for boot in run["metrics"][m]["per_boot"] for v in boot] for m in METRICS}


def test_the_same_numbers_in_every_boot_and_every_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exact=BASIC)
    seen = []
    for i in range(2):
        result = run_pytest(
            pytester, "--hermit-env=icount", "--hermit-boots=2", "--hermit-reps=2", f"--hermit-json=r{i}.json"
        )
        result.assert_outcomes(passed=1)
        seen.append(_values(pytester.path / f"r{i}.json"))
    result.stdout.fnmatch_lines(["*icount (instructions)*", "*getpid*cycles*"])
    for metric in METRICS:
        values = seen[0][metric] + seen[1][metric]
        assert len(values) == 8 and len(set(values)) == 1, (metric, values)


def test_two_default_boots_catch_two_percent_exactly_and_nothing_else(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exact=BASIC)
    saved = run_pytest(pytester, "--hermit-env=icount", "--hermit-save=main")
    saved.assert_outcomes(passed=1)
    saved.stdout.fnmatch_lines(["*icount*2 boots x 1 reps*"])

    same = run_pytest(pytester, "--hermit-env=icount", "--hermit-compare=main")
    same.assert_outcomes(passed=1)

    slow = run_pytest(pytester, "--hermit-env=icount", "--hermit-compare=main", "--hermit-cmdline=inject=getpid:2")
    slow.assert_outcomes(failed=1)
    assert slow.ret == 1
    slow.stdout.fnmatch_lines(["*getpid regressed on icount: 15.000 -> 15.* cycles (+*%, exact*tolerance 0.5%*"])
    out = slow.stdout.str()
    for other in ("sched_yield", "malloc", "first_page_access"):
        assert f"{other} regressed" not in out
