"""The history directory: one JSON file per run, appended atomically, never rewritten; pruned only on request.

The file I/O at the edge of the history package (as :func:`pytest_hermit.gate.baselines.save_merge`
is for baselines). A file per run, not one shared file or an embedded
database: concurrent writers (two CI jobs on one runner, xdist workers)
then never touch the same file, so nothing needs a lock, no writer can
lose another's record, and a history kept in a git branch or a CI cache
merges by adding files.

Writing a record (:func:`pytest_hermit.durable.create_new`): the text goes
to a temporary file in the directory (a dot name, which readers skip), is
fsynced, then hard-linked to its final name
``<UTC date>-<short commit>-<random>.json``: ``link`` fails instead of
replacing when the name exists, so a record is never overwritten (another
random part is drawn then). Readers see a whole record or none.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest_hermit.durable as durable
from pytest_hermit.history.records import RecordError, RunRecord, parse, to_document

__all__ = ["DEFAULT_DIR", "Loaded", "append", "load_all", "prune_plan", "record_name", "remove"]

#: The conventional history directory, relative to the rootdir (plugin) or the current directory (command).
DEFAULT_DIR = ".hermit/history"

#: Names this module writes; only these are ever pruned.
_NAME = re.compile(r"\d{8}T\d{6}Z-[0-9a-z]+-[0-9a-f]{16}\.json")


def record_name(record: RunRecord, random_part: str | None = None) -> str:
    """``20250601T120000Z-3e1f0a2b9c4d-<16 hex>.json``: sorts by date, says the commit, unique by chance."""
    stamp = record.when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    commit = (record.git_commit or "nocommit")[:12].lower()
    commit = re.sub(r"[^0-9a-z]", "", commit) or "nocommit"
    return f"{stamp}-{commit}-{random_part or secrets.token_hex(8)}.json"


def append(directory: Path, record: RunRecord) -> Path:
    """Write ``record`` as a new file in ``directory`` (created if needed); the path written.

    OSError when the directory cannot be created or written; nothing is
    left behind then but what was there before.
    """
    text = json.dumps(to_document(record), indent=1, allow_nan=False) + "\n"
    return durable.create_new(directory, lambda: record_name(record), text, prefix=".record-")


@dataclass(frozen=True)
class Loaded:
    """What a history directory held: the records (with their files, oldest first) and the files that are not."""

    records: tuple[tuple[Path, RunRecord], ...]
    problems: tuple[RecordError, ...]


def load_all(directory: Path) -> Loaded:
    """Every record in ``directory``, oldest first (date, then file name); unreadable files as problems.

    FileNotFoundError when the directory does not exist (the caller says what
    to do). Dot files (records being written) and files not ending in
    ``.json`` are not looked at.
    """
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such directory", str(directory))
    records = []
    problems = []
    for path in sorted(directory.glob("*.json")):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(RecordError(path, f"cannot be read: {exc}"))
            continue
        try:
            records.append((path, parse(text, path)))
        except RecordError as exc:
            problems.append(exc)
    records.sort(key=lambda pr: (pr[1].when, pr[0].name))
    return Loaded(tuple(records), tuple(problems))


def prune_plan(loaded: Loaded, *, keep_last: int | None = None, before: dt.datetime | None = None) -> list[Path]:
    """The record files that pruning removes: those every given rule lets go.

    ``keep_last``: all but the newest N records go; ``before``: records dated
    before that moment go; both: a record goes only when it is older than
    the date and not among the newest N. Only files with the names
    :func:`append` gives are ever chosen; unreadable files are not (their
    date is unknown: a person decides).
    """
    if keep_last is None and before is None:
        raise ValueError("pruning needs --keep-last N or --before DATE: nothing else removes records")
    ours = [(path, record) for path, record in loaded.records if _NAME.fullmatch(path.name)]
    newest_first = list(reversed(ours))
    chosen = []
    for i, (path, record) in enumerate(newest_first):
        old_enough = keep_last is None or i >= keep_last
        early_enough = before is None or record.when < before
        if old_enough and early_enough:
            chosen.append(path)
    return sorted(chosen)


def remove(paths: Iterable[Path]) -> list[Path]:
    """Delete the files; the ones removed (a file already gone is not an error: another pruner took it)."""
    removed = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
