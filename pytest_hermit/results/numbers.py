"""How numbers are written for people: one module, so messages, tables and plots agree.

Two rules for plain values, each with its purpose:

* :func:`number` for tables and plot labels: ``9``, ``12.3``, ``5,858``
  (three significant digits below 10, one decimal below 100, whole
  numbers with thousands separators above); ``compact=True`` shortens
  large values for plot labels (``51.8k``, ``1.2M``).
* :func:`counted` for exact counts (icount), to the guest's last digit.
* :func:`decimal` for regression messages and comparison cells: one decimal
  from 1 up (``9.0 -> 10.4 cycles``), three significant digits below: the
  message shape users' CI logs are matched against.

Exact comparisons (deterministic numbers, ``gate/stats.py``) write their two
values with :func:`distinct` and their change with :func:`signed_percent_fine`:
enough digits that a real difference never reads as ``15.0 -> 15.0``.
"""

from __future__ import annotations


def number(x: float, *, compact: bool = False) -> str:
    """A value for a table cell or plot label."""
    a = abs(x)
    if compact and a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if compact and a >= 1e5:
        return f"{x / 1e3:.0f}k"
    if compact and a >= 1e4:
        return f"{x / 1e3:.1f}k"
    if a >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if a < 10 else f"{x:.1f}"


def counted(x: float) -> str:
    """A counted value (icount: instructions), to the thousandth the guest prints: ``15.000``, ``2,414.156``."""
    return f"{x:,.3f}"


def decimal(x: float) -> str:
    """A value in a regression message or a comparison cell: ``9.0``, ``5858.0``, ``0.123``."""
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.3g}"


def signed_percent(fraction: float) -> str:
    """A relative change: ``+15.6%``, ``-3.0%``."""
    return f"{100 * fraction:+.1f}%"


def percent(fraction: float, digits: int | None = None) -> str:
    """A tolerance or confidence level: ``5%``, ``98.75%`` (``digits`` rounds first)."""
    value = 100 * fraction if digits is None else round(100 * fraction, digits)
    return f"{value:g}%"


def p_value(p: float) -> str:
    """A p-value: ``0.03``, ``0.0087``, ``3.2e-05``."""
    if p >= 0.01:
        return f"{p:.2f}"
    if p >= 0.0001:
        return f"{p:.4f}"
    return f"{p:.1e}"


def distinct(a: float, b: float) -> tuple[str, str]:
    """Two values with at least 5 significant digits, and more until they read
    differently when they differ: ``15.000 -> 15.030``, ``2173.0 -> 2173.4``.

    At most 15 significant digits (a float's honest precision); values that
    differ only beyond that read the same.
    """
    top = max(abs(a), abs(b))
    magnitude = 0 if top == 0 else int(f"{top:e}".split("e")[1])
    for digits in range(5, 16):
        decimals = max(0, digits - 1 - magnitude)
        left, right = f"{a:.{decimals}f}", f"{b:.{decimals}f}"
        if a == b or left != right:
            break
    return left, right


def signed_percent_fine(fraction: float) -> str:
    """A relative change that never rounds a real change to zero: ``+2.0%``,
    ``+0.20%``, ``+0.0013%`` (one decimal from 1 %, two significant digits below)."""
    pct = 100 * fraction
    if pct == 0 or abs(pct) >= 1:
        return f"{pct:+.1f}%"
    return f"{pct:+#.2g}%"
