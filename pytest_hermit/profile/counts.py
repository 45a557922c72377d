"""The TCG plugin's output: executions per translated block, one block a line.

Format (``profiler/hermit_insns.c``)::

    # hermit-insns 1
    <block start address, hex> <instructions in the block> <executions>
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

HEADER = "# hermit-insns 1"

#: (block start address, instructions in the block) -> executions
BlockCounts = Mapping[tuple[int, int], int]


class CountsError(ValueError):
    """A counts file that is not the plugin's format; the message names the file and line."""


def parse_counts(text: str, source: str | Path = "<counts>") -> dict[tuple[int, int], int]:
    """The executions of every block in ``text``, which must start with :data:`HEADER`."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != HEADER:
        first = lines[0][:60] if lines else "an empty file"
        raise CountsError(f"{source}: not a hermit_insns counts file (first line {first!r}, expected {HEADER!r})")
    counts: dict[tuple[int, int], int] = {}
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        words = line.split()
        try:
            if len(words) != 3:
                raise ValueError(line)
            key = (int(words[0], 16), int(words[1]))
            executions = int(words[2])
        except ValueError:
            raise CountsError(f"{source} line {line_no}: expected 'ADDRESS INSNS COUNT', got {line!r}") from None
        counts[key] = counts.get(key, 0) + executions
    return counts


def add_counts(into: dict[tuple[int, int], int], more: BlockCounts) -> None:
    """Sum ``more`` into ``into`` (the boots of one measurement)."""
    for key, executions in more.items():
        into[key] = into.get(key, 0) + executions


def instructions_by_address(counts: BlockCounts) -> Iterable[tuple[int, int]]:
    """(block start, instructions executed in it) for every block."""
    for (address, insns), executions in counts.items():
        yield address, insns * executions
