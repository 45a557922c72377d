"""A throwaway git repository for the tests of commands that check commits out (bisect)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class Repo:
    """A git repository under ``path``, one commit per :meth:`commit` call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "dev@example.invalid")
        self.git("config", "user.name", "dev")

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def commit(
        self, message: str, files: dict[str, str] | None = None, *, edit: dict[str, tuple[str, str]] | None = None
    ) -> str:
        """Write ``files`` (path -> text), replace text in ``edit`` (path -> (old, new)), commit; the new sha."""
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        for name, (old, new) in (edit or {}).items():
            target = self.path / name
            source = target.read_text()
            assert old in source, f"{old!r} is not in {name}"
            target.write_text(source.replace(old, new, 1))
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def worktrees(self) -> list[str]:
        """``git worktree list``, one line per worktree (the main one included)."""
        return self.git("worktree", "list").splitlines()


def assert_no_worktree_left(repo: Repo, tmp: Path) -> None:
    """Only the main worktree is registered, and no ``hermit-bisect-*`` folder is left in ``tmp`` (the TMPDIR)."""
    assert len(repo.worktrees()) == 1, repo.worktrees()
    assert not list(tmp.glob("hermit-bisect-*")), "the temporary directory is removed"
