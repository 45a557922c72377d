"""Host pools without a VM: the stable spread, pairing by machine, slots per host, the pool's keys."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pytest_hermit.errors import ConfigError
from pytest_hermit.gate import baselines as bl
from pytest_hermit.vm.environments import Environment, load_registry
from pytest_hermit.vm.pools import LOCAL_HOST, host_of, host_slot, matching, spread

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ("qemu+ssh://bench1/system", "qemu+ssh://bench2/system", "qemu:///embed")


def test_a_test_meets_the_same_host_every_time_and_all_hosts_get_tests() -> None:
    ids = [f"tests/test_x.py::test_{i}[pool]" for i in range(60)]
    first = [spread(t, HOSTS) for t in ids]
    assert first == [spread(t, HOSTS) for t in ids]
    assert set(first) == set(HOSTS)
    assert spread("t", HOSTS[:1]) == HOSTS[0]
    with pytest.raises(ValueError, match="at least one host"):
        spread("t", ())


def test_a_host_is_paired_with_its_own_baseline() -> None:
    bench1 = bl.HostFingerprint("Xeon", "6.1", "9.0.0", "7.2.0", "KVMKVMKVM")
    bench2 = bl.HostFingerprint("EPYC", "6.1", "9.0.0", "7.2.0")
    candidates = {HOSTS[1]: bench2, HOSTS[0]: bl.HostFingerprint("Xeon", "6.1", "9.0.0", "7.2.0")}
    # The signature is only known after a boot: it does not keep the saved machine from matching.
    assert matching(bench1, candidates) == HOSTS[0]
    assert matching(bl.HostFingerprint("Core i5", "6.1", "9.0.0", "7.2.0"), candidates) is None


#: Holds one slot of ``sys.argv[2]``'s machine (max_parallel 1) in its own process until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from pytest_hermit.vm.pools import host_slot
with host_slot(Path(sys.argv[1]), sys.argv[2], 1) as slot:
    print("held", slot, flush=True)
    sys.stdin.read()
"""


def _hold_in_another_process(state_dir: Path, uri: str) -> subprocess.Popen[str]:
    """A process that holds the only slot of ``uri``'s machine, returned once it holds it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir), uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "held 0\n"
    return proc


def _enter_in_thread(state_dir: Path, uri: str, max_parallel: int) -> tuple[threading.Thread, threading.Event]:
    entered = threading.Event()

    def take() -> None:
        with host_slot(state_dir, uri, max_parallel):
            entered.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread, entered


def test_the_machine_a_uri_boots_on() -> None:
    assert host_of("qemu+ssh://user@bench1:2222/system") == "bench1"
    assert host_of("xen+ssh://bench2/system") == "bench2"
    for local in (
        "qemu:///embed?root=/tmp/a",
        "qemu:///embed",
        "qemu:///system",
        "xen:///system",
        "qemu://localhost/system",
    ):
        assert host_of(local) == LOCAL_HOST, local


def test_slots_limit_boots_per_host_within_one_process(tmp_path: Path) -> None:
    with host_slot(tmp_path, HOSTS[0], 2) as a, host_slot(tmp_path, HOSTS[0], 2) as b:
        assert {a, b} == {0, 1}


def test_a_slot_held_by_another_process_with_its_own_embedded_root_keeps_this_one_waiting(tmp_path: Path) -> None:
    # Each pytest process (xdist worker, CI job) resolves the embedded driver to a root of its own; the
    # machine is the same one, and its only slot must be held by one of them at a time.
    holder = _hold_in_another_process(tmp_path, "qemu:///embed?root=/state/embed-0")
    try:
        thread, entered = _enter_in_thread(tmp_path, "qemu:///embed?root=/state/embed-1", 1)
        # Failing here means both processes hold "the only slot": the thread gets in within milliseconds.
        assert not entered.wait(1.0), "two processes held the only slot of one machine at once"
        other, other_entered = _enter_in_thread(tmp_path, HOSTS[1], 1)
        assert other_entered.wait(10), "another machine's slot waited for this machine's"
        other.join(10)
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()
    assert entered.wait(10), "the slot the other process released was never taken"
    thread.join(10)


def _pool(**keys: object) -> Environment:
    return load_registry({"environments": {"pool": {"base": "qemu", **keys}}}, "pyproject.toml")["pool"]


def test_pool_keys() -> None:
    env = _pool(hosts=list(HOSTS[:2]))
    assert env.hosts == HOSTS[:2] and env.uri == HOSTS[0] and env.max_parallel == 1
    assert _pool(hosts=list(HOSTS[:2]), max_parallel=2).max_parallel == 2
    assert _pool().max_parallel is None  # no pool: no limit, as before


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({"hosts": [], "uri": "qemu:///system"}, "give 'uri' (one host) or 'hosts' (a pool), not both"),
        ({"hosts": []}, "hosts must be a non-empty list of libvirt URIs"),
        ({"hosts": "qemu:///system"}, "hosts must be a non-empty list"),
        ({"hosts": ["qemu:///embed", "qemu:///embed"]}, "names a URI twice"),
        ({"hosts": ["qemu:///embed"], "max_parallel": 0}, "max_parallel must be a positive integer"),
    ],
)
def test_bad_pool_keys_name_the_file(keys: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=r"^pyproject\.toml: \[tool\.hermit\.environments\.pool\]: ") as caught:
        _pool(**keys)
    assert says in str(caught.value)
