"""Commits checked out into temporary worktrees and built (real git, real shell; no VM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_hermit.cli import worktrees as wt
from tests.gitrepo import Repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "port")
    r.commit("base", {"build.sh": "echo k > kernel.elf\necho i > app.initrd\n"})
    return r


def test_a_worktree_is_removed_when_the_block_raises(repo: Repo, tmp_path: Path) -> None:
    sha = repo.git("rev-parse", "HEAD")
    with pytest.raises(RuntimeError), wt.worktree(repo.path, sha, tmp_path / "w") as folder:
        assert (folder / "build.sh").is_file() and len(repo.worktrees()) == 2
        raise RuntimeError("a build that blew up")
    assert not (tmp_path / "w").exists()
    assert len(repo.worktrees()) == 1


def test_build_says_what_it_did_not_make_and_keep_copies_what_it_made(repo: Repo, tmp_path: Path) -> None:
    sha = repo.git("rev-parse", "HEAD")
    log = tmp_path / "build.log"
    with wt.worktree(repo.path, sha, tmp_path / "w") as folder:
        with pytest.raises(wt.BuildError, match=r"failed with status 4: echo oops; exit 4") as failed:
            wt.build(folder, "echo oops; exit 4", "kernel.elf", None, log)
        assert failed.value.output[-1] == "oops"
        with pytest.raises(wt.BuildError, match=r"made no image at out/k.elf \(looked for .*/w/out/k.elf\)"):
            wt.build(folder, "true", "out/k.elf", None, log)
        with pytest.raises(wt.BuildError, match=r"made no initrd at app\.img"):
            wt.build(folder, "sh build.sh", "kernel.elf", "app.img", log)
        built = wt.build(folder, "sh build.sh", "kernel.elf", "app.initrd", log)
        kept = wt.keep(built, tmp_path / "images" / sha[:12])
    assert kept.image.read_text() == "k\n" and kept.initrd is not None and kept.initrd.read_text() == "i\n"
    assert not built.image.exists(), "the worktree and its build are gone, the copies stay"


def test_a_ref_that_names_no_commit_is_said_so(repo: Repo) -> None:
    with pytest.raises(wt.GitError, match="'v9' is not a commit, branch or tag"):
        wt.resolve(repo.path, "v9")
    tree = repo.git("rev-parse", "HEAD^{tree}")
    with pytest.raises(wt.GitError, match="is not a commit"):
        wt.resolve(repo.path, tree)
