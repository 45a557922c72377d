"""The checkout under test: commit, branch and uncommitted changes, recorded with baselines and reports.

The session reads it once (``HermitSession.git``); baselines, the JSON
report and the pytest-benchmark report all take that one answer.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    """The checkout under test: commit, branch, and whether tracked files differ from the commit."""

    commit: str | None = None
    branch: str | None = None
    #: True when tracked files have uncommitted changes: the numbers are not the commit's.
    #: None when unknown (not a git checkout, git missing).
    dirty: bool | None = None


def git_info(rootdir: Path) -> GitState:
    """Commit, branch and dirty state of the checkout under test, when it is one.

    Untracked files do not count as dirty: build outputs and ``.hermit/``
    itself are usually untracked, and would mark every run dirty.
    """

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", "-C", str(rootdir), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None

    def out(*args: str) -> str | None:
        proc = git(*args)
        return proc.stdout.strip() or None if proc is not None and proc.returncode == 0 else None

    commit = out("rev-parse", "HEAD")
    if commit is None:
        return GitState()
    status = git("status", "--porcelain", "--untracked-files=no")
    dirty = bool(status.stdout.strip()) if status is not None and status.returncode == 0 else None
    return GitState(commit, out("rev-parse", "--abbrev-ref", "HEAD"), dirty)
