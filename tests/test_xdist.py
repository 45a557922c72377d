"""pytest -n N without VMs: what crosses from a worker, failure kinds and exit statuses, refusals, the header."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OUTPUT, EXIT_REFUSED
from pytest_hermit.gate import stats
from pytest_hermit.gate.judge import Judged
from pytest_hermit.plugin.workers import progress_line
from pytest_hermit.report.formats import read_results, results_json
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples
from tests.conftest import REPO, run_pytest

pytest.importorskip("xdist")


@pytest.fixture(autouse=True)
def _workers_import_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers start in the test's folder and would import the installed plugin, maybe another checkout's."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def _measurement(test: str, run: str, values: list[list[float]]) -> Measurement:
    samples = {
        name: Samples.of(name, "cycles", [[v * k for v in boot] for boot in values]) for name, k in (("a", 1), ("b", 2))
    }
    return Measurement(
        env="qemu",
        workload="basic",
        samples=samples,
        boots=len(values),
        reps=len(values[0]),
        cmdline="workload=basic reps=2",
        test_id=test,
        run=run,
        tsc_khz=2400000,
    )


def test_results_document_gives_back_the_measurements_and_comparisons() -> None:
    """The worker-to-controller form is the JSON report's: reading it back loses nothing the outputs use."""
    base = _measurement("t.py::test_x[qemu]", "basic", [[10.0, 11.0], [10.5, 10.2], [9.9, 10.1]])
    current = _measurement("t.py::test_x[qemu]", "basic", [[12.0, 12.5], [12.2, 12.1], [12.4, 11.9]])
    plain = _measurement("t.py::test_y[qemu]", "basic x=1", [[5.0, 5.0], [5.1, 5.0]])
    plain = replace(plain, guest_warnings=("mallocs=9 needs 9 MiB: using mallocs=4 (boot 1, console line 3)",))
    pairs = [(base[m], current[m]) for m in current]
    judged = Judged(current, stats.judge_all(pairs, lambda s: 0.05), {m: base[m] for m in current})
    document = results_json([current, plain], [judged], {})

    measurements, back = read_results(document)

    assert measurements == [current, plain]
    assert len(back) == 1 and back[0].measurement is measurements[0]
    assert back[0].comparisons == judged.comparisons
    assert [c.message("qemu") for c in back[0].comparisons] == [c.message("qemu") for c in judged.comparisons]


def test_progress_lines_name_the_worker(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    assert progress_line(config, "hermit: qemu basic boot 3/10 done") == "hermit: qemu basic boot 3/10 done"
    config.workerinput = {"workerid": "gw1"}  # type: ignore[attr-defined]
    assert progress_line(config, "hermit: qemu basic boot 3/10 done") == "hermit: [gw1] qemu basic boot 3/10 done"


BROKEN = """
from pytest_hermit.errors import BootTimeout

def test_broken():
    raise BootTimeout("no output within 1 s", env="qemu")
"""
REFUSED = """
from pytest_hermit.errors import NotComparable

def test_refused_a():
    raise NotComparable("baseline 'main' has no entry for this test")

def test_refused_b():
    raise NotComparable("baseline 'main' has no entry for this test")
"""
REGRESSED = """
from pytest_hermit.gate.judge import Regression

def test_slow():
    raise Regression("getpid regressed on qemu: 9 -> 15 cycles")
"""
PASSES = """
def test_ok_a():
    pass

def test_ok_b():
    pass
"""


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ({"test_b": BROKEN, "test_r": REFUSED}, EXIT_BROKEN),
        ({"test_r": REFUSED, "test_p": PASSES}, EXIT_REFUSED),
        ({"test_s": REGRESSED, "test_b": BROKEN, "test_r": REFUSED}, 1),
    ],
    ids=["broken-wins-over-refused", "refused", "regression-wins"],
)
@pytest.mark.parametrize("workers", [["-n", "2"], ["-p", "no:xdist"]], ids=["n2", "no-xdist"])
def test_the_exit_status_is_a_serial_runs(
    pytester: pytest.Pytester, files: dict[str, str], status: int, workers: list[str]
) -> None:
    """The controller sees only the workers' reports: the failure kind travels on each report."""
    pytester.makepyfile(**files)
    result = run_pytest(pytester, *workers)
    assert result.ret == status
    result.stdout.fnmatch_lines(["*[[]hermit: *"])


def test_a_report_the_controller_cannot_write_is_exit_8(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_p=PASSES)
    (pytester.path / "not-a-dir").write_text("a file, so the report's folder cannot be made\n")
    result = run_pytest(pytester, "-n", "2", "--hermit-report-md=not-a-dir/hermit.md")
    assert result.ret == EXIT_OUTPUT
    result.stdout.fnmatch_lines(["*hermit: ERROR: could not write a report: *not-a-dir*"])


def test_the_header_says_how_many_workers_and_what_they_do_to_timed_numbers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_p=PASSES)
    result = run_pytest(pytester, "-n", "2", "--hermit-env=qemu,icount")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "hermit: pytest-xdist, 2 worker(s), each booting its own VMs; results*written once",
            "hermit: 2 workers boot at once on this host: the timed numbers of qemu disturb each other*",
        ]
    )
    plain = run_pytest(pytester, "-p", "no:xdist", "--hermit-env=qemu")
    assert plain.ret == 0
    plain.stdout.no_fnmatch_line("*pytest-xdist*")


def test_workers_on_other_machines_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_p=PASSES)
    result = run_pytest(pytester, "-d", "--tx", "ssh=bench1//python=python3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*on this machine only (-n N); --tx ssh=bench1*libvirt URI*"])


SEED = """
from pathlib import Path

from pytest_hermit.plugin.session import session_of

def test_seed_a(request):
    Path(f"seed-{request.node.name}").write_text(str(session_of(request.config).settings.ab_seed))

def test_seed_b(request):
    Path(f"seed-{request.node.name}").write_text(str(session_of(request.config).settings.ab_seed))
"""


def test_every_worker_uses_the_a_b_seed_the_header_shows(pytester: pytest.Pytester) -> None:
    """Drawn in each process, the seeds would differ from worker to worker and from the one shown."""
    pytester.makepyfile(test_seed=SEED)
    (pytester.path / "b.elf").write_bytes(b"image B")
    result = run_pytest(pytester, "-n", "2", "--hermit-ab=b.elf")
    assert result.ret == 0
    shown = re.search(r"random boot order seed (\d+)", result.stdout.str())
    assert shown is not None
    assert {p.read_text() for p in pytester.path.glob("seed-*")} == {shown.group(1)}


def test_each_hosts_preflight_line_is_kept_once_whatever_load_each_worker_read() -> None:
    from pytest_hermit.plugin.workers import _note_key

    first = "hermit: host qemu:///embed: load 0.93 on 2 CPUs, SMT off"
    second = "hermit: host qemu:///embed: load 0.89 on 2 CPUs, SMT off"
    other = "hermit: host qemu+tcp://127.0.0.1:5000/system: load 0.9 on 2 CPUs"
    assert _note_key(first) == _note_key(second) != _note_key(other)
    assert _note_key("hermit: environment kvm skipped") == "hermit: environment kvm skipped"
