"""A profile diff in callgrind's format, for callgrind_annotate and KCachegrind.

Callgrind costs cannot be negative, so the diff is four events per
function: instructions added and removed per boot (``Increase``,
``Decrease``), and the new and base instructions per boot. Tools sort by
the first event: the largest increase comes first, as in the failure message.
"""

from __future__ import annotations

from pytest_hermit.profile.profile import FunctionProfile

EVENTS = ("Increase", "Decrease", "New", "Base")


def _location(where: str) -> tuple[str, int]:
    file, _, line = where.rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return "???", 0


def callgrind(base: FunctionProfile, new: FunctionProfile, command: str = "") -> str:
    """The diff of ``new`` against ``base`` (instructions per boot, rounded) as a callgrind file."""
    rows: list[tuple[str, str, list[int]]] = []
    for name in sorted(set(base.functions) | set(new.functions)):
        before, after = round(base.per_boot(name)), round(new.per_boot(name))
        where = (new.functions.get(name) or base.functions[name]).where
        rows.append((name, where, [max(after - before, 0), max(before - after, 0), after, before]))
    totals = [sum(costs[i] for _, _, costs in rows) for i in range(len(EVENTS))]
    out = [
        "# callgrind format",
        "version: 1",
        "creator: pytest-hermit explain",
        f"cmd: {command or 'pytest-hermit explain'}",
        "positions: line",
        f"events: {' '.join(EVENTS)}",
        f"summary: {' '.join(str(t) for t in totals)}",
        "",
    ]
    for name, where, costs in rows:
        file, line = _location(where)
        out += [f"fl={file}", f"fn={name}", f"{line} {' '.join(str(c) for c in costs)}", ""]
    return "\n".join(out)
