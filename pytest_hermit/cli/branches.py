"""``pytest-hermit branches BASE HEAD``: is my branch slower than main? One command, one machine.

Checks both git refs out into temporary worktrees, builds each with the
user's command, and runs pytest as an interleaved A/B comparison of the two
images (A = BASE, B = HEAD), so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit.cli import children
from pytest_hermit.cli import worktrees as wt
from pytest_hermit.cli.abrun import pytest_command
from pytest_hermit.cli.common import Out, build_args
from pytest_hermit.exitcodes import EXIT_REFUSED

HELP = "build two git refs in temporary worktrees and judge HEAD against BASE in an interleaved A/B run"


@dataclass(frozen=True)
class BranchRequest:
    base: str
    head: str
    build: str
    image: str
    initrd: str | None
    pytest_args: tuple[str, ...]
    repo: Path


PREFIX = "pytest-hermit branches"


def run(req: BranchRequest) -> int:
    """Build both refs and run the comparison; pytest's exit status (1 = HEAD regressed, 2 = interrupted)."""
    return children.interruptible(PREFIX, lambda: _run(req), before=sys.stdout.flush)


def _run(req: BranchRequest) -> int:
    try:
        repo = wt.toplevel(req.repo)
        commits = [wt.resolve(repo, ref) for ref in (req.base, req.head)]  # both exist before anything is built
        with tempfile.TemporaryDirectory(prefix="hermit-branches-") as tmp, contextlib.ExitStack() as worktrees:
            try:
                images = []
                for label, ref, commit in zip(("A", "B"), (req.base, req.head), commits, strict=True):
                    folder = worktrees.enter_context(wt.worktree(repo, commit, Path(tmp) / label))
                    print(
                        f"{PREFIX}: {label} = {ref} ({commit[:12]}) in {folder}; building: {req.build}",
                        flush=True,
                    )
                    try:
                        images.append(wt.build(folder, req.build, req.image, req.initrd))
                    except wt.BuildError as exc:
                        raise wt.BuildError(f"the build of {label} ({ref}) {exc}") from None
                cmd = pytest_command(images[0], images[1], req.pytest_args)
                print(f"{PREFIX}: {shlex.join(cmd)}", flush=True)
                return children.run(cmd)
            finally:
                worktrees.close()
                wt.prune(repo)
    except (wt.GitError, wt.BuildError) as exc:
        print(f"{PREFIX}: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", metavar="BASE", help="git ref of the reference (A), e.g. main")
    p.add_argument("head", metavar="HEAD", help="git ref judged against BASE (B), e.g. my-branch or HEAD")
    build_args(p)
    p.epilog = "Everything after -- goes to pytest, e.g. ... --build make --image build/k.elf -- tests/"


def command(args: argparse.Namespace, out: Out) -> int:
    request = BranchRequest(
        base=args.base,
        head=args.head,
        build=args.build,
        image=args.image,
        initrd=args.initrd,
        pytest_args=tuple(args.pytest_args),
        repo=Path.cwd(),
    )
    return run(request)
