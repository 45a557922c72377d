"""The history workflow example (docs/github-actions-history.yml): valid, and its shell steps work on real git."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_ci_workflow import OPTION, assert_shell_steps_parse, script_of, steps, triggers
from tests.test_ci_workflow import run_step as run_github_step

yaml = pytest.importorskip("yaml", reason="checking the workflow needs PyYAML (the dev extras)")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "docs" / "github-actions-history.yml"
BASH = shutil.which("bash")


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict), "the workflow is not a YAML mapping"
    return document


def step_named(workflow: dict[Any, Any], start: str) -> dict[str, Any]:
    return next(s for _, s in steps(workflow) if s.get("name", "").startswith(start))


def run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_github_step(step, cwd, {"PATH": os.environ["PATH"], "HOME": str(cwd), **env}, timeout=60)


def test_it_runs_on_pushes_to_main_one_at_a_time_on_any_runner(workflow: dict[Any, Any]) -> None:
    assert triggers(workflow)["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False  # a cancelled run would lose its record
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"  # icount is TCG: no KVM runner needed
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["fetch-depth"] == 0
    assert "--hermit-env=icount" in script_of(job)


def test_every_option_and_command_it_uses_exists(workflow: dict[Any, Any], help_text: str) -> None:
    text = WORKFLOW.read_text()
    unknown = sorted(set(OPTION.findall(text)) - set(OPTION.findall(help_text)))
    assert not unknown, f"pytest --help does not list {unknown}"
    for command in ("history", "bisect"):
        used = re.findall(rf"pytest-hermit {command} [^\n]*(?:\\\n[^\n]*)*", text)
        assert used, f"the workflow does not run pytest-hermit {command}"
        usage = subprocess.run(
            [sys.executable, "-m", "pytest_hermit.cli", command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for flag in set(re.findall(r"(?<!\S)(--[a-z][a-z-]+)", " ".join(used))):
            assert flag in usage, f"pytest-hermit {command} has no {flag}"


def test_the_shell_steps_parse(workflow: dict[Any, Any], tmp_path: Path) -> None:
    assert_shell_steps_parse(workflow, tmp_path)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(BASH is None or shutil.which("git") is None, reason="needs bash and git")
def test_the_history_branch_is_made_on_the_first_run_and_kept_after(workflow: dict[Any, Any], tmp_path: Path) -> None:
    """Check out, add a record, push: twice, against a real bare origin."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(origin), str(seed))
    (seed / "README").write_text("port\n")
    git(seed, "add", "README")
    git(seed, "commit", "-q", "-m", "first")
    git(seed, "push", "-q", "origin", "HEAD:main")

    env = {k: str(v) for k, v in workflow["env"].items()}
    checkout = step_named(workflow, "Check out the history branch")
    push = step_named(workflow, "Push the new record")
    for run_no in (1, 2):
        work = tmp_path / f"run{run_no}"
        git(tmp_path, "clone", "-q", str(origin), str(work))
        done = run_step(checkout, work, env)
        assert done.returncode == 0, done.stdout + done.stderr
        store = work / env["STORE"]
        assert not (store / "README").exists(), "the history branch must not carry the project's files"
        (store / "history" / f"record-{run_no}.json").write_text("{}\n")
        done = run_step(push, work, {**env, "GITHUB_SHA": f"sha{run_no}"})
        assert done.returncode == 0, done.stdout + done.stderr
    files = git(origin, "ls-tree", "-r", "--name-only", env["HISTORY_BRANCH"]).split()
    assert files == ["history/record-1.json", "history/record-2.json"]
    assert git(origin, "log", "--format=%s", env["HISTORY_BRANCH"]).split("\n")[:2] == [
        "pytest-hermit history: sha2",
        "pytest-hermit history: sha1",
    ]


@pytest.mark.skipif(BASH is None, reason="bash not found")
@pytest.mark.parametrize(("status", "baseline"), [(0, True), (1, True), (1, False), (6, True)])
def test_the_measure_step_keeps_the_status_and_the_baselines_commit(
    workflow: dict[Any, Any], tmp_path: Path, status: int, baseline: bool
) -> None:
    step = step_named(workflow, "Measure")
    env = {k: str(v) for k, v in workflow["env"].items()}
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    stub = tmp_path / ".venv" / "bin" / "pytest"
    stub.write_text(f'#!/bin/sh\necho "$*" > args.log\nexit {status}\n')
    stub.chmod(0o755)
    store = tmp_path / env["STORE"] / "baselines"
    store.mkdir(parents=True)
    if baseline:
        (store / "main.json").write_text('{"contexts": {"c1": {"git_commit": "abc123"}}}')
    output = tmp_path / "output"
    done = run_step(step, tmp_path, {**env, "GITHUB_OUTPUT": str(output)})
    assert done.returncode == 0, done.stdout + done.stderr  # the status is kept for later steps, not raised here
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["status"] == str(status)
    assert outputs.get("good") == ("abc123" if baseline else None)
    args = (tmp_path / "args.log").read_text()
    assert ("--hermit-compare=main" in args) == baseline and "--hermit-save=main" in args
