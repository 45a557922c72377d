"""Host hygiene: the preflight's parsing on fixture trees, its line, its record in a baseline (no VM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_hermit.errors import RunError
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate.hygiene import (
    CPU_SAMPLE,
    HostState,
    boost_from,
    parse_cpulist,
    remote_state,
    smt_from,
)
from pytest_hermit.results.samples import Samples
from pytest_hermit.vm.environments import BUILTIN
from pytest_hermit.vm.hygiene import HostChecks, is_this_machine, read_local

HOSTS = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"


def _read(name: str) -> HostState:
    return read_local(HOSTS / name / "cpu", HOSTS / name / "proc")


def test_a_tuned_host() -> None:
    state = _read("tuned")
    assert state == HostState(
        "local", cpus=4, load=0.08, governors=("performance",), boost=False, smt=False, isolated="2-3"
    )
    assert not state.busy
    assert state.describe() == ("load 0.08 on 4 CPUs, governor performance, boost off, SMT off, isolated CPUs 2-3")


def test_a_busy_laptop() -> None:
    state = _read("laptop")
    assert state.busy  # load 5.41 on 2 CPUs
    assert state.governors == ("powersave", "schedutil")
    assert state.boost is True and state.smt is True and state.isolated == ""
    assert state.describe().startswith("load 5.41 on 2 CPUs (busy), governor powersave/schedutil, boost on, SMT on")


def test_a_virtual_machine_without_cpufreq() -> None:
    state = _read("vm")
    assert state.governors == () and state.boost is None and state.smt is False
    assert "no cpufreq governor, boost unknown, SMT off, isolated CPUs none" in state.describe()


def test_missing_files_are_unknown_never_an_error(tmp_path: Path) -> None:
    state = read_local(tmp_path / "cpu", tmp_path / "proc")
    assert state == HostState("local")
    assert not state.busy
    assert state.describe() == "load unknown, no cpufreq governor, boost unknown, SMT unknown, isolated CPUs unknown"


@pytest.mark.parametrize(("text", "cpus"), [("0-3", {0, 1, 2, 3}), ("0,2-3\n", {0, 2, 3}), ("", set()), ("x,1", {1})])
def test_cpulists(text: str, cpus: set[int]) -> None:
    assert parse_cpulist(text) == cpus


def test_boost_and_smt_files() -> None:
    assert boost_from("0\n", None) is False
    assert boost_from(None, "0\n") is True  # intel_pstate: no_turbo=0 means turbo on
    assert boost_from(None, None) is None
    assert smt_from(None, "notsupported") is False
    assert smt_from("1", "on") is True
    assert smt_from(None, None) is None


def test_a_remote_host_from_libvirt_numbers() -> None:
    info = ["x86_64", 8192, 8, 2600, 1, 1, 4, 2]
    before = {"kernel": 100, "user": 300, "idle": 1600, "iowait": 0}
    after = {"kernel": 200, "user": 1100, "idle": 1700, "iowait": 0}  # 900 of 1000 ns busy
    state = remote_state(info, before, after)
    assert state.cpus == 8 and state.smt is True and state.load_kind == CPU_SAMPLE
    assert state.load == pytest.approx(7.2)
    assert state.busy  # 7.2 of 8 CPUs is 90%
    line = state.describe()
    assert line.startswith("7.2 CPUs busy on 8 CPUs (sampled) (busy), SMT on; not visible through libvirt: governor")
    assert remote_state(info, {}, {}).load is None


def test_loopback_runs_here() -> None:
    assert is_this_machine("qemu:///embed?root=/x")
    assert is_this_machine("qemu+tcp://127.0.0.1:16509/system")
    assert is_this_machine("qemu+ssh://localhost/system")
    assert not is_this_machine("qemu+ssh://bench1/system")


def _context(state: HostState | None) -> bl.Context:
    return bl.Context("0", {}, bl.HostFingerprint(), "x", "", None, None, "2026-01-01T00:00:00+00:00", None, state)


def test_recorded_in_the_baseline_and_read_back(tmp_path: Path) -> None:
    state = _read("laptop")
    samples = Samples.of("getpid", "cycles", [[1.0, 2.0]])
    path = tmp_path / "main.json"
    bl.save_merge(path, [bl.Entry("t", "qemu", samples, _context(state))])
    (entry,) = bl.load(path)
    assert entry.context.host_state == state


def test_a_context_without_it_keeps_its_id_and_old_files_read() -> None:
    # Contexts of files written before host hygiene existed hash as they always did.
    assert "host_state" not in _context(None).as_dict()
    old = HOSTS.parent / "baselines" / "main.json"  # a version 1 file
    entries = list(bl.load(old))
    assert entries and all(e.context.host_state is None for e in entries)
    written = bl.to_document(bl.Baseline.of("main", entries))
    assert not any("host_state" in c for c in written["contexts"].values())


def test_a_bad_recorded_state_names_its_place() -> None:
    document: dict[str, Any] = json.loads(json.dumps(bl.to_document(bl.Baseline.of("b", []))))
    document["contexts"] = {"c": {"host": {}, "host_state": {"seen_through": "local", "cpus": "two"}}}
    document["entries"] = [
        {"test": "t", "env": "qemu", "run": "r", "metric": "m", "unit": "cycles", "per_boot": [[1]], "context": "c"}
    ]
    with pytest.raises(bl.BaselineError, match=r"contexts\.c\.host_state\.cpus must be int, found 'two'"):
        bl.from_document(document)


class _Conns:
    def resolve_uri(self, env: Any) -> str:
        return "qemu:///embed?root=/r"


def test_busy_warns_once_and_fails_when_quiet_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = _read("laptop")
    monkeypatch.setattr("pytest_hermit.vm.hygiene.read_local", lambda: busy)
    checks = HostChecks(_Conns())  # type: ignore[arg-type]
    said: list[str] = []
    checks.check(BUILTIN["qemu"], require_quiet=False, say=said.append)
    checks.check(BUILTIN["qemu"], require_quiet=False, say=said.append)
    assert len(said) == 1 and said[0].startswith("hermit: warning: host qemu:///embed is busy before measuring")
    checks.check(BUILTIN["icount"], require_quiet=True, say=said.append)  # counted instructions: exempt
    with pytest.raises(RunError, match=r"load 5\.41 on 2 CPUs.*--hermit-require-quiet-host"):
        checks.check(BUILTIN["qemu"], require_quiet=True, say=said.append)
    assert checks.summary_lines() == [f"hermit: host qemu:///embed: {busy.describe()}"]
