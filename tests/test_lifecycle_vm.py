"""A VM's life from outside: cold state dirs, kill -9, time limits (real VMs, real processes)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_hermit.exitcodes import EXIT_BROKEN
from pytest_hermit.results.parsers import ConsoleParser
from pytest_hermit.vm.boot import boot, unique_name
from pytest_hermit.vm.connections import Connections, end_leftover_qemus
from pytest_hermit.vm.domxml import DomainSpec
from pytest_hermit.vm.environments import BUILTIN
from tests.conftest import STATE_DIR, cli_env, hermit_qemu_processes, inner_pytest, run_pytest, wait_for_qemu

#: Boots real VMs: `pytest -m 'not vm'` leaves this file out.
pytestmark = pytest.mark.vm

HELLO = """
def test_hello(hermit_run):
    hermit_run("hello", boots=1)
"""


def test_two_pytests_on_a_cold_state_dir_boot_at_once(
    pytester: pytest.Pytester, reference_guest: Path, tmp_path: Path
) -> None:
    """Started by a process that booted VMs itself (as pytester, xdist or a CI step do).

    That parent used to stay a child subreaper and inherit the children's
    QEMU capability probes; their libvirt then waited 40 s per probe.
    """
    env = BUILTIN["qemu"]
    spec = DomainSpec(unique_name(env), reference_guest, "workload=hello")
    boot(Connections(STATE_DIR), env, spec, ConsoleParser("hello", 1), timeout=60, transcript=tmp_path / "own.log")

    folders = [pytester.mkdir("one"), pytester.mkdir("two")]
    for folder in folders:
        (folder / "test_cold.py").write_text(HELLO)
    cold = tmp_path / "cold-state"
    started = time.monotonic()
    with (
        inner_pytest(folders[0], "--hermit-env=qemu", "--hermit-timeout=60", state_dir=cold) as one,
        inner_pytest(folders[1], "--hermit-env=qemu", "--hermit-timeout=60", state_dir=cold) as two,
    ):
        outputs = [proc.communicate(timeout=150)[0] for proc in (one, two)]
    elapsed = time.monotonic() - started
    for proc, out in zip((one, two), outputs, strict=True):
        assert proc.returncode == 0, out
    # Generous: a cold root probes QEMU for ~4 s here; the fault cost 160 s.
    assert elapsed < 60, f"two cold pytests took {elapsed:.0f} s"
    assert sorted(p.name for p in cold.glob("embed-*") if p.is_dir()) == ["embed-0", "embed-1"]


def test_a_killed_pytest_leaves_nothing_after_the_next_run(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(
        test_hang="""
        def test_hang(hermit_run):
            hermit_run("hang", boots=1, reps=1)
        """,
        test_after=HELLO,
    )
    state = tmp_path / "state"
    state.mkdir()
    # Slot 0 is busy (another run) while the victim runs, so it takes slot 1;
    # the next run gets slot 0 and must still end what slot 1 holds.
    busy = os.open(state / "embed-0.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(busy, fcntl.LOCK_EX)
    try:
        with inner_pytest(
            pytester.path, "--hermit-env=qemu", "--hermit-timeout=120", "test_hang.py", state_dir=state
        ) as p:
            marker = f"guest=hermit-qemu-{p.pid}-"
            wait_for_qemu(p, marker)
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
    finally:
        os.close(busy)
    assert hermit_qemu_processes(marker), "the killed run's QEMU should outlive it (or this test proves nothing)"
    assert list(state.glob("embed-1/run/qemu/hermit-qemu-*.pid")), "the victim ran in slot 1"

    # Another process: libvirt opens one embedded root per process, and this one has its own.
    with inner_pytest(pytester.path, "--hermit-env=qemu", "test_after.py", state_dir=state) as after:
        out, _ = after.communicate(timeout=120)
    assert after.returncode == 0, out
    deadline = time.monotonic() + 10
    while hermit_qemu_processes(marker):
        assert time.monotonic() < deadline, hermit_qemu_processes(marker)
        time.sleep(0.1)
    assert not list(state.glob("embed-*/run/qemu/hermit-qemu-*.pid")), "the dead domains' state is gone too"


def test_end_leftover_qemus_spares_recycled_pids(tmp_path: Path) -> None:
    """A pid file whose PID now belongs to another process must not get it killed."""
    run = tmp_path / "run" / "qemu"
    run.mkdir(parents=True)
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        (run / "hermit-qemu-1-1-abcdef.pid").write_text(str(bystander.pid))
        assert end_leftover_qemus(tmp_path) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_test_timeout_bounds_every_boot_of_a_test(pytester: pytest.Pytester, reference_guest: Path) -> None:
    pytester.makepyfile(
        """
        def test_hang(hermit_run):
            hermit_run("hello", boots=1)
            hermit_run("hang", boots=1, reps=1)
        """
    )
    started = time.monotonic()
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-timeout=100", "--hermit-test-timeout=8")
    elapsed = time.monotonic() - started
    result.assert_outcomes(failed=1)
    assert result.ret == EXIT_BROKEN
    result.stdout.fnmatch_lines(["*broken run*timed out after * s (--hermit-test-timeout)*workload hang*"])
    assert elapsed < 60, f"the test ran {elapsed:.0f} s under --hermit-test-timeout=8"
    assert not hermit_qemu_processes(f"guest=hermit-qemu-{os.getpid()}-")


#: Holds the only slot of this machine (max_parallel 1) for ``sys.argv[2]`` seconds, in a process of its own.
SLOT_HOLDER = """
import sys, time
from pathlib import Path
from pytest_hermit.vm.pools import host_slot
with host_slot(Path(sys.argv[1]), "qemu:///embed", 1):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_waiting_for_a_host_slot_is_not_charged_to_the_test_timeout(
    pytester: pytest.Pytester, reference_guest: Path
) -> None:
    """Another process holds the only slot longer than the test's whole budget: the test waits, then boots."""
    pytester.makefile(".toml", pyproject='[tool.hermit.environments.one]\nbase = "qemu"\nmax_parallel = 1\n')
    pytester.makepyfile(HELLO)
    holder = subprocess.Popen(
        [sys.executable, "-c", SLOT_HOLDER, str(STATE_DIR), "8"], stdout=subprocess.PIPE, text=True, env=cli_env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        result = run_pytest(pytester, "--hermit-env=one", "--hermit-timeout=100", "--hermit-test-timeout=5")
        waited = time.monotonic() - started
    finally:
        holder.wait(30)
        assert holder.stdout is not None
        holder.stdout.close()
    assert waited > 5, f"the run ended after {waited:.1f} s, before the slot was free: it never waited for it"
    result.assert_outcomes(passed=1)
