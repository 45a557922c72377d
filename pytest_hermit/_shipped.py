"""Files the plugin ships beside its code: the reference guest and the documented CI workflow.

Lookup order, the same for every file:

1. a source checkout (this package sits beside ``guest/Makefile``): the tree's
   own file (``guest/build/refguest.elf``, ``docs/github-actions.yml``), so
   that ``make -C guest`` and edits to the docs show up at once;
2. an installed wheel: package data under ``pytest_hermit/shipped/``, put there
   by the build step in ``setup.py`` (which builds the guest with the system gcc).

A leaf module: the VM layer (the guest) and the command line (init) both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

#: The folder of package data inside an installed wheel.
SHIPPED_DIR = "shipped"
#: Shipped name -> where the file is in a source checkout (relative to its root).
IN_CHECKOUT = {
    "refguest.elf": "guest/build/refguest.elf",
    "refguest-pvh.elf": "guest/build/refguest-pvh.elf",
    "github-actions.yml": "docs/github-actions.yml",
}


def package_dir() -> Path:
    """The package's folder on disk (a wheel is installed unpacked; a zip import has no files to boot)."""
    root = files("pytest_hermit")
    if not isinstance(root, Path):
        raise RuntimeError(f"pytest_hermit is imported from {root}, not from a folder: install it with pip")
    return root


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or None when it is installed."""
    root = package_dir().parent
    return root if (root / "guest" / "Makefile").is_file() else None


@dataclass(frozen=True)
class Shipped:
    """Where a shipped file is (or would be) and where it comes from."""

    path: Path
    #: "source checkout" or "installed package"
    origin: str
    #: How to make it when it is missing.
    remedy: str

    @property
    def present(self) -> bool:
        return self.path.is_file()


def shipped(name: str) -> Shipped:
    """The file ``name`` (a key of :data:`IN_CHECKOUT`), by the lookup order above."""
    checkout = checkout_root()
    if checkout is not None:
        path = checkout / IN_CHECKOUT[name]
        remedy = f"run 'make -C {checkout / 'guest'}'" if name.startswith("refguest") else f"restore {path}"
        return Shipped(path, "source checkout", remedy)
    path = package_dir() / SHIPPED_DIR / name
    return Shipped(path, "installed package", "reinstall pytest-hermit from a wheel built with 'pip wheel'")
