"""One interleaved A/B pytest run of two built images (``branches``, ``bisect``).

pytest runs with this interpreter in the caller's current directory: the
tests are those of the checkout the command was started from, only the
images come from the refs being compared.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pytest_hermit.cli.worktrees import Built


def pytest_command(a: Built, b: Built, args: Sequence[str]) -> list[str]:
    """The A/B pytest run of two built images."""
    cmd = [sys.executable, "-m", "pytest", f"--hermit-kernel={a.image}", f"--hermit-ab={b.image}"]
    if a.initrd is not None:
        cmd.append(f"--hermit-initrd={a.initrd}")
    if b.initrd is not None:
        cmd.append(f"--hermit-ab-initrd={b.initrd}")
    return [*cmd, *args]
