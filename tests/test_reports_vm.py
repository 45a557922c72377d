"""Reports and A/B runs end to end (real VMs): every output option in one run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import SMALL_LOOPS, assert_getpid_regressed, run_pytest
from tests.test_action_benchmark import read_custom_tool

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]

BASIC = """
def test_basic(hermit_run):
    hermit_run("basic")
"""


def test_all_reports_in_one_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_reports=BASIC)
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_pytest(
        pytester,
        "--hermit-env=qemu",
        "--hermit-boots=2",
        "--hermit-reps=2",
        "--hermit-report-md=out/report.md",
        "--hermit-json=out/results.json",
        "--hermit-benchmark-json=out/bench.json",
        "--hermit-action-benchmark=out/action",
        "--junitxml=out/junit.xml",
        "--hermit-plot=out/plots",
    )
    result.assert_outcomes(passed=1)
    out = pytester.path / "out"
    markdown = (out / "report.md").read_text()
    assert "| metric | unit | qemu |" in markdown and "| getpid | cycles |" in markdown
    assert summary.read_text().strip() == markdown.strip()

    properties = {p.get("name"): p.get("value") for p in ET.parse(out / "junit.xml").iter("property")}
    assert properties["hermit.qemu.basic.getpid.median"].endswith(" cycles")

    results = json.loads((out / "results.json").read_text())
    assert (results["schema"], results["version"]) == ("pytest-hermit/results", 1)
    (run,) = results["runs"]
    assert run["env"] == "qemu" and run["boots"] == 2
    assert len(run["metrics"]["getpid"]["per_boot"]) == 2
    assert results["context"]["guest"]["sha256"]

    action = read_custom_tool((out / "action" / "smaller-is-better.json").read_text())
    assert {e["name"] for e in action} == {
        f"test_basic[qemu]:{m}" for m in ("getpid", "sched_yield", "malloc", "first_page_access")
    }
    assert not (out / "action" / "bigger-is-better.json").exists()  # basic has no rates

    bench = json.loads((out / "bench.json").read_text())
    names = {b["name"] for b in bench["benchmarks"]}
    assert "test_basic[qemu]:getpid" in names
    compare = subprocess.run(
        [str(Path(sys.executable).parent / "pytest-benchmark"), "compare", str(out / "bench.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert compare.returncode == 0, compare.stderr
    assert "test_basic[qemu]:getpid" in compare.stdout

    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "test_basic-basic-bars.png" in pngs and "test_basic-basic-getpid-qemu.png" in pngs
    assert all((out / "plots" / n).read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for n in pngs)


def test_ab_same_image_passes_and_slowed_b_fails(pytester: pytest.Pytester, reference_guest: Path) -> None:
    pytester.makepyfile(test_ab=BASIC)
    # A busy host spread boots by ±47-74% and left +30% inconclusive at 10 pairs (CI, measured):
    # +100% here (sensitivity is benchmarks/detection.py's job), and pairs added while undecided.
    common = ("--hermit-env=qemu", "--hermit-boots=10", "--hermit-reps=5", "--hermit-max-boots=20")
    # A tenth of the default loops: the same per-call costs, a quarter of the boot's time.
    common = (*common, f"--hermit-ab={reference_guest}", f"--hermit-cmdline={SMALL_LOOPS}")
    same = run_pytest(pytester, *common, "--hermit-ab-seed=1")
    same.assert_outcomes(passed=1)
    same.stdout.fnmatch_lines(["*A/B run*seed 1*", "*change against baseline 'A (refguest.elf, interleaved)'*"])

    slow = run_pytest(pytester, *common, "--hermit-ab-cmdline=inject=getpid:100")
    assert_getpid_regressed(slow)


def test_ab_options_need_ab(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ab=BASIC)
    result = run_pytest(pytester, "--hermit-ab-cmdline=inject=getpid:30")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*need --hermit-ab=KERNEL_B*"])
