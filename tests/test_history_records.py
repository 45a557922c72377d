"""History records and their folder: round trip, bad files named, concurrent appends, pruning."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from pathlib import Path

import pytest

from pytest_hermit.gate.baselines import Context
from pytest_hermit.gate.git import GitState
from pytest_hermit.gate.judge import Judged
from pytest_hermit.gate.stats import compare
from pytest_hermit.history import store
from pytest_hermit.history.records import (
    RecordedVerdict,
    RecordError,
    build_record,
    from_document,
    parse,
    to_document,
)
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples
from tests.history_data import HOST, ICOUNT, START, measurement, record, sha


def test_a_record_survives_json_both_ways() -> None:
    verdict = RecordedVerdict("regression", "exact", 0.0667, (0.0667, 0.0667), 1.0, 0.0, 0.0, 0.005)
    original = record(sha(1), measurement([[15.0, 15.0], [15.0, 15.0]], verdict=verdict), measurement([[57.0]]))
    text = json.dumps(to_document(original))
    assert parse(text, "r.json") == original
    assert json.loads(text)["schema"] == "pytest-hermit/history"


def test_build_record_takes_the_judged_measurement_and_its_verdicts() -> None:
    samples = {"getpid": Samples.of("getpid", "cycles", [[15.0]])}
    m = Measurement("icount", "basic", samples, 1, 1, "workload=basic reps=1", counted=True, test_id="t::x")
    two_boots = {"getpid": Samples.of("getpid", "cycles", [[15.0], [15.0]])}
    more = Measurement("icount", "basic", two_boots, 2, 1, "workload=basic reps=1", test_id="t::x")
    comparison = compare(Samples.of("getpid", "cycles", [[15.0], [15.0]]), more["getpid"], 0.05)
    context = Context("0.1.0", ICOUNT, HOST, "ab" * 32, "workload=basic reps=1", sha(1), "main", "x", False)
    git = GitState(sha(1), "main", False)
    rec = build_record("id1", START, git, "0.1.0", "main", [(m, context)], [Judged(more, [comparison])])
    assert rec.git_commit == sha(1) and rec.git_dirty is False and rec.baseline == "main"
    assert rec.date == "2025-06-01T12:00:00.000+00:00"
    (mr,) = rec.measurements
    assert (mr.test, mr.env, mr.run, mr.boots) == ("t::x", "icount", "basic", 2)
    assert mr.host == HOST and mr.guest_cmdline == "workload=basic reps=1" and mr.environment == ICOUNT
    (metric,) = mr.metrics
    assert metric.samples.per_boot == ((15.0,), (15.0,))
    assert metric.verdict is not None and metric.verdict.verdict == comparison.verdict.name.lower()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="pytest-hermit/baseline"), "not a pytest-hermit history record"),
        (lambda d: d.update(version=9), "unknown history record version 9"),
        (lambda d: d.update(date="yesterday"), "date must be an ISO 8601"),
        (lambda d: d["measurements"][0].update(boots="two"), "measurements[0].boots must be a whole number"),
        (
            lambda d: d["measurements"][0]["metrics"]["getpid"]["per_boot"][0].__setitem__(0, "x"),
            "measurements[0].metrics.getpid.per_boot[0][0] must be a number",
        ),
        (lambda d: d["measurements"][0]["host"].pop("qemu_version"), "measurements[0].host.qemu_version"),
        (lambda d: d["measurements"][0]["metrics"]["getpid"].update(direction="up"), "direction must be"),
        (lambda d: d.update(measurements={}), "measurements must be a list"),
    ],
)
def test_a_bad_field_is_named_with_the_file(change, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = to_document(record(sha(1), measurement([[15.0]])))
    change(doc)
    with pytest.raises(RecordError) as caught:
        from_document(doc, "hist/r.json")
    assert "hist/r.json" in str(caught.value) and message in str(caught.value)


def test_corrupt_json_names_file_line_and_what_to_do() -> None:
    with pytest.raises(RecordError, match=r"r\.json: corrupt JSON at line 2 column .*remove it"):
        parse('{"schema":\n nope}', "r.json")


def test_the_folder_keeps_bad_files_as_problems_and_records_in_date_order(tmp_path: Path) -> None:
    late = store.append(tmp_path, record(sha(2), measurement([[16.0]]), minutes=5))
    early = store.append(tmp_path, record(sha(1), measurement([[15.0]]), minutes=0))
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    (tmp_path / "baseline.json").write_text('{"schema": "pytest-hermit/baseline"}', encoding="utf-8")
    (tmp_path / ".record-x.tmp").write_text("half", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a record", encoding="utf-8")
    loaded = store.load_all(tmp_path)
    assert [p for p, _ in loaded.records] == [early, late]
    assert sorted(p.path.name for p in loaded.problems) == ["baseline.json", "broken.json"]
    assert early.name.startswith("20250601T120000Z-" + sha(1)[:12] + "-")
    with pytest.raises(FileNotFoundError):
        store.load_all(tmp_path / "missing")


def test_append_never_replaces_a_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two records of one second and commit, and a random part that repeats: both files stay."""
    rec = record(sha(1), measurement([[15.0]]))
    parts = iter(["a" * 16, "a" * 16, "b" * 16])
    monkeypatch.setattr(store.secrets, "token_hex", lambda n: next(parts))
    first = store.append(tmp_path, rec)
    second = store.append(tmp_path, rec)
    assert first != second and first.exists() and second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])  # no temp file left


def _append_many(directory: str, worker: int, count: int) -> None:
    for i in range(count):
        store.append(Path(directory), record(sha(worker), measurement([[15.0 + i]]), run_id=f"w{worker}-{i}"))


def test_concurrent_writers_lose_no_record(tmp_path: Path) -> None:
    """8 processes x 20 appends at once, all in the same second: 160 whole, readable records."""
    ctx = multiprocessing.get_context("spawn")  # fork after pytest's threads is not safe
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w, 20)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 8
    loaded = store.load_all(tmp_path)
    assert loaded.problems == ()
    assert sorted(r.run_id for _, r in loaded.records) == sorted(f"w{w}-{i}" for w in range(8) for i in range(20))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_prune_keeps_the_newest_and_only_what_it_wrote(tmp_path: Path) -> None:
    paths = [store.append(tmp_path, record(sha(i), measurement([[15.0]]), minutes=i)) for i in range(5)]
    renamed = tmp_path / "kept-by-hand.json"
    paths[0].rename(renamed)  # a record under another name is not ours to delete
    loaded = store.load_all(tmp_path)
    assert store.prune_plan(loaded, keep_last=2) == paths[1:3]
    assert store.prune_plan(loaded, before=START + dt.timedelta(minutes=3)) == paths[1:3]
    assert store.prune_plan(loaded, keep_last=4, before=START + dt.timedelta(minutes=3)) == []
    assert store.prune_plan(loaded, keep_last=3, before=START + dt.timedelta(minutes=3)) == paths[1:2]
    with pytest.raises(ValueError, match="--keep-last N or --before DATE"):
        store.prune_plan(loaded)
    assert store.remove(paths[1:3]) == paths[1:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([renamed.name, paths[3].name, paths[4].name])
