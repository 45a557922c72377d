"""One interleaved A/B pytest run of two built images (``branches``, ``bisect``).

pytest runs with this interpreter in the caller's current directory: the
tests are those of the checkout the command was started from, only the
images come from the refs being compared.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_hermit.bisect import verdicts
from pytest_hermit.cli import children
from pytest_hermit.cli.worktrees import Built
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, EXIT_REGRESSION

#: Options the A/B run sets itself; the same options among the user's pytest arguments would be ambiguous.
OWN_OPTIONS = ("--hermit-kernel", "--hermit-initrd", "--hermit-iso", "--hermit-ab", "--hermit-ab-initrd")
#: ... and the report each run is judged by.
REPORT_OPTION = "--hermit-json"

#: pytest's own exit statuses, for messages (ours are in exitcodes.py).
_PYTEST_STATUS = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


class RunFailed(Exception):
    """An A/B run that judged nothing usable; the message says why, ``output`` holds its last lines.

    ``broken``: pytest ended with :data:`EXIT_BROKEN` (a guest that did not
    boot, crashed or timed out, libvirt): the images, not the tests, failed.
    """

    def __init__(self, message: str, output: tuple[str, ...] = (), broken: bool = False) -> None:
        super().__init__(message)
        self.output = output
        self.broken = broken


def pytest_command(a: Built, b: Built, args: Sequence[str]) -> list[str]:
    """The A/B pytest run of two built images."""
    cmd = [sys.executable, "-m", "pytest", f"--hermit-kernel={a.image}", f"--hermit-ab={b.image}"]
    if a.initrd is not None:
        cmd.append(f"--hermit-initrd={a.initrd}")
    if b.initrd is not None:
        cmd.append(f"--hermit-ab-initrd={b.initrd}")
    return [*cmd, *args]


def clashes(args: Sequence[str]) -> list[str]:
    """The user's pytest arguments that set an option the A/B run sets itself."""
    own = (*OWN_OPTIONS, REPORT_OPTION)
    return [arg for arg in args if any(arg == opt or arg.startswith(f"{opt}=") for opt in own)]


def judged(a: Built, b: Built, args: Sequence[str], report: Path, log: Path | None) -> tuple[verdicts.Change, ...]:
    """Run pytest with B judged against A; every comparison its JSON report holds.

    Raises :class:`RunFailed` when the run broke (status 6), was refused (7),
    ended otherwise than passed (0) or failed on a verdict (1), or left no
    readable report. ``log`` takes pytest's output (else the terminal does).
    """
    report.unlink(missing_ok=True)  # a report of an earlier run must never stand in for this one
    status = children.run(pytest_command(a, b, [*args, f"{REPORT_OPTION}={report}"]), log=log)
    shown = tuple(children.tail(log, 15)) if log is not None else ()
    if status == EXIT_BROKEN:
        raise RunFailed(
            "a run broke (pytest exit status 6: libvirt, guest crash, timeout or unreadable output)", shown, broken=True
        )
    if status == EXIT_REFUSED:
        raise RunFailed("pytest refused to compare B with A (exit status 7; its summary says why)", shown)
    if status not in (EXIT_OK, EXIT_REGRESSION):
        meaning = _PYTEST_STATUS.get(status, "see its output")
        raise RunFailed(f"pytest ended with exit status {status} ({meaning})", shown)
    try:
        found = verdicts.changes(json.loads(report.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise RunFailed(f"pytest left no readable JSON report at {report}: {exc}", shown) from None
    except verdicts.ReportError as exc:
        raise RunFailed(str(exc), shown) from None
    if status == EXIT_REGRESSION and not any(c.verdict in ("regression", "inconclusive") for c in found):
        raise RunFailed("a test failed (exit status 1) although no comparison did: an assertion of the tests?", shown)
    return found
