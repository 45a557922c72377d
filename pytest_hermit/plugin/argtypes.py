"""argparse types shared by the pytest options and the ``pytest-hermit`` command.

Each raises ``argparse.ArgumentTypeError`` with a message that says what was
expected, so argparse names the option and an ini value becomes a usage error
(``options.Settings.from_config``) rather than an INTERNALERROR.
"""

from __future__ import annotations

import argparse

from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate.stats import Verdict


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def env_list(text: str) -> str:
    if not [n for n in text.split(",") if n.strip()]:
        raise argparse.ArgumentTypeError("expected a comma-separated list of environment names, or 'all'")
    return text


def percent_fraction(value: float, *, zero_ok: bool = False) -> float:
    """A percentage (5) as a fraction (0.05); ValueError outside (0, 100), or [0, 100) when ``zero_ok``.

    The one range rule for tolerances, used by the options, the
    ``[tool.hermit.tolerance]`` table and ``pytest-hermit compare``.
    """
    if not ((0 <= value if zero_ok else 0 < value) and value < 100):
        raise ValueError("expected a percentage between 0 and 100")
    return value / 100


def percent(text: str, *, zero_ok: bool = False) -> float:
    """``5``, ``5%`` or ``0.5%`` as a fraction (0.05); argparse type for tolerances."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage like 5 or 5%, got {text!r}") from None
    try:
        return percent_fraction(value, zero_ok=zero_ok)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, got {text!r}") from None


def percent_or_zero(text: str) -> float:
    """Like :func:`percent`, but 0 is allowed (``pytest-hermit compare --tolerance 0``: any change counts)."""
    return percent(text, zero_ok=True)


def confidence(text: str) -> float:
    """A family-wise confidence level such as 0.95."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"confidence must be in [0.5, 1), e.g. 0.95, got {text!r}")
    return value


def verdict_set(text: str) -> frozenset[Verdict]:
    """``regression`` or ``regression,inconclusive``: the verdicts that fail a test."""
    names = {n.strip().lower() for n in text.split(",") if n.strip()}
    allowed = {"regression", "inconclusive", "improvement"}
    unknown = names - allowed
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(sorted(allowed))}, got {text!r}")
    return frozenset(Verdict[n.upper()] for n in names)


def baseline_name(text: str) -> str:
    """A baseline name (``--hermit-save``, ``--hermit-compare``, ``pytest-hermit show NAME``): a valid file stem."""
    try:
        return bl.validate_name(text)
    except ValueError as exc:
        # Uncaught, argparse says only "invalid value" and an ini value becomes an INTERNALERROR.
        raise argparse.ArgumentTypeError(str(exc)) from None
