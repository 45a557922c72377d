"""The gate through a second host: a libvirtd of our own on loopback TCP (real VMs, real daemon).

The remote path differs from the embedded driver where it matters: the
fingerprint is read through libvirt, QEMU belongs to the daemon (neither
killed nor reaped by the plugin), and the console comes over the network.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from pytest_hermit.vm.pools import spread
from tests.conftest import SMALL_LOOPS, hermit_qemu_processes, run_pytest

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]

BASIC = f"""
def test_basic(hermit_run):
    hermit_run("basic", cmdline="{SMALL_LOOPS}")
"""


def _host(pytester: pytest.Pytester, name: str) -> dict[str, object]:
    document = json.loads((pytester.path / ".hermit" / "baselines" / f"{name}.json").read_text())
    (context,) = document["contexts"].values()
    host: dict[str, object] = context["host"]
    return host


class _Affinity:
    """While the run goes on, the CPUs each thread of its QEMU may use: the kernel's word, not libvirt's.

    The last value read counts: QEMU starts paused with every thread on the
    emulator's CPUs, and libvirt pins the vCPU thread before the guest runs.
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.threads: dict[str, str] = {}  # thread name -> its last Cpus_allowed_list
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.done.is_set():
            for line in hermit_qemu_processes(self.marker):
                pid = line.split()[0]
                for task in Path(f"/proc/{pid}/task").glob("*"):
                    try:
                        name = (task / "comm").read_text().strip()
                        status = (task / "status").read_text()
                    except OSError:
                        continue  # the thread or the QEMU ended
                    allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.MULTILINE)
                    if allowed:
                        self.threads[name] = allowed.group(1)
            time.sleep(0.05)

    def __enter__(self) -> _Affinity:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(10)


def test_exact_gate_and_cpu_pinning_through_the_daemon(pytester: pytest.Pytester, loopback_libvirtd: str) -> None:
    """icount's <qemu:commandline> and pinning work through the daemon: QEMU's vCPU thread runs on cpuset and
    its other threads on emulator_cpuset (read from /proc while it runs); save, the same numbers, a caught slowdown."""
    pytester.makepyfile(test_remote=BASIC)
    last = (os.cpu_count() or 1) - 1
    pytester.makefile(
        ".toml",
        pyproject=(
            f'[tool.hermit.environments.far]\nbase = "icount"\nuri = "{loopback_libvirtd}"\n'
            f'cpuset = "{last}"\nemulator_cpuset = "0"\n'
        ),
    )
    with _Affinity(f"guest=hermit-far-{os.getpid()}-") as affinity:
        saved = run_pytest(pytester, "--hermit-env=far", "--hermit-save=main")
    saved.assert_outcomes(passed=1)
    # vCPU threads: "CPU 0/TCG", or "ALL CPUs/TCG" when TCG runs every vCPU in one thread (as under icount).
    vcpus = {name: cpus for name, cpus in affinity.threads.items() if name.endswith(("/TCG", "/KVM"))}
    others = {name: cpus for name, cpus in affinity.threads.items() if name not in vcpus}
    assert vcpus and others, f"QEMU's threads were never seen running: {affinity.threads}"
    assert set(vcpus.values()) == {str(last)}, f"vCPU threads not on CPU {last}: {vcpus}"
    assert set(others.values()) == {"0"}, f"emulator threads not on CPU 0: {others}"
    host = _host(pytester, "main")
    # Remote: the CPU comes from libvirt's capabilities, the kernel cannot be seen.
    assert host["cpu_model"] not in ("", "unknown")
    assert host["host_kernel"] == "unknown"
    assert host["libvirt_version"] and host["qemu_version"]
    assert host["hypervisor_signature"] == "TCGTCGTCGTCG"
    (context,) = json.loads((pytester.path / ".hermit" / "baselines" / "main.json").read_text())["contexts"].values()
    assert context["environment"]["cpuset"] == str(last)
    # The daemon runs on this machine: its hygiene is read from /proc and /sys.
    assert context["host_state"]["seen_through"] == "local"
    assert context["host_state"]["cpus"] == os.cpu_count()
    saved.stdout.fnmatch_lines([f"hermit: host {loopback_libvirtd}: load * on * CPUs*SMT*isolated CPUs*"])

    same = run_pytest(pytester, "--hermit-env=far", "--hermit-compare=main")
    same.assert_outcomes(passed=1)

    slow = run_pytest(pytester, "--hermit-env=far", "--hermit-compare=main", "--hermit-cmdline=inject=getpid:30")
    slow.assert_outcomes(failed=1)
    assert slow.ret == 1
    slow.stdout.fnmatch_lines(["*getpid regressed on far: 15.000 -> * cycles (+*%, exact*"])
    assert not hermit_qemu_processes(f"guest=hermit-far-{os.getpid()}-")


def test_timed_qemu_through_libvirt_uri(pytester: pytest.Pytester, loopback_libvirtd: str) -> None:
    """--hermit-libvirt-uri sends the built-in qemu environment to the daemon; its baseline compares with it."""
    pytester.makepyfile(test_remote=BASIC)
    size = ("--hermit-env=qemu", f"--hermit-libvirt-uri={loopback_libvirtd}", "--hermit-boots=3", "--hermit-reps=3")
    saved = run_pytest(pytester, *size, "--hermit-save=far")
    saved.assert_outcomes(passed=1)
    assert _host(pytester, "far")["host_kernel"] == "unknown"

    again = run_pytest(pytester, *size, "--hermit-compare=far")
    assert again.ret in (0, 1), again.stdout.str()  # judged (timed numbers may move), never refused
    again.stdout.fnmatch_lines(["*change against baseline 'far'*", "*getpid*cycles*"])
    assert "refused" not in again.stdout.str()
    assert not hermit_qemu_processes(f"guest=hermit-qemu-{os.getpid()}-")


def _pool_tests(hosts: tuple[str, str]) -> list[str]:
    """Test names such that both hosts get a test, and reversing the pool moves at least one."""
    names: list[str] = []
    for i in range(200):
        names.append(f"test_{i}")
        ids = [f"test_pool.py::{n}[pool]" for n in names]
        forward = {spread(t, hosts) for t in ids}
        moved = any(spread(t, hosts) != spread(t, hosts[::-1]) for t in ids)
        if len(names) >= 2 and forward == set(hosts) and moved:
            return names
    raise AssertionError("no spread over both hosts in 200 names")


def test_a_pool_of_the_daemon_and_the_embedded_driver(pytester: pytest.Pytester, loopback_libvirtd: str) -> None:
    """Tests spread over both hosts; a reordered pool still pairs each test with its own host's baseline."""
    hosts = (loopback_libvirtd, "qemu:///embed")
    names = _pool_tests(hosts)
    call = f'hermit_run("basic", cmdline="{SMALL_LOOPS}")'
    pytester.makepyfile(test_pool="".join(f"\ndef {n}(hermit_run):\n    {call}\n" for n in names))

    def pool(order: tuple[str, str]) -> None:
        listed = ", ".join(f'"{h}"' for h in order)
        pytester.makefile(".toml", pyproject=f'[tool.hermit.environments.pool]\nbase = "icount"\nhosts = [{listed}]\n')

    def kernels(name: str) -> dict[str, str]:
        document = json.loads((pytester.path / ".hermit" / "baselines" / f"{name}.json").read_text())
        contexts = document["contexts"]
        return {e["test"]: contexts[e["context"]]["host"]["host_kernel"] for e in document["entries"]}

    pool(hosts)
    saved = run_pytest(pytester, "--hermit-env=pool", "--hermit-save=a", "--hermit-history=h")
    saved.assert_outcomes(passed=len(names))
    first = kernels("a")
    (record,) = [json.loads(p.read_text()) for p in (pytester.path / "h").glob("*.json")]
    # The history names the host each test really ran on, not the pool's first.
    assert {m["test"]: m["host"]["host_kernel"] for m in record["measurements"]} == first
    # Both machines measured: the daemon's kernel cannot be seen (remote), the embedded driver's can.
    assert "unknown" in first.values() and len(set(first.values())) == 2
    for host in hosts:
        saved.stdout.fnmatch_lines([f"hermit: host {host}: *"])  # one line per host, in the order first used

    # The same pool reversed, given on the command line this time: the spread now sends some
    # tests elsewhere, and the baseline's machine must win.
    pytester.makefile(".toml", pyproject='[tool.hermit.environments.pool]\nbase = "icount"\n')
    reversed_pool = f"--hermit-hosts={','.join(hosts[::-1])}"
    again = run_pytest(pytester, "--hermit-env=pool", reversed_pool, "--hermit-compare=a", "--hermit-save=b")
    again.assert_outcomes(passed=len(names))
    assert "refused" not in again.stdout.str()
    assert kernels("b") == first


def test_what_libvirt_tells_of_a_host(loopback_libvirtd: str) -> None:
    """The remote preflight through a real daemon (here: this machine, so the numbers can be checked)."""
    import libvirt

    from pytest_hermit.vm.hygiene import read_remote

    conn = libvirt.open(loopback_libvirtd)
    try:
        state = read_remote(conn, libvirt, sample_s=0.3)
    finally:
        conn.close()
    assert state.seen_through == "libvirt"
    assert state.cpus == os.cpu_count()
    assert state.load is not None and 0.0 <= state.load <= state.cpus
    assert state.smt is not None
    assert "not visible through libvirt: governor, boost, isolated CPUs, load average" in state.describe()
