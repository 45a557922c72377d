"""The plugin end to end: real VMs through real libvirt (embedded QEMU driver), via pytester."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from pytest_hermit.exitcodes import EXIT_BROKEN
from tests.conftest import (
    FOREIGN,
    SMALL_LOOPS,
    STATE_DIR,
    hermit_qemu_processes,
    inner_pytest,
    run_pytest,
    wait_for_qemu,
)

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]

USER_TESTS = f"""
def test_basic(hermit_run, hermit_env):
    small = "iters=200 mallocs=4" if hermit_env.emulated else "{SMALL_LOOPS}"
    m = hermit_run("basic", boots=2, reps=2, cmdline=small)
    assert m.env == hermit_env.name and m.workload == "basic"
    for metric in ("getpid", "sched_yield", "malloc", "first_page_access"):
        s = m[metric]
        assert s.unit == "cycles"
        assert len(s.per_boot) == 2 and all(len(b) == 2 for b in s.per_boot)
        assert s.median > 0 and len(s.values) == 4
    assert len(m.transcripts) == 2

def test_hello(hermit_run):
    m = hermit_run("hello", boots=2)
    assert m["boot_time_guest"].unit == "ms"
    assert m["boot_time_host"].median > 0
"""


def test_user_tests_pass_in_qemu_and_pass_or_skip_with_a_reason_in_kvm(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = run_pytest(pytester, "--hermit-env=qemu,kvm", "--hermit-timeout=120", "-rs", "-v")
    assert result.ret == 0, result.stdout.str()
    out = result.stdout.str()
    for test in ("test_basic", "test_hello"):
        assert f"test_user.py::{test}[qemu] PASSED" in out, out  # qemu always works
        kvm = f"test_user.py::{test}[kvm] "
        assert f"{kvm}PASSED" in out or (f"{kvm}SKIPPED" in out and "SKIPPED [1] test_user.py" in out), out
    result.stdout.fnmatch_lines(["*hermit: qemu basic boot 1/2 done in *", "*hermit results*", "*getpid*cycles*"])


def test_stream_validates_in_qemu(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_stream(hermit_run):
            m = hermit_run("stream", boots=1, reps=2, cmdline="stream_n=100000")
            assert m["stream_triad"].unit == "MB/s"
            assert len(m["stream_copy"].per_boot[0]) == 2
        """
    )
    result = run_pytest(pytester, "--hermit-env=qemu")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*stream_triad*MB/s*"])


def test_guest_warnings_reach_the_summary_and_the_reports(pytester: pytest.Pytester) -> None:
    """The guest shrinks a size that does not fit and says so: the user is told, once per text, where."""
    pytester.makepyfile(
        """
        def test_too_big(hermit_run):
            m = hermit_run("basic", boots=2, reps=1, cmdline="iters=1000 mallocs=65536")
            assert len(m.guest_warnings) == 1, m.guest_warnings
            assert "using mallocs=" in m.guest_warnings[0] and "boot 1" in m.guest_warnings[0]
        """
    )
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-json=out.json", "--hermit-report-md=out.md")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "hermit: guest warning: *::test_too_big?qemu?, basic iters=1000 mallocs=65536 on qemu: "
            "mallocs=65536 needs * MiB: using mallocs=* (boot 1, console line *)"
        ]
    )
    assert result.stdout.str().count("hermit: guest warning:") == 1
    doc = json.loads((pytester.path / "out.json").read_text())
    assert ["using mallocs=" in w for w in doc["runs"][0]["guest_warnings"]] == [True]
    assert "### The guest warned" in (pytester.path / "out.md").read_text()


def test_timeout_is_a_broken_run_and_leaves_no_vm(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_hang(hermit_run):
            hermit_run("hang", boots=1, reps=1)
        """
    )
    started = time.monotonic()
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-timeout=5")
    assert time.monotonic() - started < 60
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*timed out after 5 s*workload hang, environment qemu*", "*transcript: *qemu-hang-boot1.log*"]
    )
    assert result.ret == EXIT_BROKEN, "a broken run exits with the documented 'broken' status"
    assert not hermit_qemu_processes(f"guest=hermit-qemu-{os.getpid()}-")
    transcript = next(pytester.path.glob(".hermit/artifacts/*/qemu-hang-boot1.log"))
    assert transcript.read_text().startswith("HERMIT-INFO")


def test_guest_errors_name_the_line_and_keep_the_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_panic(hermit_run):
            hermit_run("panic", boots=1, reps=1)

        def test_bad_word(hermit_run):
            hermit_run("basic", boots=1, reps=1, cmdline="reps=abc")
        """
    )
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-timeout=60")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "the guest panicked (workload panic, environment qemu)" in out
    assert "PANIC" in out and "at console line" in out
    assert "status=error" in out and "reps=abc" in out
    assert "Traceback" not in out and "pytest_hermit/" not in out


def test_foreign_guest_with_initrd_ends_when_results_are_complete(
    pytester: pytest.Pytester, foreign_loader: dict[str, Path]
) -> None:
    pytester.makepyfile(
        """
        def test_basic(hermit_run, hermit_guest):
            assert hermit_guest.initrd is not None and len(hermit_guest.sha256) == 64
            m = hermit_run("basic", boots=2, reps=1)
            assert m["getpid"].values == [9.0, 9.0]
            assert m["malloc"].median == 5858.0
        """
    )
    result = run_pytest(
        pytester,
        "--hermit-env=qemu",
        f"--hermit-kernel={foreign_loader['halt']}",
        f"--hermit-initrd={FOREIGN / 'basic-app.txt'}",
        "--hermit-cmdline=-v console=ttyS0",
        "--hermit-timeout=30",
    )
    result.assert_outcomes(passed=1)


def test_foreign_guest_that_ends_early_fails_at_once(
    pytester: pytest.Pytester, foreign_loader: dict[str, Path]
) -> None:
    pytester.makepyfile(
        """
        def test_basic(hermit_run):
            hermit_run("basic", boots=1, reps=1)
        """
    )
    started = time.monotonic()
    result = run_pytest(
        pytester,
        "--hermit-env=qemu",
        f"--hermit-kernel={foreign_loader['reset']}",
        f"--hermit-initrd={FOREIGN / 'partial-app.txt'}",
        "--hermit-timeout=100",
    )
    assert time.monotonic() - started < 30, "an early end must not wait for the timeout"
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*powered off before printing malloc, first_page_access*"])


def test_signature_mismatch_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.hermit.environments.fakekvm]
        base = "kvm"
        description = "claims KVM, runs TCG"
        """
    )
    pytester.makepyfile(
        test_sig="""
        def test_hello(hermit_run):
            hermit_run("hello", boots=1)
        """,
    )
    # A kvm-based environment whose libvirt domain type we force to TCG: the
    # guest honestly reports TCG, and the plugin must refuse the numbers.
    pytester.makeconftest(
        """
        import pytest
        from dataclasses import replace

        @pytest.fixture
        def hermit_env(hermit_env):
            return replace(hermit_env, domain_type="qemu", cpu_disabled_features=())
        """
    )
    result = run_pytest(pytester, "--hermit-env=fakekvm")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*refused*should run under KVMKVMKVM but the guest reports TCGTCGTCGTCG*"])


def test_ctrl_c_destroys_the_vm(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_hang(hermit_run):
            hermit_run("hang", boots=1, reps=1)
        """
    )
    with inner_pytest(pytester.path, "--hermit-env=qemu", "--hermit-timeout=120") as proc:
        marker = f"guest=hermit-qemu-{proc.pid}-"
        wait_for_qemu(proc, marker)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest's 'interrupted'
    assert "KeyboardInterrupt" in out
    assert not hermit_qemu_processes(marker)


def test_boots_leak_no_file_descriptors(reference_guest: Path, tmp_path: Path) -> None:
    """A long session boots thousands of times: every boot must give back its pty and pipes."""
    from pytest_hermit.results.parsers import ConsoleParser
    from pytest_hermit.vm.boot import boot, unique_name
    from pytest_hermit.vm.connections import Connections
    from pytest_hermit.vm.domxml import DomainSpec
    from pytest_hermit.vm.environments import BUILTIN

    conns = Connections(STATE_DIR)
    env = BUILTIN["qemu"]

    def one(i: int) -> None:
        spec = DomainSpec(unique_name(env), reference_guest, "workload=hello")
        boot(conns, env, spec, ConsoleParser("hello", 1), timeout=60, transcript=tmp_path / f"{i}.log")

    one(0)  # the connection and the event loop open their own descriptors once
    before = len(os.listdir("/proc/self/fd"))
    for i in range(1, 6):
        one(i)
    assert len(os.listdir("/proc/self/fd")) <= before


def test_a_benchmark_guest_that_prints_nothing_is_a_broken_run_not_a_pass(
    pytester: pytest.Pytester, foreign_loader: dict[str, Path]
) -> None:
    """A hermit-os benchmark program promises no metric by name: one that stopped early and
    printed no block passed with exit 0, measuring nothing."""
    log_only = pytester.path / "log-only.txt"
    log_only.write_text("[0.000][0:0][INFO] Welcome to HermitCore 0.2.10!\n")
    pytester.makepyfile(
        """
        def test_bench(hermit_run):
            hermit_run("bench", boots=1, reps=1)
        """
    )
    result = run_pytest(
        pytester,
        "--hermit-env=qemu",
        f"--hermit-kernel={foreign_loader['reset']}",
        f"--hermit-initrd={log_only}",
        "--hermit-timeout=60",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*broken run*the guest printed no result*workload bench*"])
    assert result.ret == 6


def test_an_emulating_kvm_asked_for_explicitly_gets_a_timeout_scaled_by_its_measured_slowdown(
    pytester: pytest.Pytester,
) -> None:
    """Where /dev/kvm only emulates, a default basic boot runs for minutes: the default
    timeout ended it as a broken run. The calibration boot's factor scales it, and says so."""
    from pytest_hermit.vm.probes import default_environment

    if default_environment()[0] == "kvm":
        pytest.skip("this host's KVM runs on VT-x/AMD-V: nothing to scale")
    pytester.makepyfile("def test_hello(hermit_run):\n    hermit_run('hello', boots=1)\n")
    result = run_pytest(pytester, "--hermit-env=kvm")
    result.assert_outcomes(passed=1)
    said = [x for x in result.outlines if "only emulates here" in x]
    assert len(said) == 1 and "a calibration boot" in said[0], said
    factor = float(said[0].split("guest code ", 1)[1].split("x slower", 1)[0])
    seconds = float(said[0].split("each boot may take ", 1)[1].split(" s", 1)[0])
    assert factor > 5, "KVM's instruction emulator is far slower than TCG"
    assert seconds == pytest.approx(120 * factor, rel=0.01)
    given = run_pytest(pytester, "--hermit-env=kvm", "--hermit-timeout=60")
    given.assert_outcomes(passed=1)
    assert not any("calibration boot" in x for x in given.outlines), "--hermit-timeout wins: nothing measured"
