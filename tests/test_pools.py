"""Host pools without a VM: the stable spread, pairing by machine, slots per host, the pool's keys."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pytest_hermit.errors import ConfigError
from pytest_hermit.gate import baselines as bl
from pytest_hermit.vm.environments import Environment, load_registry
from pytest_hermit.vm.pools import host_slot, matching, spread

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


def test_slots_limit_boots_per_host(tmp_path: Path) -> None:
    with host_slot(tmp_path, HOSTS[0], 2) as a, host_slot(tmp_path, HOSTS[0], 2) as b:
        assert {a, b} == {0, 1}
    with host_slot(tmp_path, HOSTS[1], 1):
        pass  # another host has slots of its own
    events: list[str] = []

    def second() -> None:
        with host_slot(tmp_path, HOSTS[0], 1):
            events.append("second in")

    with host_slot(tmp_path, HOSTS[0], 1):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        events.append("first out")
    thread.join(5)
    assert events == ["first out", "second in"]


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
