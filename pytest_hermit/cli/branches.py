"""``pytest-hermit branches BASE HEAD``: is my branch slower than main? One command, one machine.

Checks both git refs out into temporary worktrees, builds each with the
user's command, and runs pytest as an interleaved A/B comparison of the two
images (A = BASE, B = HEAD), so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit.cli.common import Out
from pytest_hermit.exitcodes import EXIT_REFUSED

HELP = "build two git refs in temporary worktrees and judge HEAD against BASE in an interleaved A/B run"


class BranchError(Exception):
    """A ref, a build or an image that is not there; the message says which."""


@dataclass(frozen=True)
class BranchRequest:
    base: str
    head: str
    build: str
    image: str
    initrd: str | None
    pytest_args: tuple[str, ...]
    repo: Path


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BranchError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def _resolve(repo: Path, ref: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BranchError(f"{ref!r} is not a commit, branch or tag of {repo}")
    return proc.stdout.strip()


def _checkout_and_build(
    req: BranchRequest, label: str, ref: str, folder: Path, made: list[Path]
) -> tuple[Path, Path | None]:
    """Check ``ref`` out into ``folder`` and build it; ``made`` gets the worktree before anything can fail."""
    commit = _resolve(req.repo, ref)
    _git(req.repo, "worktree", "add", "--detach", str(folder), commit)
    made.append(folder)  # registered with git now: removed even when the build fails
    print(f"pytest-hermit branches: {label} = {ref} ({commit[:12]}) in {folder}; building: {req.build}", flush=True)
    built = subprocess.run(req.build, shell=True, cwd=folder, check=False)
    if built.returncode != 0:
        raise BranchError(f"the build of {label} ({ref}) failed with status {built.returncode}: {req.build}")
    image = folder / req.image
    if not image.is_file():
        raise BranchError(f"the build of {label} ({ref}) made no image at {req.image} (looked for {image})")
    initrd = folder / req.initrd if req.initrd else None
    if initrd is not None and not initrd.is_file():
        raise BranchError(f"the build of {label} ({ref}) made no initrd at {req.initrd}")
    return image, initrd


def pytest_command(a: tuple[Path, Path | None], b: tuple[Path, Path | None], args: Sequence[str]) -> list[str]:
    """The A/B pytest run of two built images."""
    cmd = [sys.executable, "-m", "pytest", f"--hermit-kernel={a[0]}", f"--hermit-ab={b[0]}"]
    if a[1] is not None:
        cmd.append(f"--hermit-initrd={a[1]}")
    if b[1] is not None:
        cmd.append(f"--hermit-ab-initrd={b[1]}")
    return [*cmd, *args]


def run(req: BranchRequest) -> int:
    """Build both refs and run the comparison; pytest's exit status (1 = HEAD regressed)."""
    try:
        req = BranchRequest(**{**req.__dict__, "repo": Path(_git(req.repo, "rev-parse", "--show-toplevel"))})
        for ref in (req.base, req.head):
            _resolve(req.repo, ref)  # both refs exist before anything is built
        with tempfile.TemporaryDirectory(prefix="hermit-branches-") as tmp:
            made: list[Path] = []
            try:
                images = []
                for label, ref in (("A", req.base), ("B", req.head)):
                    folder = Path(tmp) / label
                    images.append(_checkout_and_build(req, label, ref, folder, made))
                cmd = pytest_command(images[0], images[1], req.pytest_args)
                print(f"pytest-hermit branches: {shlex.join(cmd)}", flush=True)
                return subprocess.run(cmd, check=False).returncode
            finally:
                for folder in made:
                    subprocess.run(
                        ["git", "-C", str(req.repo), "worktree", "remove", "--force", str(folder)],
                        capture_output=True,
                        check=False,
                    )
                subprocess.run(["git", "-C", str(req.repo), "worktree", "prune"], capture_output=True, check=False)
    except BranchError as exc:
        print(f"pytest-hermit branches: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", metavar="BASE", help="git ref of the reference (A), e.g. main")
    p.add_argument("head", metavar="HEAD", help="git ref judged against BASE (B), e.g. my-branch or HEAD")
    p.add_argument("--build", required=True, metavar="CMD", help="shell command that builds the image in a checkout")
    p.add_argument("--image", required=True, metavar="PATH", help="the built kernel, relative to the checkout")
    p.add_argument("--initrd", metavar="PATH", help="the built initrd, relative to the checkout (HermitCore apps)")
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
