"""github-action-benchmark's custom JSON with hermit-bench's grouping, read back as the action reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_hermit.report.formats import ACTION_BENCHMARK_FILES, action_benchmark_json
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Direction, Samples


def read_custom_tool(text: str) -> list[dict[str, Any]]:
    """A reader of the published format, field by field.

    github-action-benchmark's custom tools parse the file as a JSON array and
    keep ``name`` and ``unit`` (strings), ``value`` (a number), and the
    optional ``range`` and ``extra`` (strings, shown in the chart's tooltip);
    hermit-os's fork of the action also keeps ``group`` and ``plot_group``
    (strings, as hermit-bench writes them). Anything else is dropped by the
    action, so a field we rely on must be one of these.
    """
    entries = json.loads(text)
    assert isinstance(entries, list) and entries, "the action refuses a file without entries"
    kept = []
    for e in entries:
        assert isinstance(e["name"], str) and e["name"]
        assert isinstance(e["unit"], str) and e["unit"]
        assert isinstance(e["value"], int | float) and not isinstance(e["value"], bool)
        for optional in ("range", "extra", "group", "plot_group"):
            assert isinstance(e.get(optional, ""), str), optional
        kept.append({k: e[k] for k in ("name", "unit", "value", "range", "extra", "group", "plot_group") if k in e})
    return kept


def measurement(env: str, workload: str, samples: dict[str, Samples], **kw: Any) -> Measurement:
    return Measurement(
        env, workload, samples, boots=2, reps=2, cmdline="", test_id=f"t.py::test_{workload}[{env}]", **kw
    )


@pytest.fixture
def two_workloads() -> list[Measurement]:
    basic = measurement(
        "icount", "basic", {"getpid": Samples.of("getpid", "cycles", [[15.0, 15.0], [15.0, 15.0]])}, counted=True
    )
    stream = measurement(
        "qemu", "stream", {"stream_triad": Samples.of("stream_triad", "MB/s", [[900.0, 910.0], [950.0, 940.0]])}
    )
    return [basic, stream]


def test_directions_go_to_separate_files_and_read_back(two_workloads: list[Measurement]) -> None:
    out = action_benchmark_json(two_workloads)
    smaller = read_custom_tool(json.dumps(out[Direction.LOWER_IS_BETTER]))
    bigger = read_custom_tool(json.dumps(out[Direction.HIGHER_IS_BETTER]))
    assert [e["name"] for e in smaller] == ["test_basic[icount]:getpid"]
    assert [e["name"] for e in bigger] == ["test_stream[qemu]:stream_triad"]
    assert smaller[0]["unit"] == "cycles" and smaller[0]["value"] == 15.0 and smaller[0]["range"] == "± 0"
    assert "counted instructions" in smaller[0]["extra"]
    assert bigger[0]["value"] == pytest.approx(925.0) and bigger[0]["range"] == "± 20"
    assert (smaller[0]["group"], smaller[0]["plot_group"]) == ("basic", "none")
    assert set(ACTION_BENCHMARK_FILES.values()) == {"smaller-is-better.json", "bigger-is-better.json"}


def test_a_second_run_of_a_workload_is_named_apart() -> None:
    samples = {"getpid": Samples.of("getpid", "cycles", [[30.0]])}
    plain = measurement("qemu", "basic", samples)
    sized = measurement("qemu", "basic", samples, run="basic iters=100000")
    names = [e["name"] for e in action_benchmark_json([plain, sized])[Direction.LOWER_IS_BETTER]]
    assert names == ["test_basic[qemu]:getpid", "test_basic[qemu]:basic iters=100000:getpid"]
