"""Plots of a run, drawn from synthetic measurements shaped like the study's numbers."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install 'pytest-hermit[plots]')")

import matplotlib.pyplot as plt
from matplotlib.image import imread

from pytest_hermit.gate import stats
from pytest_hermit.gate.baselines import Baseline, Context, Entry, HostFingerprint
from pytest_hermit.gate.judge import Judged
from pytest_hermit.report.plots import PlotError, baseline_lookup, file_part, names_of_tests, save_png, write_plots
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: The study's cycles (KVM, QEMU, HVM, PVH) and STREAM MB/s.
BASIC = {
    "getpid": (9, 122, 12, 12),
    "sched_yield": (79, 360, 90, 83),
    "malloc": (5858, 51812, 51311, 86658),
    "first_page_access": (3368, 34626, 42607, 83368),
}
STREAM = {
    "stream_copy": (23342.8, 5153.7, 24294.7, 24141.9),
    "stream_triad": (19088.8, 897.4, 19856.3, 19772.2),
}
ENVS = ("kvm", "qemu", "hvm", "pvh")


def samples(metric: str, unit: str, centre: float, boots: int, reps: int, seed: int, cv: float = 0.08) -> Samples:
    rng = random.Random(f"{metric}-{seed}")
    per_boot = []
    for _ in range(boots):
        boot_centre = centre * rng.lognormvariate(0, cv)
        per_boot.append([boot_centre * rng.lognormvariate(0, cv / 2) for _ in range(reps)])
    return Samples.of(metric, unit, per_boot)


def measurement(
    env: str,
    workload: str,
    table: dict[str, tuple[float, ...]],
    *,
    boots: int = 8,
    reps: int = 5,
    seed: int = 1,
    factor: float = 1.0,
    test_id: str = "tests/test_demo.py::test_basic",
) -> Measurement:
    unit = "cycles" if workload == "basic" else "MB/s"
    col = ENVS.index(env)
    return Measurement(
        env=env,
        workload=workload,
        samples={name: samples(name, unit, row[col] * factor, boots, reps, seed + col) for name, row in table.items()},
        boots=boots,
        reps=reps,
        cmdline=f"workload={workload}",
        emulated=env == "qemu",
        test_id=f"{test_id}[{env}]",
    )


def judged(baseline: Measurement, current: Measurement) -> Judged:
    pairs = [(baseline[metric], current[metric]) for metric in current]
    return Judged(current, stats.judge_all(pairs, lambda _s: 0.05, n_resamples=500))


def lookup_of(baselines: list[Measurement]):
    by_key = {(m.test_id, m.env, m.run, metric): m[metric] for m in baselines for metric in m}
    return lambda m, metric: by_key.get((m.test_id, m.env, m.run, metric))


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 300, (path, image.shape)


def test_a_run_against_its_baseline_gives_a_distribution_per_metric_and_environment_and_bars(tmp_path: Path) -> None:
    table = {k: BASIC[k] for k in ("getpid", "malloc")}
    base = [measurement(env, "basic", table, seed=1) for env in ("kvm", "qemu")]
    # getpid on qemu 30 % slower, malloc unchanged
    cur_kvm = measurement("kvm", "basic", table, seed=2)
    slow = measurement("qemu", "basic", table, seed=2)
    slow = replace(slow, samples={**slow.samples, "getpid": samples("getpid", "cycles", 122 * 1.3, 8, 5, 7)})
    run = [cur_kvm, slow]
    judgements = [judged(b, c) for b, c in zip(base, run, strict=True)]

    written = write_plots(tmp_path / "plots", run, judgements, lookup_of(base), baseline_name="main")

    names = sorted(p.name for p in written)
    expected = sorted(
        [f"test_basic-basic-{metric}-{env}.png" for metric in table for env in ("kvm", "qemu")]
        + ["test_basic-basic-bars.png"]
    )
    assert names == expected
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == expected
    for path in written:
        assert_png(path)
    getpid_qemu = next(c for c in judgements[1].comparisons if c.metric == "getpid")
    assert getpid_qemu.verdict is stats.Verdict.REGRESSION


def test_without_a_baseline_every_metric_still_gets_its_distribution(tmp_path: Path) -> None:
    run = [measurement(env, "stream", {"stream_copy": STREAM["stream_copy"]}) for env in ("kvm", "qemu")]
    written = write_plots(tmp_path, run, [], lambda _m, _metric: None)
    assert [p.name for p in written] == [
        "test_basic-stream-stream_copy-kvm.png",
        "test_basic-stream-stream_copy-qemu.png",
        "test_basic-stream-bars.png",
    ]
    for path in written:
        assert_png(path)


def test_single_boot_and_single_repetition_data_draw_without_error(tmp_path: Path) -> None:
    table = {"getpid": BASIC["getpid"]}
    one = measurement("kvm", "basic", table, boots=1, reps=1)
    base = measurement("kvm", "basic", table, boots=1, reps=3, seed=5)
    written = write_plots(tmp_path, [one], [], lookup_of([base]))
    assert [p.name for p in written] == ["test_basic-basic-getpid-kvm.png", "test_basic-basic-bars.png"]
    for path in written:
        assert_png(path)


def test_a_judged_measurement_with_added_boots_is_the_one_drawn(tmp_path: Path) -> None:
    """The gate added boots while judging: the pictures show all 8 boots, not the 4 the run first measured."""
    first = measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, boots=4)
    more = first.merged(measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, boots=4, seed=9))
    base = measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, seed=3)
    drawn = write_plots(tmp_path / "run", [first], [judged(base, more)], lookup_of([base]))
    assert [p.name for p in drawn] == ["test_basic-basic-getpid-kvm.png", "test_basic-basic-bars.png"]
    # The same pictures drawn from the 8 boots alone, and from the first 4 alone (the wrong ones).
    right = write_plots(tmp_path / "right", [more], [judged(base, more)], lookup_of([base]))
    wrong = write_plots(tmp_path / "wrong", [first], [judged(base, first)], lookup_of([base]))
    for got, want, not_want in zip(drawn, right, wrong, strict=True):
        assert (imread(got) == imread(want)).all(), f"{got.name} does not show the judged measurement"
        assert imread(got).shape != imread(not_want).shape or not (imread(got) == imread(not_want)).all()


def test_metrics_without_values_and_odd_names_are_handled(tmp_path: Path) -> None:
    m = Measurement(
        env="kvm-pinned/2",
        workload="hermit os",
        samples={
            "bench sleep/1": Samples.of("bench sleep/1", "s", [[10.0, 10.1], [9.9]]),
            "empty": Samples.of("empty", "s", []),
            "zero": Samples.of("zero", "ms", [[0.0, 0.0], [0.0]]),
        },
        boots=2,
        reps=2,
        cmdline="",
        test_id="tests/a dir/test_x.py::TestX::test_y[kvm-pinned/2-big]",
    )
    written = write_plots(tmp_path, [m], [])
    assert [p.name for p in written] == [
        "TestX.test_y.big-hermit_os-bench_sleep_1-kvm-pinned_2.png",
        "TestX.test_y.big-hermit_os-zero-kvm-pinned_2.png",
        "TestX.test_y.big-hermit_os-bars.png",
    ]
    for path in written:
        assert_png(path)


def test_nothing_to_plot_writes_nothing(tmp_path: Path) -> None:
    assert write_plots(tmp_path / "new", [], []) == []
    assert (tmp_path / "new").is_dir()


def test_file_parts_are_safe_and_bounded() -> None:
    assert file_part("getpid") == "getpid"
    assert file_part("a/b c:d") == "a_b_c_d"
    assert file_part("../etc") == "_etc"
    assert file_part("") == "_"
    long = file_part("x" * 200)
    assert len(long) == 60 and long != file_part("x" * 201)


def test_test_names_get_their_file_only_when_two_files_share_a_name() -> None:
    ms = [
        measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, test_id="tests/test_a.py::test_basic"),
        measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, test_id="tests/test_b.py::test_basic"),
        measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, test_id="tests/test_b.py::test_other"),
    ]
    labels = names_of_tests(ms)
    assert sorted(labels.values()) == ["test_a.test_basic", "test_b.test_basic", "test_other"]


def test_names_that_become_equal_are_kept_apart_and_the_lookup_may_be_left_out(tmp_path: Path) -> None:
    ms = [
        measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, test_id="tests/test_a.py::test_x"),
        measurement("kvm", "basic", {"getpid": BASIC["getpid"]}, test_id="tests/test_a.py::test/x"),
    ]
    written = write_plots(tmp_path, ms, [])
    assert [p.name for p in written] == [
        "test_x-basic-getpid-kvm.png",
        "test_x-basic-getpid-kvm-2.png",
        "test_x-basic-bars.png",
        "test_x-basic-bars-2.png",
    ]


def test_baseline_lookup_reads_a_loaded_baseline() -> None:
    m = measurement("kvm", "basic", {"getpid": BASIC["getpid"]})
    context = Context(
        plugin_version="0",
        environment={},
        host=HostFingerprint("cpu", "k", "1", "1", "", False),
        guest_sha256="0",
        guest_cmdline="",
        git_commit=None,
        git_branch=None,
        date="2024-01-01T00:00:00+00:00",
    )
    baseline = Baseline.of("main", [Entry(m.test_id, "kvm", m["getpid"], context, m.run)])
    assert baseline_lookup(baseline)(m, "getpid") == m["getpid"]
    assert baseline_lookup(baseline)(m, "malloc") is None
    assert baseline_lookup(None)(m, "getpid") is None


def test_a_comparison_whose_baseline_samples_are_not_at_hand_still_shows_the_change(tmp_path: Path) -> None:
    table = {"getpid": BASIC["getpid"]}
    base = measurement("kvm", "basic", table, seed=3)
    cur = measurement("kvm", "basic", table, seed=4)
    written = write_plots(tmp_path, [cur], [judged(base, cur)], lambda _m, _metric: None)
    assert [p.name for p in written] == ["test_basic-basic-getpid-kvm.png", "test_basic-basic-bars.png"]
    for path in written:
        assert_png(path)


def test_a_plot_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """A PNG appears only once complete; a failed write leaves neither it nor its partial file."""
    fig = plt.figure()
    try:
        written = save_png(fig, tmp_path / "a.png", "--hermit-plot")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
        assert written.read_bytes().startswith(b"\x89PNG")
        (tmp_path / "b.png").mkdir()  # in the way: the final rename fails
        with pytest.raises(PlotError, match=r"--hermit-plot: cannot write .*b\.png"):
            save_png(fig, tmp_path / "b.png", "--hermit-plot")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    finally:
        plt.close(fig)
