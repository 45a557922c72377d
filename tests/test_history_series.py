"""Series from records (keys, commit order, pooling) and ``pytest-hermit history`` on plain records."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_hermit.cli import main
from pytest_hermit.history import store
from pytest_hermit.history.commits import CommitLog, read_log
from pytest_hermit.history.series import DATE_ORDER, GIT_ORDER, Filters, build_history
from pytest_hermit.history.summary import analyse, render
from tests.history_data import HOST, measurement, record, sha

LOG = CommitLog.of([(sha(i), f"change {i}") for i in range(6)], "repo")


def test_another_host_or_command_line_starts_another_series() -> None:
    other_host = replace(HOST, qemu_version="8.2.0")
    records = [
        record(sha(0), measurement([[15.0]])),
        record(sha(1), measurement([[15.0]], host=other_host), minutes=1),
        record(sha(2), measurement([[15.0]], cmdline="workload=basic reps=1 iters=400"), minutes=2),
        record(sha(3), measurement([[15.0]]), minutes=3),
    ]
    history = build_history(records, LOG)
    assert len(history.series) == 3
    lengths = sorted(len(s.points) for s in history.series)
    assert lengths == [1, 1, 2]
    (same,) = [s for s in history.series if len(s.points) == 2]
    assert [p.commit for p in same.points] == [sha(0), sha(3)]
    assert same.key.host.qemu_version == HOST.qemu_version and same.key.guest_cmdline == "workload=basic reps=1"


@pytest.mark.parametrize(("env", "series"), [("icount", 1), ("qemu", 2)])
def test_counted_numbers_ignore_the_runners_cpu_and_timed_ones_do_not(env: str, series: int) -> None:
    """CI runners of one pool differ in CPU model and kernel; icount's count does not (the gate's rule)."""
    other_cpu = replace(HOST, cpu_model="Intel Xeon 8370C", host_kernel="6.8.0")
    records = [
        record(sha(0), measurement([[15.0]], env=env)),
        record(sha(1), measurement([[15.0]], env=env, host=other_cpu), minutes=1),
    ]
    assert len(build_history(records, LOG).series) == series


def test_points_follow_the_repository_not_the_clock() -> None:
    """Commit 2 was measured first (a re-run of an old commit comes later): git decides the order."""
    records = [
        record(sha(2), measurement([[16.0]]), minutes=0),
        record(sha(0), measurement([[15.0]]), minutes=5),
        record(sha(1), measurement([[15.0]]), minutes=9),
    ]
    history = build_history(records, LOG)
    assert history.ordering == GIT_ORDER
    (series,) = history.series
    assert [p.commit for p in series.points] == [sha(0), sha(1), sha(2)]
    assert [p.subject for p in series.points] == ["change 0", "change 1", "change 2"]


def test_without_every_commit_in_git_points_go_by_date_and_say_so() -> None:
    records = [record(sha(2), measurement([[16.0]])), record(sha(9), measurement([[15.0]]), minutes=5)]
    history = build_history(records, LOG)
    assert history.ordering == DATE_ORDER
    assert [p.commit for p in history.series[0].points] == [sha(2), sha(9)]
    assert any("does not hold 1 of the records' commits" in n and sha(9)[:10] in n for n in history.notes)
    assert build_history(records, None).ordering == DATE_ORDER


def test_records_of_one_commit_are_one_point_and_dirty_ones_are_left_out() -> None:
    records = [
        record(sha(0), measurement([[15.0, 15.0], [15.0, 15.0]])),
        record(sha(0), measurement([[15.0]]), minutes=1),
        record(sha(0), measurement([[99.0]]), minutes=2, dirty=True),
        record(None, measurement([[15.0]]), minutes=3),
        record(None, measurement([[15.0]]), minutes=4),
    ]
    history = build_history(records, None)
    (series,) = history.series
    assert [len(p.values) for p in series.points] == [3, 1, 1]  # boots pooled; records without commit alone
    assert series.points[0].values == (15.0, 15.0, 15.0)
    assert len(series.points[0].run_ids) == 2
    assert any("uncommitted changes" in n for n in history.notes)


def test_filters_pick_environments_metrics_tests_and_branches() -> None:
    records = [
        record(sha(0), measurement([[15.0]]), measurement([[57.0]], metric="sched_yield")),
        record(sha(1), measurement([[9.0]], env="qemu", test="tests/test_y.py::test_basic[qemu]"), branch="dev"),
    ]
    assert len(build_history(records, LOG).series) == 3
    assert [s.key.metric for s in build_history(records, LOG, Filters(metrics=frozenset({"sched_yield"}))).series] == [
        "sched_yield"
    ]
    assert [s.key.env for s in build_history(records, LOG, Filters(envs=frozenset({"qemu"}))).series] == ["qemu"]
    assert [s.key.env for s in build_history(records, LOG, Filters(tests=("test_y",))).series] == ["qemu"]
    assert {s.key.env for s in build_history(records, LOG, Filters(branch="main")).series} == {"icount"}


def test_the_report_names_the_commit_range_size_and_certainty() -> None:
    records = [record(sha(i), measurement([[16.0 if i >= 3 else 15.0]]), minutes=i) for i in range(6)]
    history = build_history(records, LOG)
    analysed = analyse(history, min_change=0.01, alpha=0.01)
    text = render(history, analysed, source="hist")
    md = render(history, analysed, source="hist", markdown=True)
    assert "1 change point(s)" in text
    line = f'+6.7% regression, 15.000 -> 16.000 cycles between {sha(2)[:10]} "change 2" and {sha(3)[:10]} "change 3"'
    assert line in text and "exact" in text
    assert f"`{sha(2)[:10]}..{sha(3)[:10]}`" in md and md.startswith("## pytest-hermit history")
    assert "| commit | subject | boots | median | spread | change |" in md


def test_read_log_knows_a_real_repository(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    shas = []
    for i in range(3):
        (tmp_path / "f").write_text(str(i))
        git("add", "f")
        git("commit", "-qm", f"step {i}")
        shas.append(git("rev-parse", "HEAD"))
    log = read_log(tmp_path)
    assert log is not None
    assert [log.positions[s] for s in shas] == [0, 1, 2]
    assert log.subjects[shas[1]] == "step 1"
    assert read_log(tmp_path / "nowhere") is None


# --------------------------------------------------------------------------- the command


@pytest.fixture
def history_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "hist"
    for i in range(6):
        store.append(directory, record(sha(i), measurement([[16.0 if i >= 4 else 15.0]]), minutes=i))
    return directory


def test_the_command_prints_series_and_change_points(
    history_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md = tmp_path / "out" / "history.md"
    status = main(["history", "--dir", str(history_dir), "--repo", str(tmp_path), "--md", str(md)])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "points in record date" in out.out  # tmp_path is no git repository
    assert f"{sha(3)[:10]}..{sha(4)[:10]}" in out.out
    assert md.read_text().startswith("## pytest-hermit history")
    assert summary.read_text() == md.read_text() + "\n"


def test_a_bad_file_is_skipped_with_its_name(
    history_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (history_dir / "cut.json").write_text('{"schema": "pytest-hermit/history", ', encoding="utf-8")
    assert main(["history", "--dir", str(history_dir), "--repo", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "skipped: history record" in out.err and "cut.json: corrupt JSON at line 1" in out.err
    assert "1 change point(s)" in out.out


@pytest.mark.parametrize("folder", ["missing", "only-bad"])
def test_nothing_to_read_is_refused(tmp_path: Path, folder: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "only-bad").mkdir()
    (tmp_path / "only-bad" / "x.json").write_text("[]", encoding="utf-8")
    assert main(["history", "--dir", str(tmp_path / folder)]) == 7
    err = capsys.readouterr().err
    assert ("no history directory" in err) if folder == "missing" else ("no readable record" in err)


def test_plots_are_drawn_per_series(history_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    plots = tmp_path / "plots"
    assert main(["history", "--dir", str(history_dir), "--repo", str(tmp_path), "--plot", str(plots)]) == 0
    (png,) = plots.iterdir()
    assert png.name == "test_x.py_test_basic_icount_-basic-getpid-icount.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prune_removes_only_what_it_is_told(history_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "prune", "--dir", str(history_dir)]) == 7
    assert "needs --keep-last N or --before DATE" in capsys.readouterr().err
    assert main(["history", "prune", "--dir", str(history_dir), "--keep-last", "2", "--dry-run"]) == 0
    assert len(list(history_dir.iterdir())) == 6
    assert main(["history", "--dir", str(history_dir), "prune", "--keep-last", "2"]) == 0
    assert "removed 4 of 6 record(s)" in capsys.readouterr().out
    assert len(list(history_dir.iterdir())) == 2
    assert main(["history", "prune", "--dir", str(history_dir), "--before", "2025-06-02"]) == 0
    assert list(history_dir.iterdir()) == []
