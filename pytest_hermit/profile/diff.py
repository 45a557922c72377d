"""Two profiles side by side: the functions whose instructions per boot changed, largest increase first."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_hermit.profile.profile import FunctionProfile


@dataclass(frozen=True)
class FunctionChange:
    name: str
    #: Instructions per boot.
    base: float
    new: float
    where: str

    @property
    def change(self) -> float:
        return self.new - self.base

    @property
    def relative(self) -> float | None:
        return self.change / self.base if self.base else None


def changes(base: FunctionProfile, new: FunctionProfile) -> list[FunctionChange]:
    """Every function whose instructions per boot differ, increases first (largest first), then decreases.

    Per boot, so profiles of different boot counts compare; a function
    that did not change is left out.
    """
    out = []
    for name in set(base.functions) | set(new.functions):
        before, after = base.per_boot(name), new.per_boot(name)
        if before != after:
            where = (new.functions.get(name) or base.functions[name]).where
            out.append(FunctionChange(name, before, after, where))
    return sorted(out, key=lambda c: (-c.change, c.name))


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def table(rows: list[FunctionChange], *, exact: bool, limit: int | None = 20) -> list[str]:
    """The rows as text, one function a line, under a heading that says what the numbers are."""
    if not rows:
        return ["guest instructions per function: no function changed"]
    how = (
        "exact under icount"
        if exact
        else "counted under TCG; instruction counts are shown beside a timed verdict, not as its cause"
    )
    lines = [f"guest instructions per function and boot, changed ({how}):"]
    shown = rows if limit is None else rows[:limit]
    width = max(len(r.name) for r in shown)
    for r in shown:
        rel = f" ({r.relative * 100:+.1f}%)" if r.relative is not None else " (new)"
        where = f"  {r.where}" if r.where else ""
        lines.append(
            f"  {r.name:<{width}}  instructions {_count(r.base)} -> {_count(r.new)}  {r.change:+,.0f}{rel}{where}"
        )
    if len(rows) > len(shown):
        lines.append(f"  ... and {len(rows) - len(shown)} more function(s) changed")
    return lines
