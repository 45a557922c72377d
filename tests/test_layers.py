"""The package's layering, read from the imports themselves (``ast``), so a wrong arrow fails here.

Bottom to top (docs/design.md, "Layers"):

* leaf modules (``errors``, ``exitcodes``, ``_version``, ``_shipped``, ``durable``) import nothing of the package;
* ``profile`` (guest instruction profiles: counts, symbols, diffs, their file formats) imports only leaves;
* ``results`` (parsing, samples, measurements, number formatting) imports ``profile`` and leaves;
* ``gate`` (statistics, baselines, git state, the gate) imports ``results``, ``profile`` and leaves;
* ``report`` (tables, reports, plots) imports ``gate``, ``results``, ``profile`` and leaves;
* ``history`` (history records, series, change points) imports ``report``, ``gate``, ``results``, ``profile``
  and leaves;
* ``vm`` (libvirt, QEMU, one boot, B x R runs) imports ``results``, ``gate``, ``profile`` and leaves;
* ``bisect`` (the bisection's search, the verdicts of an A/B report) imports ``results`` and leaves;
* the pytest-facing layer (``plugin``: hooks, options, fixtures, session, ...) and ``cli`` sit on top.

The pure layers (``profile``, ``results``, ``gate``, ``report``, ``history``, ``bisect``) never import ``vm``,
libvirt, pexpect or pytest, so they run and are tested on plain data without a VM.
Imports inside functions and under ``TYPE_CHECKING`` count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_hermit"
LEAVES = {
    "pytest_hermit.errors",
    "pytest_hermit.exitcodes",
    "pytest_hermit._version",
    "pytest_hermit._shipped",
    "pytest_hermit.durable",
}
PURE = ("profile", "results", "gate", "report", "history", "bisect")
#: Layer -> the package's layers it may import (besides itself and the leaves).
ALLOWED = {
    "leaf": set(),
    "profile": set(),
    "results": {"profile"},
    "gate": {"results", "profile"},
    "report": {"gate", "results", "profile"},
    "history": {"report", "gate", "results", "profile"},
    "vm": {"gate", "results", "profile"},
    "bisect": {"results"},
}
#: Outside modules a pure layer must not import: the VM side's machinery and the test runner.
FORBIDDEN_OUTSIDE = {"libvirt", "pexpect", "pytest", "_pytest"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module in LEAVES:
        return "leaf"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ALLOWED:
        return parts[1]
    return "glue"


def imports_of(module: str, source: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports, made absolute, wherever the import statement sits."""
    found: set[str] = set()
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # "from pytest_hermit.gate import stats" imports the module pytest_hermit.gate.stats
            folder = PACKAGE.parent / base.replace(".", "/")
            found.update(f"{base}.{a.name}" for a in node.names if (folder / f"{a.name}.py").exists())
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """What ``module`` imports against the layering, as sentences."""
    layer = layer_of(module)
    if layer == "glue":
        return []
    bad = []
    for imported in sorted(imports_of(module, source, is_package)):
        top = imported.split(".")[0]
        if top == "pytest_hermit":
            if imported == "pytest_hermit":
                bad.append(f"{module} imports the package root (it pulls in every layer)")
                continue
            other = layer_of(imported)
            if other not in {layer, "leaf"} | ALLOWED[layer]:
                bad.append(f"{module} ({layer}) imports {imported} ({other})")
        elif layer in PURE and top in FORBIDDEN_OUTSIDE:
            bad.append(f"{module} ({layer}, pure) imports {imported}")
    return bad


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_every_module_imports_only_its_own_layer_and_those_below(path: Path) -> None:
    assert violations(module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py") == []


@pytest.mark.parametrize(
    "line",
    [
        "from pytest_hermit.vm.boot import boot",
        "from pytest_hermit.vm import connections",
        "from pytest_hermit import vm",
        "import libvirt",
        "from pytest_hermit.report.tables import Table",
        "from pytest_hermit.plugin.session import HermitSession",
    ],
)
def test_the_check_catches_gate_stats_reaching_up_or_for_the_vm(line: str) -> None:
    """The rule has teeth: gate/stats.py with one more import, even one inside a function, fails."""
    source = (PACKAGE / "gate" / "stats.py").read_text(encoding="utf-8")
    assert violations("pytest_hermit.gate.stats", source) == []
    assert violations("pytest_hermit.gate.stats", f"{source}\n\ndef _late() -> None:\n    {line}\n")


def test_every_subpackage_says_its_job_and_what_it_may_import() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "import" in doc.splitlines()[0], init


def test_the_package_root_holds_the_public_api_and_the_leaves_only() -> None:
    """The pytest-facing glue lives in ``plugin/``, the command in ``cli/``: nothing loose at the root."""
    loose = {f"pytest_hermit.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert loose == LEAVES, f"modules at the package root that are not leaves: {sorted(loose - LEAVES)}"
