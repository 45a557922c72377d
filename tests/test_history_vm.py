"""History end to end with real boots (icount, 2 boots x 1 rep): records of runs, and a slowdown found at its commit."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_hermit.cli import main
from tests.conftest import REPO, SMALL_LOOPS, run_pytest

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("reference_guest")]

BASIC = f"""
def test_basic(hermit_run):
    hermit_run("basic", cmdline="{SMALL_LOOPS}")
"""
METRICS = {"getpid", "sched_yield", "malloc", "first_page_access"}


def test_a_run_appends_one_record_and_a_plain_run_none(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exact=BASIC)
    plain = run_pytest(pytester, "--hermit-env=icount", "--hermit-save=main")
    plain.assert_outcomes(passed=1)
    assert not (pytester.path / "hist").exists() and not (pytester.path / ".hermit" / "history").exists()

    recorded = run_pytest(pytester, "--hermit-env=icount", "--hermit-compare=main", "--hermit-history=hist")
    recorded.assert_outcomes(passed=1)
    assert recorded.ret == 0
    (path,) = (pytester.path / "hist").iterdir()
    recorded.stdout.fnmatch_lines([f"hermit: history record {path} (1 measurement(s))*"])
    doc = json.loads(path.read_text())
    assert (doc["schema"], doc["version"], doc["baseline"]) == ("pytest-hermit/history", 1, "main")
    assert len(doc["run_id"]) == 32 and doc["date"].endswith("+00:00")
    assert {"git_commit", "git_branch", "git_dirty", "plugin_version"} <= doc.keys()
    (m,) = doc["measurements"]
    assert (m["test"], m["env"], m["run"]) == ("test_exact.py::test_basic[icount]", "icount", f"basic {SMALL_LOOPS}")
    assert m["counted"] is True
    assert m["environment"]["icount"] is True and m["host"]["qemu_version"]
    assert len(m["guest_sha256"]) == 64 and m["guest_cmdline"].endswith(f"workload=basic reps=1 {SMALL_LOOPS}")
    assert set(m["metrics"]) == METRICS
    getpid = m["metrics"]["getpid"]
    assert (getpid["unit"], getpid["direction"], getpid["per_boot"]) == ("cycles", "lower", [[15.0], [15.0]])
    assert getpid["verdict"]["verdict"] == "unchanged" and getpid["verdict"]["method"] == "exact"


def test_a_record_that_cannot_be_written_fails_the_run_with_8(pytester: pytest.Pytester) -> None:
    """A folder under a file cannot be made, even by root: the run passes its test but exits 8, and says why."""
    pytester.makepyfile(test_exact=BASIC)
    (pytester.path / "afile").write_text("in the way\n")
    result = run_pytest(pytester, "--hermit-env=icount", "--hermit-history=afile/hist")
    result.assert_outcomes(passed=1)
    assert result.ret == 8
    result.stdout.fnmatch_lines(["hermit: ERROR: could not write the history record to *afile/hist*"])


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=hermit", "-c", "user.email=hermit@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


def test_history_names_the_commit_that_slowed_getpid(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four commits of the reference guest, one adds an instruction to getpid: one change point, there."""
    repo = pytester.path
    shutil.copytree(REPO / "guest", repo / "guest", ignore=shutil.ignore_patterns("build"))
    pytester.makepyfile(test_exact=BASIC)
    (repo / ".gitignore").write_text("guest/build/\nhist/\n__pycache__/\n*.md\n")
    _git(repo, "init", "-q", "-b", "main")
    sched = repo / "guest" / "common" / "sched.c"
    slow = sched.read_text().replace(
        "    inject_point(M_GETPID);\n", '    inject_point(M_GETPID);\n    asm volatile("nop"); /* one more */\n'
    )
    assert slow != sched.read_text()
    changes = [
        ("the reference guest", lambda: None),
        ("a note", lambda: (repo / "NOTES").write_text("one\n")),
        ("getpid: one more instruction", lambda: sched.write_text(slow)),
        ("another note", lambda: (repo / "NOTES").write_text("two\n")),
    ]
    commits = []
    for subject, change in changes:
        change()
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", subject)
        commits.append(_git(repo, "rev-parse", "HEAD"))
        subprocess.run(["make", "-s", "-C", str(repo / "guest"), "build/refguest.elf"], check=True)
        kernel = repo / "guest" / "build" / "refguest.elf"
        result = run_pytest(pytester, "--hermit-env=icount", f"--hermit-kernel={kernel}", "--hermit-history=hist")
        result.assert_outcomes(passed=1)
    assert len(list((repo / "hist").iterdir())) == 4

    capsys.readouterr()
    md = repo / "history.md"
    assert main(["history", "--dir", str(repo / "hist"), "--repo", str(repo), "--md", str(md)]) == 0
    out = capsys.readouterr().out
    assert "4 record(s)" in out and "4 series" in out and "points in the repository's commit order" in out
    assert "1 change point(s)" in out, out
    before, after = commits[1][:10], commits[2][:10]
    assert (
        f'getpid: +6.7% regression, 15.000 -> 16.000 cycles between {before} "a note" and '
        f'{after} "getpid: one more instruction" ({before}..{after}); exact' in out
    ), out
    text = md.read_text()
    assert f"`{before}..{after}`" in text and '"getpid: one more instruction"' in text
