"""Which order commits come in, and their subjects, as a git repository knows them.

The history orders points by the repository's topology (``git log --all
--topo-order --reverse``): a parent always before its children, whatever the
commit dates say (a rebase keeps author dates, CI clocks differ).
:func:`read_log` is the one call to git; the rest is plain data.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CommitLog", "read_log"]


@dataclass(frozen=True)
class CommitLog:
    """Positions (0 = oldest) and subjects of every commit a repository holds, by full sha."""

    positions: Mapping[str, int] = field(default_factory=dict)
    subjects: Mapping[str, str] = field(default_factory=dict)
    #: Where the log came from, for messages.
    source: str = ""

    @classmethod
    def of(cls, shas_and_subjects: list[tuple[str, str]], source: str = "") -> CommitLog:
        """From (sha, subject) pairs, oldest first (the order of ``git log --topo-order --reverse``)."""
        return cls(
            {sha: i for i, (sha, _) in enumerate(shas_and_subjects)},
            dict(shas_and_subjects),
            source,
        )

    def knows(self, commit: str) -> bool:
        return commit in self.positions


def read_log(repo: Path) -> CommitLog | None:
    """The commits of the repository at ``repo``; None when it is not one (or git is missing or fails).

    Every ref counts (``--all``), so records of a branch that is not checked
    out are placed too.
    """
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), "log", "--all", "--topo-order", "--reverse", "--format=%H%x00%s"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    pairs = []
    for line in proc.stdout.splitlines():
        sha, _, subject = line.partition("\0")
        if sha:
            pairs.append((sha, subject))
    return CommitLog.of(pairs, str(repo))
