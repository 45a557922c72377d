"""``pytest-hermit init``: set up a project to measure its guest with pytest-hermit.

Writes, in the project folder (default: the current one):

* ``tests/perf/test_hermit_perf.py``: a starter test (the reference guest's
  basic workload), which passes at once: ``pytest tests/perf --hermit-env=icount``;
* ``[tool.hermit]`` in ``pyproject.toml``: tolerances and a commented
  environment, appended to an existing file (whose text stays byte for byte
  as it was) or in a new one;
* ``.github/workflows/hermit.yml``: the documented workflow
  (``docs/github-actions.yml``, shipped with the plugin) with this project's
  suite and a ``pip install`` in place of this repository's ``make``.

Never overwrites: an existing file, or a ``pyproject.toml`` that already has
``[tool.hermit]``, is left alone and named; a second ``init`` changes nothing.
Everything is checked before the first write, so a refusal writes nothing.
Exit status 0 (written or left alone), 7 (refused: ``pyproject.toml`` is not
TOML or cannot take the table; nothing written), 8 (a write failed).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hermit._shipped import shipped
from pytest_hermit.cli.common import Out
from pytest_hermit.exitcodes import EXIT_OK, EXIT_OUTPUT, EXIT_REFUSED

HELP = (
    "write a starter perf test, [tool.hermit] in pyproject.toml and a GitHub Actions workflow, never overwriting; "
    "exit status 0 (written or left alone), 7 (refused: nothing written), 8 (a write failed)"
)

SUITE = "tests/perf"
TEST_FILE = f"{SUITE}/test_hermit_perf.py"
WORKFLOW_FILE = ".github/workflows/hermit.yml"

STARTER_TEST = '''"""Performance tests of the guest, measured by pytest-hermit in real VMs.

Each test runs once per environment: test_basic[icount], test_basic[kvm], ...

    pytest tests/perf --hermit-env=icount                       # instructions counted: exact, any host
    pytest tests/perf --hermit-env=icount --hermit-save=main     # record the baseline "main"
    pytest tests/perf --hermit-env=icount --hermit-compare=main  # fail on a regression
    pytest-hermit doctor                                         # what this host can run

Without --hermit-kernel the plugin boots its own reference guest; boot yours
with hermit_kernel (and hermit_initrd) in [tool.pytest.ini_options].
"""


def test_basic(hermit_run):
    m = hermit_run("basic")  # getpid, sched_yield, malloc, first_page_access, in cycles
    assert m["getpid"].median > 0
'''

TOOL_HERMIT = """
[tool.hermit]
# pytest-hermit, written by `pytest-hermit init`. Options such as hermit_env or
# hermit_kernel go in [tool.pytest.ini_options]; see `pytest --help`, section "hermit".

[tool.hermit.tolerance]
default = 5  # percent a metric may get slower before the comparison fails (timed environments)

[tool.hermit.tolerance.icount]
default = 0.5  # icount counts instructions exactly: half a percent is a change of code path

# An environment of your own, e.g. a quiet KVM host reached over ssh:
# [tool.hermit.environments.bench]
# base = "kvm"
# uri = "qemu+ssh://bench-host/system"
"""


class Refused(Exception):
    """init cannot do its job here without touching what it must not; nothing has been written."""


@dataclass(frozen=True)
class Plan:
    """What init will do with one file: write it (new text), or leave it alone (and why)."""

    path: Path
    text: str | None
    #: "create", "append" or why it is left alone.
    action: str


def merge_tool_hermit(existing: str | None, where: str) -> str:
    """``existing`` pyproject text with ``[tool.hermit]`` appended (or a new file's text).

    The old text is kept as it is, byte for byte: a new table at the end is
    the one change TOML allows without rewriting the rest. The result is
    parsed to prove that it is still the same document plus the new table.
    """
    if existing is None:
        return TOOL_HERMIT.lstrip("\n")
    try:
        before = tomllib.loads(existing)
    except tomllib.TOMLDecodeError as exc:
        raise Refused(f"{where} is not valid TOML ({exc}): fix it first, then run init again") from None
    tool = before.get("tool", {})
    if isinstance(tool, dict) and "hermit" in tool:
        raise Refused(f"{where} has [tool.hermit] already: init does not merge into it")
    text = existing if existing.endswith("\n") or not existing else existing + "\n"
    text += TOOL_HERMIT
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Refused(
            f"{where}: [tool.hermit] cannot be added at its end ({exc}; e.g. 'tool' is an inline table): "
            f"add this by hand:\n{TOOL_HERMIT}"
        ) from None
    added: dict[str, Any] = after["tool"].pop("hermit")
    if not after["tool"]:
        after.pop("tool")
    if after != before or "tolerance" not in added:
        raise Refused(f"{where}: appending [tool.hermit] would change the rest of the file; add it by hand")
    return text


def has_tool_hermit(text: str) -> bool:
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        return False
    return isinstance(tool, dict) and "hermit" in tool


#: Lines of docs/github-actions.yml that name this repository, and what a user's project has instead.
_HEADER_END = "\nname: performance\n"
_THIS_REPO_SUITE = "  SUITE: examples\n"
_THIS_REPO_SETUP = "      - name: Build the plugin's environment and the guest\n        run: make venv guest\n"
_PROJECT_SETUP = """\
      - name: Install pytest-hermit into .venv (build your guest here too)
        run: |
          python3 -m venv .venv
          # from the package index; a wheel of your own instead: .venv/bin/pip install -q path/to/pytest_hermit-*.whl
          .venv/bin/pip install -q pytest-hermit
"""
_PROJECT_HEADER = f"""\
# pytest-hermit in GitHub Actions on a self-hosted KVM runner, written by `pytest-hermit init`
# from the plugin's documented workflow (its docs/ci.md explains every choice).
#
# The runner needs QEMU, libvirt's QEMU driver and what builds libvirt-python, once
# (Debian/Ubuntu: apt-get install qemu-system-x86 libvirt-daemon-system libvirt-dev
# pkg-config python3-venv python3-dev gcc); `pytest-hermit doctor` on it says what is missing.
# SUITE is this project's perf tests ({SUITE}); to measure your own kernel, build it in the
# install step and add --hermit-kernel=PATH (and --hermit-initrd) to EXTRA_ARGS.
#
#   push to main (and the weekly schedule, and a manual run): measure, save the
#     baseline "main", upload .hermit/baselines as the artifact hermit-baseline-main
#   pull request: download the newest hermit-baseline-main, compare with it, fail on
#     a regression (exit 1), post the Markdown summary (step summary + PR comment)
#   exit status 6 (broken runs only: VM, libvirt, guest crash, timeout) is retried once
"""


def workflow_for_project(documented: str, source: str) -> str:
    """The documented workflow with this project's suite and setup instead of this repository's."""
    for anchor, name in (
        (_HEADER_END, "the 'name: performance' line"),
        (_THIS_REPO_SUITE, "SUITE: examples"),
        (_THIS_REPO_SETUP, "the 'make venv guest' step"),
    ):
        if anchor not in documented:
            raise Refused(f"{source} has no {name} to adapt: this pytest-hermit's shipped workflow is broken")
    body = documented[documented.index(_HEADER_END) :]
    body = body.replace(_THIS_REPO_SUITE, f"  SUITE: {SUITE}\n").replace(_THIS_REPO_SETUP, _PROJECT_SETUP)
    return _PROJECT_HEADER + body


def plan(project: Path) -> list[Plan]:
    """What init would do in ``project``: reads only (raises :class:`Refused` before anything is written)."""
    plans = []
    test = project / TEST_FILE
    plans.append(Plan(test, None, "exists") if test.exists() else Plan(test, STARTER_TEST, "create"))
    pyproject = project / "pyproject.toml"
    if not pyproject.exists():
        plans.append(Plan(pyproject, merge_tool_hermit(None, str(pyproject)), "create"))
    else:
        existing = pyproject.read_text(encoding="utf-8")
        if has_tool_hermit(existing):
            plans.append(Plan(pyproject, None, "it has [tool.hermit] already: init does not merge into it"))
        else:
            plans.append(Plan(pyproject, merge_tool_hermit(existing, str(pyproject)), "append"))
    workflow = project / WORKFLOW_FILE
    if workflow.exists():
        plans.append(Plan(workflow, None, "exists"))
    else:
        documented = shipped("github-actions.yml")
        if not documented.present:
            raise Refused(f"the documented workflow is missing ({documented.path}): {documented.remedy}")
        text = workflow_for_project(documented.path.read_text(encoding="utf-8"), str(documented.path))
        plans.append(Plan(workflow, text, "create"))
    return plans


def carry_out(p: Plan) -> None:
    assert p.text is not None
    p.path.parent.mkdir(parents=True, exist_ok=True)
    if p.action == "append":
        with p.path.open("r+", encoding="utf-8", newline="") as handle:
            old = handle.read()
            if not p.text.startswith(old):
                raise Refused(f"{p.path} changed while init ran; nothing appended")
            handle.write(p.text[len(old) :])
        return
    with p.path.open("x", encoding="utf-8", newline="") as handle:  # "x": never overwrite, even a file made just now
        handle.write(p.text)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir", type=Path, default=Path("."), metavar="DIR", help="the project's folder (default: the current one)"
    )


def command(args: argparse.Namespace, out: Out) -> int:
    project: Path = args.dir
    if not project.is_dir():
        sys.stderr.write(f"pytest-hermit init: {project} is not a folder\n")
        return EXIT_REFUSED
    try:
        plans = plan(project)
    except (Refused, OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"pytest-hermit init: refused, nothing written: {exc}\n")
        return EXIT_REFUSED
    for p in plans:
        shown = p.path.relative_to(project) if p.path.is_relative_to(project) else p.path
        if p.text is None:
            out.line(f"left alone: {shown} ({p.action})")
            continue
        try:
            carry_out(p)
        except (Refused, OSError) as exc:
            sys.stderr.write(f"pytest-hermit init: could not write {shown}: {exc}\n")
            return EXIT_OUTPUT
        out.line(f"added [tool.hermit] to {shown} (the rest unchanged)" if p.action == "append" else f"created {shown}")
    out.line("")
    out.line(f"next: pytest {SUITE} --hermit-env=icount    (pytest-hermit doctor: what else this host can run)")
    return EXIT_OK
