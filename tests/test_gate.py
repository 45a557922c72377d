"""The gate's pure parts: adaptive boots, enforcement, refusals wiring (no VM)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pytest_hermit.errors import NotComparable
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate import stats
from pytest_hermit.gate.git import GitState, git_info
from pytest_hermit.gate.judge import Gate, GateSettings, Regression
from pytest_hermit.plugin.outcomes import Kind, classify
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples


def boots(rng: np.random.Generator, n: int, centre: float, boot_cv: float = 0.1) -> list[list[float]]:
    return [
        [centre * float(np.exp(rng.normal(0, boot_cv))) * float(np.exp(rng.normal(0, 0.02))) for _ in range(3)]
        for _ in range(n)
    ]


def measurement(per_boot: list[list[float]]) -> Measurement:
    s = Samples.of("getpid", "cycles", per_boot)
    return Measurement(env="qemu", workload="basic", samples={"getpid": s}, boots=len(per_boot), reps=3, cmdline="")


def test_adaptive_boots_follow_the_planned_looks() -> None:
    rng = np.random.default_rng(7)
    reference = Samples.of("getpid", "cycles", boots(rng, 20, 100.0))
    gate = Gate(GateSettings(max_boots=20))
    asked: list[int] = []

    def more(k: int) -> Measurement:
        asked.append(k)
        return measurement(boots(rng, k, 100.0))

    judged = gate.judge_pairs(measurement(boots(rng, 4, 100.0)), lambda m: [(reference, m["getpid"])], more)
    looks = stats.planned_looks(4, 20)
    assert judged.measurement.boots in looks
    assert [4 + sum(asked[:i]) for i in range(1, len(asked) + 1)] == list(looks[1 : len(asked) + 1])
    assert judged.references["getpid"] is reference
    assert gate.judged == [judged]


def test_enforce_fails_on_a_clear_regression_only() -> None:
    rng = np.random.default_rng(3)
    reference = Samples.of("getpid", "cycles", boots(rng, 12, 100.0, 0.03))
    gate = Gate(GateSettings())
    same = gate.judge_pairs(measurement(boots(rng, 12, 100.0, 0.03)), lambda m: [(reference, m["getpid"])], _never)
    gate.enforce(same)
    slow = gate.judge_pairs(measurement(boots(rng, 12, 130.0, 0.03)), lambda m: [(reference, m["getpid"])], _never)
    with pytest.raises(Regression, match=r"getpid regressed on qemu: .* cycles \(\+"):
        gate.enforce(slow)


def test_inconclusive_fails_only_when_asked() -> None:
    rng = np.random.default_rng(5)
    reference = Samples.of("getpid", "cycles", boots(rng, 3, 100.0, 0.3))
    current = measurement(boots(rng, 3, 104.0, 0.3))
    lenient = Gate(GateSettings())
    judged = lenient.judge_pairs(current, lambda m: [(reference, m["getpid"])], _never)
    assert judged.comparisons[0].verdict is stats.Verdict.INCONCLUSIVE
    lenient.enforce(judged)
    strict = Gate(GateSettings(fail_on=frozenset({stats.Verdict.REGRESSION, stats.Verdict.INCONCLUSIVE})))
    with pytest.raises(Regression, match=r"getpid (was )?inconclusive"):
        strict.enforce(strict.judge_pairs(current, lambda m: [(reference, m["getpid"])], _never))


def _never(k: int) -> Measurement:
    raise AssertionError("no boots may be added without --hermit-max-boots")


def test_git_info_says_when_tracked_files_have_uncommitted_changes(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert git_info(tmp_path) == GitState()  # not a checkout: nothing is claimed
    git("init", "-q", "-b", "main")
    (tmp_path / "kernel.c").write_text("int x;\n")
    git("add", "kernel.c")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = git_info(tmp_path)
    assert clean.commit is not None and len(clean.commit) == 40
    assert (clean.branch, clean.dirty) == ("main", False)
    (tmp_path / "build.o").write_text("untracked output\n")
    assert git_info(tmp_path).dirty is False
    (tmp_path / "kernel.c").write_text("int y;\n")
    assert git_info(tmp_path) == GitState(clean.commit, "main", True)


def _context() -> bl.Context:
    return bl.Context("0", {}, bl.HostFingerprint(), "x", "workload=basic reps=3", None, None, "2026-01-01T00:00:00Z")


def test_save_after_a_comparison_keeps_only_measurements_that_passed(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    reference = Samples.of("getpid", "cycles", boots(rng, 12, 100.0, 0.03))
    gate = Gate(GateSettings(save="main", compare="main", baseline_dir=tmp_path))
    slow = measurement(boots(rng, 12, 130.0, 0.03))
    gate.keep(slow, _context(), gate.judge_pairs(slow, lambda m: [(reference, m["getpid"])], _never))
    assert gate.save() is None  # nothing to save: the file is not even written
    assert not (tmp_path / "main.json").exists()
    lines = gate.withheld_lines()
    assert lines[0] == "hermit: not saved to baseline 'main' (1 measurement(s); their entries stay as they were):"
    assert "regression: getpid regressed (+" in lines[1]
    assert "--hermit-save=main and without --hermit-compare" in lines[-1]

    same = measurement(boots(rng, 12, 100.0, 0.03))
    gate.keep(same, _context(), gate.judge_pairs(same, lambda m: [(reference, m["getpid"])], _never))
    assert gate.save() == tmp_path / "main.json"
    assert len(bl.load(tmp_path / "main.json")) == 1


def test_without_a_comparison_every_measurement_is_saved(tmp_path: Path) -> None:
    gate = Gate(GateSettings(save="main", baseline_dir=tmp_path))
    gate.keep(measurement([[130.0, 131.0], [129.0, 130.0]]), _context())
    assert gate.save() is not None and not gate.withheld_lines()


def test_two_runs_in_one_test_are_judged_saved_and_reported_separately(tmp_path: Path) -> None:
    from dataclasses import replace

    from pytest_hermit.report.formats import results_json
    from pytest_hermit.report.terminal import build_comparison_tables, build_tables

    rng = np.random.default_rng(11)
    test = "tests/test_perf.py::test_sizes[qemu]"
    small = replace(measurement(boots(rng, 8, 100.0, 0.03)), test_id=test, run="basic")
    large = replace(measurement(boots(rng, 8, 400.0, 0.03)), test_id=test, run="basic iters=4000")
    saver = Gate(GateSettings(save="main", baseline_dir=tmp_path))
    for m in (small, large):
        saver.keep(m, _context())
    saver.save()
    assert len(bl.load(tmp_path / "main.json")) == 2

    gate = Gate(GateSettings(compare="main", baseline_dir=tmp_path))
    gate.load()
    again_small = replace(small, samples={"getpid": Samples.of("getpid", "cycles", boots(rng, 8, 100.0, 0.03))})
    again_large = replace(large, samples={"getpid": Samples.of("getpid", "cycles", boots(rng, 8, 400.0, 0.03))})
    judged = [gate.judge(m, _context(), _never) for m in (again_small, again_large)]
    # each against its own entry: 100 vs 100 and 400 vs 400, not one run's numbers against the other's
    assert [j.comparisons[0].verdict for j in judged] == [stats.Verdict.UNCHANGED] * 2

    runs = results_json([again_small, again_large], judged, {})["runs"]
    assert [r["run"] for r in runs] == ["basic", "basic iters=4000"]
    assert [round(r["metrics"]["getpid"]["comparison"]["baseline_location"], -1) for r in runs] == [100, 400]
    assert len(build_tables([again_small, again_large])) == 2
    assert len(build_comparison_tables(judged, "main")) == 2


@pytest.mark.parametrize(
    ("reference", "current", "words"),
    [
        (Samples.of("getpid", "cycles", [[9.0, 9.0]]), [[9.0, 9.0], [9.5, 9.0]], "with --hermit-boots of at least 2"),
        (Samples.of("getpid", "cycles", [[0.0], [0.0]]), [[9.0], [9.5]], "can be 0 cannot be judged"),
        (Samples.of("getpid", "ns", [[9.0], [9.5]]), [[9.0], [9.5]], "changed its unit"),
    ],
)
def test_numbers_the_statistics_cannot_compare_are_refused_not_a_crash(
    tmp_path: Path, reference: Samples, current: list[list[float]], words: str
) -> None:
    bl.save_merge(tmp_path / "main.json", [bl.Entry("t::x[qemu]", "qemu", reference, _context(), "basic")])
    gate = Gate(GateSettings(compare="main", baseline_dir=tmp_path))
    gate.load()
    m = measurement(current)
    m = Measurement(**{**m.__dict__, "test_id": "t::x[qemu]"})
    with pytest.raises(NotComparable) as caught:
        gate.judge(m, _context(), _never)
    text = str(caught.value)
    assert text.startswith("baseline 'main', test t::x[qemu] run 'basic' on qemu: the statistics cannot compare")
    assert "'getpid'" in text and words in text
    assert classify(caught.value) is Kind.REFUSED  # exit 7, not pytest's 1


def counted(samples: dict[str, list[list[float]]], unit: str = "cycles") -> Measurement:
    by_metric = {
        name: Samples.of(name, "ms" if name.startswith("boot_time") else unit, per_boot)
        for name, per_boot in samples.items()
    }
    first = next(iter(samples.values()))
    return Measurement(
        env="icount",
        workload="hello",
        samples=by_metric,
        boots=len(first),
        reps=len(first[0]),
        cmdline="",
        counted=True,
        test_id="t.py::test_hello[icount]",
    )


def test_host_timed_metric_of_one_boot_never_sinks_the_guests_exact_ones() -> None:
    """hermit_run("hello", boots=1) under icount used to be refused whole: the host's clock
    cannot be judged from one boot, and that took the exact boot_time_guest down with it."""
    base = counted({"boot_time_guest": [[20.0, 20.0]], "boot_time_host": [[0.8, 0.8]]})
    now = counted({"boot_time_guest": [[22.0, 22.0]], "boot_time_host": [[0.7, 0.9]]})
    gate = Gate(GateSettings())
    judged = gate.judge_pairs(now, lambda m: [(base[k], m[k]) for k in m.samples], _never)
    assert [(c.metric, c.method, c.verdict) for c in judged.comparisons] == [
        ("boot_time_guest", "exact", stats.Verdict.REGRESSION)
    ]
    assert any("boot_time_host" in n and "not judged" in n for n in gate.notes)


def test_a_counted_metric_that_varies_is_judged_by_the_statistics_and_said_once() -> None:
    """A Linux guest under icount: getpid identical, malloc wobbling by 0.2% between boots."""
    base = counted({"getpid": [[15.0]] * 4, "malloc": [[9193.0], [9175.0], [9177.0], [9190.0]]})
    now = counted({"getpid": [[15.0]] * 4, "malloc": [[9176.0], [9188.0], [9170.0], [9193.0]]})
    gate = Gate(GateSettings())
    for _ in range(2):
        judged = gate.judge_pairs(now, lambda m: [(base[k], m[k]) for k in m.samples], _never)
        methods = {c.metric: c.method for c in judged.comparisons}
        assert methods == {"getpid": "exact", "malloc": "bootstrap"}
    varied = [n for n in gate.notes if "malloc varied" in n]
    assert len(varied) == 1 and "not exactly" in varied[0]


def test_a_metric_in_the_baseline_that_the_guest_no_longer_prints_is_refused(tmp_path: Path) -> None:
    """Only the new run's metrics were walked: one that disappeared was never compared, and passed."""
    per_boot = [[9.0, 9.0], [9.5, 9.0]]
    entries = [
        bl.Entry("t::x[qemu]", "qemu", Samples.of(name, "cycles", per_boot), _context(), "basic")
        for name in ("getpid", "malloc")
    ]
    bl.save_merge(tmp_path / "main.json", entries)
    gate = Gate(GateSettings(compare="main", baseline_dir=tmp_path))
    gate.load()
    m = Measurement(**{**measurement(per_boot).__dict__, "test_id": "t::x[qemu]"})
    with pytest.raises(NotComparable, match=r"holds malloc for this run, but the guest no longer printed it"):
        gate.judge(m, _context(), _never)
