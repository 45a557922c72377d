"""``pytest-hermit init``: what it writes, what it leaves alone, and that it never overwrites.

That the project it makes passes ``pytest`` under icount is tests/test_wheel.py's
job (from the installed wheel, as a user runs it).
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from pytest_hermit.cli.init import (
    SUITE,
    TEST_FILE,
    WORKFLOW_FILE,
    Refused,
    merge_tool_hermit,
    workflow_for_project,
)
from pytest_hermit.exitcodes import EXIT_OK, EXIT_REFUSED
from tests.conftest import REPO, hermit_cli

yaml = pytest.importorskip("yaml", reason="reading the workflow needs PyYAML (the dev extras)")

DOCUMENTED = REPO / "docs" / "github-actions.yml"
EXISTING = '[project]\nname = "port"  # keep this comment\nversion = "1"\n\n[tool.black]\nline-length = 100'


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def test_the_table_is_appended_to_an_existing_pyproject_whose_text_stays_as_it_was() -> None:
    merged = merge_tool_hermit(EXISTING, "pyproject.toml")
    assert merged.startswith(EXISTING + "\n")
    data = tomllib.loads(merged)
    hermit = data["tool"].pop("hermit")
    assert data == tomllib.loads(EXISTING)
    assert hermit["tolerance"] == {"default": 5, "icount": {"default": 0.5}}


def test_a_pyproject_whose_tool_table_is_inline_is_refused() -> None:
    with pytest.raises(Refused, match="cannot be added at its end"):
        merge_tool_hermit("tool = { black = { line-length = 100 } }\n", "pyproject.toml")


def test_init_writes_the_three_files_and_a_second_init_changes_none(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(EXISTING)
    first = hermit_cli(tmp_path, "init")
    assert first.returncode == EXIT_OK, first.stderr
    assert first.stdout.splitlines()[:3] == [
        f"created {TEST_FILE}",
        "added [tool.hermit] to pyproject.toml (the rest unchanged)",
        f"created {WORKFLOW_FILE}",
    ]
    assert (tmp_path / "pyproject.toml").read_text().startswith(EXISTING)
    assert "def test_basic(hermit_run):" in (tmp_path / TEST_FILE).read_text()
    written = snapshot(tmp_path)
    second = hermit_cli(tmp_path, "init")
    assert second.returncode == EXIT_OK
    assert snapshot(tmp_path) == written
    assert second.stdout.splitlines()[:3] == [
        f"left alone: {TEST_FILE} (exists)",
        "left alone: pyproject.toml (it has [tool.hermit] already: init does not merge into it)",
        f"left alone: {WORKFLOW_FILE} (exists)",
    ]


def test_init_in_an_empty_folder_makes_a_pyproject_with_only_the_hermit_table(tmp_path: Path) -> None:
    assert hermit_cli(tmp_path, "init").returncode == EXIT_OK
    assert list(tomllib.loads((tmp_path / "pyproject.toml").read_text())) == ["tool"]


def test_an_existing_test_file_is_left_alone_and_the_rest_written(tmp_path: Path) -> None:
    mine = tmp_path / TEST_FILE
    mine.parent.mkdir(parents=True)
    mine.write_text("def test_mine(): pass\n")
    done = hermit_cli(tmp_path, "init")
    assert done.returncode == EXIT_OK
    assert f"left alone: {TEST_FILE} (exists)" in done.stdout and mine.read_text() == "def test_mine(): pass\n"
    assert (tmp_path / WORKFLOW_FILE).is_file()


def test_a_refusal_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'broken'\n")
    before = snapshot(tmp_path)
    done = hermit_cli(tmp_path, "init")
    assert done.returncode == EXIT_REFUSED
    assert "refused, nothing written" in done.stderr and "not valid TOML" in done.stderr
    assert snapshot(tmp_path) == before


def test_the_workflow_is_the_documented_one_with_the_projects_suite_and_a_pip_install() -> None:
    documented = yaml.safe_load(DOCUMENTED.read_text())
    text = workflow_for_project(DOCUMENTED.read_text(), str(DOCUMENTED))
    written = yaml.safe_load(text)
    assert written["env"] == {**documented["env"], "SUITE": SUITE}
    assert list(written["jobs"]) == list(documented["jobs"])
    for name, job in written["jobs"].items():
        ours, theirs = job["steps"], documented["jobs"][name]["steps"]
        assert len(ours) == len(theirs)
        changed = [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b]
        assert len(changed) == 1 and changed[0][1]["run"] == "make venv guest", name
        assert "pip install -q pytest-hermit" in changed[0][0]["run"]
    assert "make " not in text


def test_a_documented_workflow_without_the_setup_step_is_not_adapted_silently() -> None:
    text = DOCUMENTED.read_text().replace("run: make venv guest", "run: make everything")
    with pytest.raises(Refused, match="'make venv guest' step"):
        workflow_for_project(text, "github-actions.yml")
