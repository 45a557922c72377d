"""The regression gate end to end: save, compare, a known slowdown, refusals (real VMs)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_hermit.exitcodes import EXIT_REFUSED
from pytest_hermit.gate import baselines as bl
from pytest_hermit.results.samples import Samples
from tests.conftest import SMALL_LOOPS, assert_getpid_regressed, run_pytest

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]

GATE_TEST = """
def test_basic(hermit_run):
    hermit_run("basic")
"""
#: The timed gate's plumbing end to end: a timed baseline saved, then compared through the
#: statistics. Whether it *catches* a slowdown is not certain between two runs minutes apart
#: on a shared host: with six jobs on these two cores (load 5-6) +100% injected read +58%
#: [-2%..+156%], inconclusive at 20 boots (issue 16's report). Catching is asserted where it
#: is certain: interleaved A/B pairs (tests/test_reports_vm.py) and icount (test_icount_vm.py);
#: how small a change the timed gate finds is measured in benchmarks/detection.py.
SIZE = ("--hermit-env=qemu", "--hermit-boots=10", "--hermit-reps=5", "--hermit-max-boots=20", "--hermit-timeout=120")
SLOWDOWN = "inject=getpid:100"


def test_a_timed_baseline_is_saved_and_a_slowdown_against_it_judged_by_the_statistics(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user_gate=GATE_TEST)
    saved = run_pytest(pytester, *SIZE, f"--hermit-cmdline={SMALL_LOOPS}", "--hermit-save=main")
    saved.assert_outcomes(passed=1)
    path = pytester.path / ".hermit" / "baselines" / "main.json"
    document = json.loads(path.read_text())
    assert document["schema"] == "pytest-hermit/baseline"
    metrics = {e["metric"] for e in document["entries"]}
    assert metrics == {"getpid", "sched_yield", "malloc", "first_page_access"}
    context = next(iter(document["contexts"].values()))
    assert context["host"]["hypervisor_signature"] == "TCGTCGTCGTCG"
    assert len(context["guest_sha256"]) == 64

    slow = run_pytest(
        pytester,
        *SIZE,
        "--hermit-compare=main",
        f"--hermit-cmdline={SMALL_LOOPS} {SLOWDOWN}",
        "--hermit-json=slow.json",
    )
    (run,) = json.loads((pytester.path / "slow.json").read_text())["runs"]
    getpid = run["metrics"]["getpid"]["comparison"]
    assert getpid["method"] == "bootstrap", "timed numbers are judged by the statistics, never exactly"
    # Twice the work per getpid: never read as unchanged or faster, whatever the host's load.
    assert getpid["verdict"] in ("regression", "inconclusive") and getpid["change"] > 0.05, getpid
    assert 10 <= run["boots"] <= 20
    if getpid["verdict"] == "regression":
        assert_getpid_regressed(slow)
    else:
        slow.assert_outcomes(passed=1)


#: Where "unchanged" is certain: icount counts instructions, and the reference guest's are the
#: same in every boot and repetition (a timed "unchanged" at 5% was a false alarm in 5 of 20
#: runs, docs/benchmarks.md). Two boots x two repetitions: exactness is observed, not assumed.
EXACT = (
    "--hermit-env=icount",
    "--hermit-boots=2",
    "--hermit-reps=2",
    "--hermit-timeout=120",
    f"--hermit-cmdline={SMALL_LOOPS}",
)


def test_an_unchanged_guest_compares_unchanged_and_exact_under_icount(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_gate=GATE_TEST)
    run_pytest(pytester, *EXACT, "--hermit-save=main").assert_outcomes(passed=1)
    same = run_pytest(pytester, *EXACT, "--hermit-compare=main")
    same.assert_outcomes(passed=1)
    same.stdout.fnmatch_lines(["*change against baseline 'main'*"])
    for metric in ("getpid", "sched_yield", "malloc", "first_page_access"):
        same.stdout.fnmatch_lines([f"{metric} *+0.0% [[]exact[]] unchanged"])


def test_corrupt_baseline_is_refused_and_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_gate=GATE_TEST)
    folder = pytester.path / ".hermit" / "baselines"
    folder.mkdir(parents=True)
    path = folder / "main.json"
    path.write_text('{"schema": "pytest-hermit/baseline", "version": 1, "entries": [')
    before = path.read_bytes()
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-compare=main")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{path}*"])
    assert path.read_bytes() == before


def test_missing_baseline_and_missing_entry(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_gate=GATE_TEST)
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-compare=nightly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no baseline 'nightly'*--hermit-save=nightly*"])

    folder = pytester.path / ".hermit" / "baselines"
    samples = Samples.of("getpid", "cycles", [[1.0, 2.0]])
    ctx = bl.Context("0", {}, bl.HostFingerprint(), "x", "", None, None, "2026-01-01T00:00:00+00:00")
    bl.save_merge(folder / "other.json", [bl.Entry("tests/other.py::test_x[qemu]", "qemu", samples, ctx)])
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-compare=other", "--hermit-boots=1", "--hermit-reps=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*refused*test_user_gate.py::test_basic[[]qemu[]]*"])
    assert result.ret == EXIT_REFUSED


def _save(path: Path, index: int) -> None:
    samples = Samples.of(f"metric{index}", "cycles", [[float(index)] * 3] * 3)
    ctx = bl.Context("0", {}, bl.HostFingerprint(), "x", "", None, None, "2026-01-01T00:00:00+00:00")
    bl.save_merge(path, [bl.Entry(f"t{index}", "qemu", samples, ctx)])


def test_concurrent_saves_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    procs = [multiprocessing.get_context("fork").Process(target=_save, args=(path, i)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(bl.load(path)) == 8


def test_a_regression_is_not_saved_to_the_baseline_it_was_compared_with(pytester: pytest.Pytester) -> None:
    """--hermit-compare=main --hermit-save=main must not move main to the slower numbers."""
    pytester.makepyfile(test_user_gate=GATE_TEST)
    run_pytest(pytester, *EXACT, "--hermit-save=main").assert_outcomes(passed=1)
    path = pytester.path / ".hermit" / "baselines" / "main.json"
    # Make the regression certain: the same context (this host, guest, command
    # line), every number halved; icount's numbers repeat, so every metric is an exact +100%.
    faster = [
        bl.Entry(
            e.test,
            e.env,
            Samples(
                e.samples.metric,
                e.samples.unit,
                tuple(tuple(v / 2 for v in boot) for boot in e.samples.per_boot * 3),
                e.samples.direction,
            ),
            e.context,
        )
        for e in bl.load(path)
    ]
    bl.save_merge(path, faster)
    before = path.read_bytes()

    result = run_pytest(pytester, *EXACT, "--hermit-compare=main", "--hermit-save=main")
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*not saved to baseline 'main' (1 measurement(s); their entries stay as they were):",
            "*test_user_gate.py::test_basic[[]icount[]] basic: regression: getpid regressed (+100.0%*",
            "*run again with --hermit-save=main and without --hermit-compare*",
        ]
    )
    assert "saved baseline 'main'" not in result.stdout.str()
    assert path.read_bytes() == before


TWO_RUNS_TEST = """
def test_sizes(hermit_run):
    hermit_run("basic")
    hermit_run("basic", cmdline="iters=50000")
"""


def test_two_runs_in_one_test_keep_their_own_baseline_entries(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_gate=TWO_RUNS_TEST)
    run_pytest(pytester, *EXACT, "--hermit-save=main").assert_outcomes(passed=1)
    baseline = bl.load(pytester.path / ".hermit" / "baselines" / "main.json")
    assert {e.run for e in baseline} == {"basic", "basic iters=50000"} and len(baseline) == 8

    result = run_pytest(pytester, *EXACT, "--hermit-compare=main", "--hermit-json=r.json", "--junitxml=j.xml")
    result.assert_outcomes(passed=1)  # before run identities, the first call was refused (another command line)
    runs = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert [r["run"] for r in runs] == ["basic", "basic iters=50000"]
    assert all(r["metrics"]["getpid"]["comparison"] is not None for r in runs)
    junit = (pytester.path / "j.xml").read_text()
    assert 'name="hermit.icount.basic.getpid.verdict"' in junit
    assert 'name="hermit.icount.basic iters=50000.getpid.verdict"' in junit
