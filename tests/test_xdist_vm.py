"""pytest -n 2 end to end under icount: the same tables, reports, baseline, history and exit statuses as serially.

icount's numbers are the same in every boot, so a parallel run and a serial
run must agree to the last digit.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_REFUSED
from pytest_hermit.gate import baselines as bl
from pytest_hermit.results.samples import Samples
from tests.conftest import REPO, SMALL_LOOPS, hermit_qemu_processes, inner_pytest, run_pytest

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]
pytest.importorskip("xdist")

#: Two environments, so one test's instances land on different workers and their columns must meet in one table.
PYPROJECT = """
[tool.hermit.environments.icount2]
base = "icount"
"""
TESTS = {
    "test_one": f"""
def test_basic(hermit_run):
    hermit_run("basic", cmdline="{SMALL_LOOPS}")

def test_two_calls(hermit_run):
    hermit_run("basic", cmdline="{SMALL_LOOPS}")
    hermit_run("basic", cmdline="{SMALL_LOOPS}")
""",
    "test_two": f"""
def test_other(hermit_run):
    hermit_run("basic", cmdline="{SMALL_LOOPS}")
""",
}
ENVS = "--hermit-env=icount,icount2"


@pytest.fixture(autouse=True)
def _suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers start in the test's folder and would import the installed plugin, maybe another checkout's.
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makefile(".toml", pyproject=PYPROJECT)
    pytester.makepyfile(**TESTS)


def _runs(path: Path) -> list[dict[str, Any]]:
    """The JSON report's runs without what differs between runs by design (transcript paths)."""
    return [{k: v for k, v in run.items() if k != "transcripts"} for run in json.loads(path.read_text())["runs"]]


def _entries(path: Path) -> list[tuple[str, str, str, str, Any]]:
    doc = json.loads(path.read_text())
    return sorted((e["test"], e["env"], e["run"], e["metric"], e["per_boot"]) for e in doc["entries"])


def _summary(text: str) -> list[str]:
    """The hermit results section without the lines naming this run's own files, or its time."""
    section = text.split("hermit results", 1)[1].splitlines()[1:]
    own = re.compile(r"saved baseline|JSON results|Markdown report|history record")
    # A host's preflight line says the load of the moment: the same host, another number.
    lines = [re.sub(r"load [0-9.]+ on", "load L on", line) for line in section]
    return [line for line in lines if not line.startswith("=") and not own.search(line)]


def test_two_workers_give_a_serial_runs_tables_reports_baseline_and_history(pytester: pytest.Pytester) -> None:
    serial = run_pytest(pytester, ENVS, "--hermit-json=serial.json", "--hermit-save=serial")
    serial.assert_outcomes(passed=6)
    parallel = run_pytest(
        pytester,
        "-n",
        "2",
        ENVS,
        "--hermit-json=par.json",
        "--hermit-save=par",
        "--hermit-report-md=par.md",
        "--hermit-history=history",
    )
    parallel.assert_outcomes(passed=6)
    assert parallel.ret == 0

    runs = _runs(pytester.path / "par.json")
    keys = [(r["test"], r["env"], r["run"]) for r in runs]
    assert len(keys) == 8 and len(set(keys)) == 8  # 4 hermit_run calls x 2 environments, each once
    assert runs == _runs(pytester.path / "serial.json")

    folder = pytester.path / ".hermit" / "baselines"
    assert len(_entries(folder / "par.json")) == 8 * 4
    assert _entries(folder / "par.json") == _entries(folder / "serial.json")

    out = parallel.stdout.str()
    assert _summary(out) == _summary(serial.stdout.str())
    for title in (
        f"basic {SMALL_LOOPS} — test_one.py::test_basic —",
        f"basic {SMALL_LOOPS} #2 — test_one.py::test_two_calls —",
    ):
        assert out.count(title) == 1, out  # one table, the two workers' columns side by side
    parallel.stdout.fnmatch_lines(["*icount (instructions)*icount2 (instructions)*"])
    assert out.count("hermit: saved baseline 'par'") == 1
    # Each worker's probe notes (one per environment), said once as serially.
    assert out.count("QEMU counts instructions") == serial.stdout.str().count("QEMU counts instructions") == 2

    markdown = (pytester.path / "par.md").read_text()
    assert markdown.count("test_one.py::test_basic") == 1
    records = list((pytester.path / "history").glob("*.json"))
    assert len(records) == 1
    assert len(json.loads(records[0].read_text())["measurements"]) == 8


def test_gate_verdicts_refusals_and_broken_runs_keep_their_exit_statuses(pytester: pytest.Pytester) -> None:
    saved = run_pytest(pytester, "-n", "2", ENVS, "--hermit-save=main")
    assert saved.ret == 0

    slow = run_pytest(pytester, "-n", "2", ENVS, "--hermit-compare=main", "--hermit-cmdline=inject=getpid:2")
    slow.assert_outcomes(failed=6)
    assert slow.ret == 1
    slow.stdout.fnmatch_lines(["*getpid regressed on icount: 15.000 -> 15.* cycles (+*%, exact*"])
    assert "sched_yield regressed" not in slow.stdout.str()

    # A baseline with none of these tests: every comparison is refused.
    samples = Samples.of("getpid", "cycles", [[1.0, 2.0]])
    ctx = bl.Context("0", {}, bl.HostFingerprint(), "x", "", None, None, "2026-01-01T00:00:00+00:00")
    bl.save_merge(pytester.path / ".hermit" / "baselines" / "other.json", [bl.Entry("t.py::x", "icount", samples, ctx)])
    refused = run_pytest(pytester, "-n", "2", ENVS, "--hermit-compare=other")
    refused.assert_outcomes(failed=6)
    assert refused.ret == EXIT_REFUSED

    # A word the reference guest does not know makes it end with status=error: a broken run.
    broken = run_pytest(pytester, "-n", "2", ENVS, "--hermit-cmdline=nosuchword=1", "-k", "test_basic or test_other")
    broken.assert_outcomes(failed=4)
    assert broken.ret == EXIT_BROKEN
    broken.stdout.fnmatch_lines(["*[[]hermit: broken run[]]*"])


LONG = f"""
def test_long_a(hermit_run):
    hermit_run("basic", boots=30, cmdline="{SMALL_LOOPS}")

def test_long_b(hermit_run):
    hermit_run("basic", boots=30, cmdline="{SMALL_LOOPS}")
"""


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (its xdist workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _worker_qemus(workers: list[int]) -> list[str]:
    return [line for pid in workers for line in hermit_qemu_processes(f"guest=hermit-qemu-{pid}-")]


def test_ctrl_c_of_the_controller_leaves_no_vm_of_any_worker(pytester: pytest.Pytester) -> None:
    """The workers' VMs are destroyed when only the controller is interrupted (its workers see their channel go)."""
    folder = pytester.mkdir("long")
    (folder / "test_long.py").write_text(LONG)
    with inner_pytest(folder, "-n", "2", "--hermit-env=qemu") as proc:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while not _worker_qemus(workers):
            assert proc.poll() is None and time.monotonic() < deadline, "no worker booted a VM"
            workers = _children(proc.pid)
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    deadline = time.monotonic() + 30
    while _worker_qemus(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _worker_qemus(workers) == []


CRASHES = """
import os

def test_a_measures(hermit_run):
    hermit_run("hello", boots=1)

def test_b_crashes_its_worker(hermit_env):
    # Once: xdist gives the tests left on a crashed worker to the worker that replaces it.
    if not os.path.exists("crashed"):
        open("crashed", "w").close()
        os._exit(3)
"""


def test_a_crashed_worker_names_what_it_lost_and_no_baseline_or_history_is_saved_without_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_crash=CRASHES)
    # loadfile: both tests on one worker, so the crash takes the first test's numbers with it.
    args = ["-n", "2", "--dist=loadfile", "-p", "no:randomly", "--hermit-env=icount", "test_crash.py"]
    result = run_pytest(pytester, *args, "--hermit-save=crash", "--hermit-history=history")
    # The crash fails the test it ran; the worker that replaces the crashed one runs it again.
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*hermit: ERROR: worker gw? went down before handing over its results (*): the numbers of 1 test(s) "
            "it measured are missing from the summary and the reports: test_crash.py::test_a_measures[[]icount[]]",
            "*hermit: ERROR: baseline 'crash' not saved, not even the other tests' entries: *run again to save it",
            "*hermit: ERROR: no history record written: a worker's measurements were lost",
        ]
    )
    assert not (pytester.path / ".hermit" / "baselines" / "crash.json").exists()
    assert not list((pytester.path / "history").glob("*.json"))
