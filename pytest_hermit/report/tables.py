"""Study-shaped tables: one column per environment, one row per metric.

A small model (:class:`Table` of :class:`Row`) with two pure renderers, plain
text for the terminal and Markdown for reports. Cells are strings: the caller
decides what a cell says (a median, a change, a verdict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Row", "Table", "render_markdown", "render_text"]


@dataclass(frozen=True)
class Row:
    """One metric: its label, its unit, and a cell per column (missing cells stay empty)."""

    label: str
    unit: str
    cells: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A titled table; ``columns`` are environments (or any column labels), in order."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Row]
    #: Header of the first two columns.
    label_header: str = "metric"
    unit_header: str = "unit"

    def grid(self) -> list[list[str]]:
        """Header then rows, every cell a string, missing cells empty."""
        head = [self.label_header, self.unit_header, *self.columns]
        body = [[row.label, row.unit, *(row.cells.get(c, "") for c in self.columns)] for row in self.rows]
        return [head, *body]


def render_text(table: Table) -> str:
    """Aligned plain text: labels left, cells right, a rule under the header."""
    grid = table.grid()
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        parts += [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [line(grid[0]), rule, *(line(r) for r in grid[1:])]
    if table.title:
        lines.insert(0, table.title)
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown: the title in bold, then a pipe table."""
    grid = table.grid()
    align = ["---", "---", *("--:" for _ in table.columns)]
    lines = ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in grid]
    lines.insert(1, "| " + " | ".join(align) + " |")
    if table.title:
        lines[:0] = [f"**{_md_cell(table.title)}**", ""]
    return "\n".join(lines)
