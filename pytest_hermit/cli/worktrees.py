"""Commits of the user's repository: resolved, checked out into temporary worktrees, built (``branches``, ``bisect``).

A worktree is registered with git as soon as it exists and removed on every
path out of :func:`worktree` (a failed build, an exception, Ctrl-C), so no
command leaves one behind; ``git worktree prune`` forgets any whose folder
went missing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit.cli import children
from pytest_hermit.vm import signals


class GitError(Exception):
    """A ref that is not a commit, or a git command that failed; the message says which."""


class BuildError(Exception):
    """A build that failed or made no image; the message says which, ``output`` holds its last lines."""

    def __init__(self, message: str, output: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass(frozen=True)
class Built:
    """The image a build made (and its initrd, for HermitCore applications)."""

    image: Path
    initrd: Path | None = None


def git(repo: Path, *args: str) -> str:
    """``git -C repo ARGS``'s output; :class:`GitError` with git's own message when it fails."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def toplevel(path: Path) -> Path:
    """The root of the repository ``path`` is in."""
    return Path(git(path, "rev-parse", "--show-toplevel"))


def resolve(repo: Path, ref: str) -> str:
    """The full sha of the commit ``ref`` names; :class:`GitError` when it names none."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(f"{ref!r} is not a commit, branch or tag of {repo}")
    return proc.stdout.strip()


def commit(repo: Path, sha: str) -> Commit:
    return Commit(sha, git(repo, "log", "-1", "--format=%s", sha))


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    proc = subprocess.run(
        ["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise GitError(f"git merge-base --is-ancestor {older} {newer} failed: {proc.stderr.strip()}")
    return proc.returncode == 0


def first_parent_line(repo: Path, good: str, bad: str) -> tuple[Commit, ...]:
    """The commits after ``good`` up to ``bad`` on ``bad``'s first-parent line, oldest first.

    Raises :class:`GitError` when ``good`` is not on that line (it came in
    through a merge): the commits listed would then not descend from it.
    """
    out = git(repo, "log", "--first-parent", "--reverse", "--format=%H%x00%P%x00%s", f"{good}..{bad}")
    line = []
    expected_parent = good
    for row in out.splitlines():
        sha, parents, subject = row.split("\x00", 2)
        if (parents.split() or [""])[0] != expected_parent:
            raise GitError(
                f"{good[:12]} is an ancestor of {bad[:12]} but not on its first-parent line (it came in through "
                f"a merge): pick GOOD from `git log --first-parent {bad[:12]}`"
            )
        line.append(Commit(sha, subject))
        expected_parent = sha
    return tuple(line)


def prune(repo: Path) -> None:
    """Forget worktrees whose folder is gone (a run killed before it could remove its own)."""
    subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True, check=False)


@contextlib.contextmanager
def worktree(repo: Path, sha: str, folder: Path) -> Iterator[Path]:
    """``sha`` checked out (detached) into ``folder`` for the duration of the block, removed afterwards."""
    git(repo, "worktree", "add", "--detach", str(folder), sha)
    try:
        yield folder
    finally:
        # A second Ctrl-C must not leave a half-removed worktree behind.
        with signals.uninterrupted():
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(folder)],
                capture_output=True,
                check=False,
            )
            shutil.rmtree(folder, ignore_errors=True)


def build(folder: Path, command: str, image: str, initrd: str | None, log: Path | None = None) -> Built:
    """Run the user's build ``command`` in ``folder``; the image (and initrd) it made, relative to the folder.

    Its output goes to ``log`` when given (the last lines come with a
    :class:`BuildError`), else to the terminal.
    """
    status = children.run(command, cwd=folder, log=log, grace=10)
    # Ten lines: enough for a compiler's error with its caret and make's own two lines after it.
    shown = tuple(children.tail(log, 10)) if log is not None else ()
    if status != 0:
        raise BuildError(f"failed with status {status}: {command}", shown)
    made = folder / image
    if not made.is_file():
        raise BuildError(f"made no image at {image} (looked for {made})", shown)
    made_initrd = folder / initrd if initrd else None
    if made_initrd is not None and not made_initrd.is_file():
        raise BuildError(f"made no initrd at {initrd} (looked for {made_initrd})", shown)
    return Built(made, made_initrd)


def keep(built: Built, folder: Path) -> Built:
    """Copies of a build's files in ``folder``, so its worktree can go while the image is still needed."""
    folder.mkdir(parents=True, exist_ok=True)
    image = Path(shutil.copy2(built.image, folder / built.image.name))
    initrd = Path(shutil.copy2(built.initrd, folder / f"initrd-{built.initrd.name}")) if built.initrd else None
    return Built(image, initrd)
