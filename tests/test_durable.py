"""The one durable writer: whole files or none, never an overwritten record, no temporary file left (no VM)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pytest_hermit import durable


def test_replace_writes_the_whole_text_creates_the_folder_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "report.md"
    durable.replace(path, "one\n")
    durable.replace(path, "two\n")
    assert path.read_text() == "two\n"
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_create_new_never_replaces_a_file_and_draws_another_name(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("kept\n")
    proposed = iter(["a.json", "a.json", "b.json"])
    path = durable.create_new(tmp_path, lambda: next(proposed), "new\n")
    assert path == tmp_path / "b.json" and path.read_text() == "new\n"
    assert (tmp_path / "a.json").read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


def test_a_write_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    def no_name() -> str:
        raise RuntimeError("no name")

    with pytest.raises(RuntimeError):
        durable.create_new(tmp_path, no_name, "lost\n")
    assert list(tmp_path.iterdir()) == []
    names = itertools.count()
    durable.create_new(tmp_path, lambda: f"{next(names)}.json", "x\n")
    assert [p.name for p in tmp_path.iterdir()] == ["0.json"]


def test_move_into_place_replaces_the_target_with_the_made_file(tmp_path: Path) -> None:
    made, target = tmp_path / "partial.iso", tmp_path / "cached.iso"
    made.write_bytes(b"iso")
    target.write_bytes(b"old")
    durable.move_into_place(made, target)
    assert target.read_bytes() == b"iso" and not made.exists()
