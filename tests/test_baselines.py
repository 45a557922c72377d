"""Baseline files: round trips, atomic merge-saves, concurrency, refusals."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from pytest_hermit.gate import baselines as bl
from pytest_hermit.results.samples import Samples

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "baselines"


def context(**overrides: object) -> bl.Context:
    host = bl.HostFingerprint(
        cpu_model="Intel(R) Core(TM) i5-7300U CPU @ 2.60GHz",
        host_kernel="6.1.0-18-amd64",
        libvirt_version="9.0.0",
        qemu_version="7.2.9",
        hypervisor_signature="KVMKVMKVM",
        emulated=False,
    )
    fields: dict[str, object] = dict(
        plugin_version="0.1.0",
        environment={"name": "kvm", "domain_type": "kvm", "memory_mib": 512, "vcpus": 1},
        host=host,
        guest_sha256="ab" * 32,
        guest_cmdline="workload=basic reps=20",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        git_branch="main",
        date="2026-01-02T03:04:05Z",
    )
    fields.update(overrides)
    return bl.Context(**fields)  # type: ignore[arg-type]


def entry(
    test: str = "tests/test_perf.py::test_basic[kvm]", env: str = "kvm", metric: str = "getpid", scale: float = 1.0
) -> bl.Entry:
    samples = Samples.of(metric, "cycles", [[9.0 * scale, 10.0 * scale], [9.5 * scale, 9.0 * scale]])
    return bl.Entry(test, env, samples, context())


# --------------------------------------------------------------------------- documents


def test_a_baseline_survives_a_round_trip_through_its_document_and_json() -> None:
    original = bl.Baseline.of("main", [entry(), entry(metric="malloc"), entry(env="qemu", test="t::x[qemu]")])
    document = json.loads(json.dumps(bl.to_document(original)))
    assert document["schema"] == "pytest-hermit/baseline" and document["version"] == 2
    assert len(document["contexts"]) == 1  # shared contexts are stored once
    assert bl.from_document(document) == original


def test_throughput_direction_is_kept() -> None:
    e = bl.Entry("t", "kvm", Samples.of("Copy", "MB/s", [[1.0], [2.0]]), context())
    again = bl.from_document(bl.to_document(bl.Baseline.of("b", [e])))
    assert again.get("t", "kvm", "basic", "Copy") == e


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="other"), "not a pytest-hermit baseline"),
        (lambda d: d.update(version=3), "unknown baseline version 3"),
        (lambda d: d["entries"][0].update(per_boot="x"), r"entries\[0\].per_boot must be a list"),
        (lambda d: d["entries"][0].update(per_boot=[[1, "x"]]), r"entries\[0\].per_boot\[0\]\[1\] must be a number"),
        (lambda d: d["entries"][0].update(context="nope"), "unknown context 'nope'"),
        (lambda d: d["entries"][0].update(direction="up"), "must be 'lower' or 'higher'"),
        (lambda d: d["entries"].append(dict(d["entries"][0])), "duplicate entry"),
    ],
)
def test_malformed_documents_are_refused_with_what_is_wrong(mutate: object, message: str) -> None:
    document = bl.to_document(bl.Baseline.of("main", [entry()]))
    mutate(document)  # type: ignore[operator]
    with pytest.raises(bl.BaselineError, match=message):
        bl.from_document(document, "x.json")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["main", "release-1.2", "pr_42", "a"])
def test_good_names_map_to_a_file_in_the_directory(name: str, tmp_path: Path) -> None:
    assert bl.path_for(tmp_path, name) == tmp_path / f"{name}.json"


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x.json", "..", "a b", "x" * 101])
def test_names_that_could_escape_or_confuse_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid baseline name"):
        bl.path_for(tmp_path, name)


# --------------------------------------------------------------------------- files


def test_save_then_load_and_list(tmp_path: Path) -> None:
    path = tmp_path / "base" / "main.json"
    written = bl.save_merge(path, [entry(), entry(metric="malloc")])
    assert bl.load(path) == written
    assert bl.list_names(tmp_path / "base") == ["main"]
    assert bl.load_named(tmp_path / "base", "main") == written
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_saving_again_replaces_only_the_entries_it_measured(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    bl.save_merge(path, [entry(metric="getpid"), entry(metric="malloc")])
    bl.save_merge(path, [entry(metric="getpid", scale=2.0), entry(env="qemu", test="t[qemu]")])
    b = bl.load(path)
    assert len(b) == 3
    getpid = b.get("tests/test_perf.py::test_basic[kvm]", "kvm", "basic", "getpid")
    assert getpid is not None and getpid.samples.per_boot[0][0] == 18.0
    malloc = b.get("tests/test_perf.py::test_basic[kvm]", "kvm", "basic", "malloc")
    assert malloc is not None and malloc.samples.per_boot[0][0] == 9.0


def test_a_missing_baseline_names_those_that_exist(tmp_path: Path) -> None:
    bl.save_merge(tmp_path / "main.json", [entry()])
    with pytest.raises(bl.BaselineError, match=r"no baseline named 'other' .*baselines there: main"):
        bl.load_named(tmp_path, "other")


def test_a_corrupt_file_is_refused_naming_its_path_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    path.write_text('{"schema": "pytest-hermit/baseline", "version": 1, "entries": [', encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(bl.BaselineError, match=rf"{path}: corrupt JSON at line 1"):
        bl.load(path)
    with pytest.raises(bl.BaselineError, match="corrupt JSON"):
        bl.save_merge(path, [entry()])
    assert path.read_bytes() == before


def test_an_unknown_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    document = bl.to_document(bl.Baseline.of("main", [entry()]))
    document["version"] = 99
    path.write_text(json.dumps(document), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(bl.BaselineError, match=rf"{path}: unknown baseline version 99"):
        bl.save_merge(path, [entry(metric="malloc")])
    assert path.read_bytes() == before


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "main.json"
    bl.save_merge(path, [entry()])
    before = path.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        bl.save_merge(path, [entry(metric="malloc")])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".main.json.lock", "main.json"]


def _saver(path: str, worker: int, count: int) -> None:
    for i in range(count):
        bl.save_merge(Path(path), [entry(test=f"t::w{worker}_{i}[kvm]")])


def test_two_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_saver, args=(str(path), w, 25)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    saved = bl.load(path)
    assert {e.test for e in saved} == {f"t::w{w}_{i}[kvm]" for w in range(2) for i in range(25)}


def test_the_sample_fixture_files_load() -> None:
    names = bl.list_names(FIXTURES)
    assert {"main", "slow-getpid"} <= set(names)
    for name in names:
        assert len(bl.load_named(FIXTURES, name)) > 0


# --------------------------------------------------------------------------- refusals


def test_another_host_is_refused_unless_allowed() -> None:
    other = context(host=bl.HostFingerprint(cpu_model="AMD EPYC 7763", hypervisor_signature="KVMKVMKVM"))
    reason = bl.refuse_host(context(), other)
    assert reason is not None
    assert "cpu_model 'Intel(R) Core(TM) i5-7300U CPU @ 2.60GHz' vs 'AMD EPYC 7763'" in reason
    assert "--hermit-allow-foreign-baseline" in reason
    assert bl.refuse_host(context(), other, allow_foreign=True) is None
    assert bl.refuse_host(context(), context()) is None


def test_emulation_against_hardware_is_refused_even_when_foreign_is_allowed() -> None:
    tcg = context(host=bl.HostFingerprint(hypervisor_signature="TCGTCGTCGTCG", emulated=True))
    reason = bl.refuse_emulation(context(), tcg)
    assert reason == (
        "the baseline is hardware-accelerated, hypervisor signature KVMKVMKVM but this run is emulated, "
        "hypervisor signature TCGTCGTCGTCG: emulated and real numbers are not comparable"
    )
    b = bl.Baseline.of("main", [entry()])
    full = bl.refusal(b, "tests/test_perf.py::test_basic[kvm]", "kvm", "basic", "getpid", tcg, allow_foreign=True)
    assert full is not None and "emulated" in full


def test_another_command_line_or_repetitions_are_refused_but_injection_is_not() -> None:
    assert bl.refuse_cmdline(context(), context(guest_cmdline="workload=basic reps=20 inject=getpid:30")) is None
    reps = bl.refuse_cmdline(context(), context(guest_cmdline="workload=basic reps=5"))
    assert reps is not None and "(reps=20 vs reps=5)" in reps and "repetitions per boot" in reps
    reason = bl.refuse_cmdline(context(), context(guest_cmdline="workload=basic reps=20 mallocs=128"))
    assert reason is not None and "mallocs=<unset> vs mallocs=128" in reason
    assert bl.cmdline_difference("a=1 a=2", "a=2") is None  # a later word wins, as in the guest


def test_a_missing_entry_names_the_test_and_the_environment() -> None:
    b = bl.Baseline.of("main", [entry()])
    assert bl.refuse_missing(b, "tests/test_perf.py::test_basic[kvm]", "kvm", "basic", "getpid") is None
    reason = bl.refuse_missing(b, "tests/test_perf.py::test_basic[kvm]", "hvm", "basic")
    assert reason == (
        "baseline 'main' has no entry for test tests/test_perf.py::test_basic[kvm] on environment hvm "
        "(it has this test on: kvm)"
    )
    reason = bl.refuse_missing(b, "tests/test_perf.py::test_basic[kvm]", "kvm", "basic", "stream")
    assert reason is not None and "no metric 'stream'" in reason and "(it has: getpid)" in reason
    assert bl.refusal(b, "tests/test_perf.py::test_basic[kvm]", "kvm", "basic", "getpid", context()) is None


def test_two_runs_of_one_test_keep_their_own_entries_in_version_2() -> None:
    first = entry()
    second = bl.Entry(first.test, first.env, Samples.of("getpid", "cycles", [[20.0], [21.0]]), context(), "basic #2")
    b = bl.Baseline.of("main", [first, second])
    assert len(b) == 2 and first.run == "basic"
    again = bl.from_document(json.loads(json.dumps(bl.to_document(b))))
    assert again.get(first.test, "kvm", "basic #2", "getpid") == second
    assert again.get(first.test, "kvm", "basic", "getpid") == first
    reason = bl.refuse_missing(b, first.test, "kvm", "basic #3", "getpid")
    assert reason is not None and "no run 'basic #3'" in reason and "'basic', 'basic #2'" in reason


def test_version_1_files_are_read_with_the_default_identity() -> None:
    document = json.loads((FIXTURES / "main.json").read_text())
    assert document["version"] == 1 and "run" not in document["entries"][0]
    b = bl.from_document(document)
    assert {e.run for e in b} == {"basic", "stream"}
    assert bl.to_document(b)["version"] == bl.VERSION == 2


def test_another_environment_definition_is_refused_naming_the_fields() -> None:
    same = context(environment={**context().environment, "uri": "qemu+ssh://elsewhere/system"})
    assert bl.refuse_environment(context(), same) is None  # how the VM is reached is not what it is
    bigger = context(environment={**context().environment, "memory_mib": 2048, "vcpus": 2, "machine": "q35"})
    reason = bl.refuse_environment(context(), bigger)
    assert reason is not None
    assert "machine '<unset>' vs 'q35'; memory_mib 512 vs 2048; vcpus 1 vs 2" in reason
    b = bl.Baseline.of("main", [entry()])
    full = bl.refusal(b, "tests/test_perf.py::test_basic[kvm]", "kvm", "basic", "getpid", bigger, allow_foreign=True)
    assert full is not None and "memory_mib 512 vs 2048" in full  # not waived by --hermit-allow-foreign-baseline
