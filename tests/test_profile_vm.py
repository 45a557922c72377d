"""--hermit-profile end to end: a guest port's code change named by function (real VMs, icount).

The issue's check, as a guest port repository of two commits: a copy of the
reference guest's sources, the second commit adding work to getpid().
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_hermit.vm.profiler import unavailable
from tests.conftest import REPO, SMALL_LOOPS, hermit_cli, run_pytest
from tests.gitrepo import Repo

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]

BASIC = f"""
def test_basic(hermit_run):
    hermit_run("basic", cmdline="{SMALL_LOOPS}")
"""
#: One boot of two repetitions per side: icount is exact, and two equal values show it (one cannot).
ICOUNT = ("--hermit-env=icount", "--hermit-boots=1", "--hermit-reps=2")
#: The second commit: one line more in getpid().
SLOWER_GETPID = (
    "    inject_point(M_GETPID);\n",
    "    inject_point(M_GETPID);\n    for (volatile int i = 0; i < 3; i++) {}\n",
)


@pytest.fixture
def guest_port(tmp_path: Path) -> Repo:
    """A git repository holding a copy of the reference guest's sources (no build output), one commit."""
    if (reason := unavailable()) is not None:
        pytest.skip(reason)
    repo = Repo(tmp_path / "port")
    shutil.copytree(REPO / "guest", repo.path / "guest", ignore=shutil.ignore_patterns("build"))
    repo.commit("the port as it is")
    return repo


def _build(repo: Repo) -> Path:
    subprocess.run(["make", "-s", "-C", str(repo.path / "guest"), "build/refguest.elf"], check=True)
    return repo.path / "guest" / "build" / "refguest.elf"


def _per_boot(baseline: Path) -> dict[str, list[list[float]]]:
    return {e["metric"]: e["per_boot"] for e in json.loads(baseline.read_text())["entries"]}


def test_a_slower_getpid_is_named_by_the_compare_and_by_explain(
    pytester: pytest.Pytester, guest_port: Repo, tmp_path: Path
) -> None:
    pytester.makepyfile(test_port=BASIC)
    baselines = tmp_path / "baselines"
    common = (*ICOUNT, f"--hermit-baseline-dir={baselines}")

    kernel = f"--hermit-kernel={_build(guest_port)}"
    profiled = run_pytest(pytester, *common, kernel, "--hermit-profile", "--hermit-save=base")
    profiled.assert_outcomes(passed=1)
    plain = run_pytest(pytester, *common, kernel, "--hermit-save=plain")
    plain.assert_outcomes(passed=1)
    # The plugin changes nothing the guest measures.
    assert _per_boot(baselines / "base.json") == _per_boot(baselines / "plain.json")
    assert "profiles" in json.loads((baselines / "base.json").read_text())

    guest_port.commit("getpid does more work", edit={"guest/common/sched.c": SLOWER_GETPID})
    kernel = f"--hermit-kernel={_build(guest_port)}"
    saved = run_pytest(pytester, *common, kernel, "--hermit-profile", "--hermit-save=new")
    saved.assert_outcomes(passed=1)
    compared = run_pytest(pytester, *common, kernel, "--hermit-profile", "--hermit-compare=base")
    compared.assert_outcomes(failed=1)
    assert compared.ret == 1
    compared.stdout.fnmatch_lines(
        [
            "*getpid regressed on icount*",
            "*guest instructions per function and boot, changed (exact under icount)*",
            "*getpid*instructions*->*+*common/sched.c:*",
        ]
    )

    explained = hermit_cli(tmp_path, "explain", "--dir", str(baselines), "base", "new")
    assert explained.returncode == 0, explained.stdout + explained.stderr
    lines = explained.stdout.splitlines()
    heading = next(i for i, line in enumerate(lines) if "guest instructions per function" in line)
    first = lines[heading + 1].split()
    assert first[0] == "getpid" and first[1] == "instructions", explained.stdout


def test_an_ab_run_names_the_function_image_b_made_slower(
    pytester: pytest.Pytester, guest_port: Repo, tmp_path: Path
) -> None:
    image_a = tmp_path / "a.elf"
    shutil.copy(_build(guest_port), image_a)
    guest_port.commit("getpid does more work", edit={"guest/common/sched.c": SLOWER_GETPID})
    image_b = _build(guest_port)
    pytester.makepyfile(test_port=BASIC)
    result = run_pytest(pytester, *ICOUNT, f"--hermit-kernel={image_a}", f"--hermit-ab={image_b}", "--hermit-profile")
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*getpid regressed on icount*", "*guest instructions per function*", "*getpid*instructions*->*+*"]
    )
