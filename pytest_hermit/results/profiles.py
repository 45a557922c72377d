"""Guest profiles: how to boot a guest and read its console, as data.

A profile says what boots (kernel, initrd, ISO), what its command line is
(a template with ``{workload}`` and ``{reps}``), which extra QEMU arguments
it needs, how a boot ends, what to type at its prompts and which console
lines are metrics. Users describe their guests in
``[tool.hermit.guests.NAME]`` of pyproject.toml; the guests the plugin
always knew (the reference guest, HermitCore, a Linux kernel with an
initramfs) are built-in profiles of the same shape, whose metrics are the
formats ``results/parsers.py`` reads.

Everything is checked here, when loaded: a wrong key, type or pattern is a
:class:`ConfigError` naming the file, the key and the pattern, before any
boot. Whether the image files exist is the caller's question (this layer
does no I/O).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hermit.errors import ConfigError
from pytest_hermit.results.samples import Direction

#: The reference guest's command line: what the plugin always appended.
REFERENCE_CMDLINE = "workload={workload} reps={reps}"
TEMPLATE_FIELDS = frozenset({"workload", "reps"})
CONSOLE_MODES = ("lines", "screen")

_PROFILE_KEYS = frozenset(
    {"kernel", "initrd", "iso", "cmdline", "qemu_args", "end", "console", "timeout", "input", "metrics"}
)
_METRIC_KEYS = frozenset({"pattern", "name", "unit", "better", "scale"})
_INPUT_KEYS = frozenset({"expect", "send"})


@dataclass(frozen=True)
class MetricSpec:
    """One ``[[...metrics]]`` entry: console text -> values of a metric."""

    pattern: re.Pattern[str]
    #: The fixed name (then the metric is required), or None when the pattern has a ``name`` group.
    name: str | None
    unit: str
    better: Direction
    scale: float = 1.0

    def read(self, text: str) -> tuple[str, float] | None:
        """(metric, value) when ``text`` matches, else None; a value that is no number does not match."""
        m = self.pattern.search(text)
        if m is None:
            return None
        groups = self.pattern.groupindex
        raw = m.group("value") if "value" in groups else next(g for g in m.groups() if g is not None)
        try:
            value = float(raw) * self.scale
        except (TypeError, ValueError):
            return None
        name = self.name if self.name is not None else m.group("name")
        return (name, value) if name else None


@dataclass(frozen=True)
class InputStep:
    """Wait for ``expect`` on the console, then type ``send`` (a template)."""

    expect: re.Pattern[str]
    send: str


@dataclass(frozen=True)
class GuestProfile:
    """How to boot one kind of guest and read its console (see the module docstring)."""

    name: str
    #: Where it was defined: the pyproject.toml, or "built-in".
    source: str
    kernel: Path | None = None
    initrd: Path | None = None
    iso: Path | None = None
    cmdline: str = REFERENCE_CMDLINE
    qemu_args: tuple[str, ...] = ()
    end: re.Pattern[str] | None = None
    console: str = "lines"
    timeout: float | None = None
    inputs: tuple[InputStep, ...] = ()
    metrics: tuple[MetricSpec, ...] = ()
    #: The reference guest's, HermitCore's and hermit-os' formats (``results/parsers.py``):
    #: workload metrics, HERMIT-INFO/HERMIT-DONE, kernel log warnings and panics.
    hermit_formats: bool = False
    #: What the built-in profile is for, in one line (docs, --help, errors).
    about: str = ""

    def command_line(self, workload: str, reps: int) -> str:
        """The profile's part of the guest command line."""
        return fill(self.cmdline, workload, reps)

    @property
    def required(self) -> tuple[str, ...]:
        """Metrics that must appear in every boot: those declared with a fixed name."""
        return tuple(dict.fromkeys(m.name for m in self.metrics if m.name is not None))


def fill(template: str, workload: str, reps: int) -> str:
    """A template with ``{workload}`` and ``{reps}`` filled in (checked when loaded)."""
    return template.format(workload=workload, reps=reps)


BUILTIN: dict[str, GuestProfile] = {
    "reference": GuestProfile(
        "reference",
        "built-in",
        hermit_formats=True,
        about="the reference guest of this checkout (guest/build/refguest.elf); workloads basic, stream, hello",
    ),
    "hermitcore": GuestProfile(
        "hermitcore",
        "built-in",
        hermit_formats=True,
        about="a HermitCore loader kernel (--hermit-kernel) and its application (--hermit-initrd); "
        "HermitCore's result lines and hermit-os benchmark blocks",
    ),
    "linux": GuestProfile(
        "linux",
        "built-in",
        hermit_formats=True,
        about="a Linux kernel (--hermit-kernel) and an initramfs (--hermit-initrd) whose init prints "
        "the reference guest's lines",
    ),
}
DEFAULT_PROFILE = "reference"


def load_profiles(tool: Mapping[str, Any], source: str) -> dict[str, GuestProfile]:
    """The built-in profiles and those of ``[tool.hermit.guests]``; paths relative to ``source``'s folder."""
    table = tool.get("guests", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.hermit.guests] must be a table of guest profiles")
    profiles = dict(BUILTIN)
    base = Path(source).parent
    for name, body in table.items():
        where = f"{source}: [tool.hermit.guests.{name}]"
        if name in BUILTIN:
            raise ConfigError(f"{where}: {name!r} is a built-in profile; give yours another name")
        if not isinstance(body, dict):
            raise ConfigError(f"{where} must be a table")
        profiles[name] = _profile(name, body, base, where, source)
    return profiles


def _profile(name: str, body: dict[str, Any], base: Path, where: str, source: str) -> GuestProfile:
    _no_unknown(body, _PROFILE_KEYS, where)
    paths = {k: _path(body, k, base, where) for k in ("kernel", "initrd", "iso")}
    cmdline = _template(body, "cmdline", where, REFERENCE_CMDLINE)
    qemu_args = body.get("qemu_args", [])
    if not isinstance(qemu_args, list) or not all(isinstance(a, str) for a in qemu_args):
        raise ConfigError(f'{where}: qemu_args must be a list of strings, e.g. ["-device", "pc-testdev"]')
    end = _regex(body["end"], f"{where}: end") if "end" in body else None
    console = body.get("console", "lines")
    if console not in CONSOLE_MODES:
        raise ConfigError(f'{where}: console must be "lines" or "screen", found {console!r}')
    timeout = body.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ConfigError(f"{where}: timeout must be a positive number of seconds, found {timeout!r}")
    inputs = tuple(_input(step, f"{where} input #{i + 1}") for i, step in enumerate(_tables(body, "input", where)))
    metrics = tuple(_metric(m, f"{where} metrics #{i + 1}") for i, m in enumerate(_tables(body, "metrics", where)))
    if not metrics:
        raise ConfigError(
            f"{where}: no [[tool.hermit.guests.{name}.metrics]]: declare at least one metric "
            "(pattern, unit, better) so the plugin knows what to read from the console"
        )
    _same_metric_same_kind(metrics, where)
    return GuestProfile(
        name,
        source,
        paths["kernel"],
        paths["initrd"],
        paths["iso"],
        cmdline,
        tuple(qemu_args),
        end,
        console,
        float(timeout) if timeout is not None else None,
        inputs,
        metrics,
    )


def _same_metric_same_kind(metrics: tuple[MetricSpec, ...], where: str) -> None:
    """Entries with one fixed name are alternative forms of one metric (say, one per unit the
    guest may print): they must agree on what the metric is."""
    first: dict[str, tuple[int, MetricSpec]] = {}
    for i, spec in enumerate(metrics):
        if spec.name is None:
            continue
        j, seen = first.setdefault(spec.name, (i, spec))
        if (seen.unit, seen.better) != (spec.unit, spec.better):
            raise ConfigError(
                f"{where}: metrics #{j + 1} and #{i + 1} both read {spec.name!r} but one says "
                f"{seen.unit} ({seen.better.value} is better), the other {spec.unit} ({spec.better.value} "
                "is better); entries of one metric must agree (scale converts a unit)"
            )


def _no_unknown(body: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _path(body: Mapping[str, Any], key: str, base: Path, where: str) -> Path | None:
    raw = body.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{where}: {key} must be a path (a string), found {raw!r}")
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _template(body: Mapping[str, Any], key: str, where: str, default: str) -> str:
    text = body.get(key, default)
    if not isinstance(text, str):
        raise ConfigError(f"{where}: {key} must be a string, found {text!r}")
    check_template(text, f"{where}: {key}")
    return text


def check_template(text: str, where: str) -> None:
    """A template may use ``{workload}`` and ``{reps}`` only (``{{``/``}}`` for braces)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{where}: {text!r} is not a valid template ({exc}); {{{{ and }}}} are braces") from None
    unknown = sorted(set(fields) - TEMPLATE_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: {text!r} uses {', '.join('{' + f + '}' for f in unknown)}; "
            "a template knows {workload} and {reps} only"
        )


def _regex(text: Any, where: str) -> re.Pattern[str]:
    if not isinstance(text, str):
        raise ConfigError(f"{where} must be a regular expression (a string), found {text!r}")
    try:
        return re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{where}: pattern {text!r} does not compile: {exc}") from None


def _tables(body: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    items = body.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{where}: {key} must be an array of tables ([[tool.hermit.guests.NAME.{key}]])")
    return items


def _input(step: dict[str, Any], where: str) -> InputStep:
    _no_unknown(step, _INPUT_KEYS, where)
    missing = [k for k in ("expect", "send") if k not in step]
    if missing:
        raise ConfigError(f"{where}: {' and '.join(missing)} missing (a step waits for expect, then types send)")
    return InputStep(_regex(step["expect"], f"{where}: expect"), _template(step, "send", where, ""))


def _metric(entry: dict[str, Any], where: str) -> MetricSpec:
    _no_unknown(entry, _METRIC_KEYS, where)
    if "pattern" not in entry:
        raise ConfigError(f"{where}: pattern missing (a regex with a value group)")
    pattern = _regex(entry["pattern"], f"{where}: pattern")
    shown = f"pattern {entry['pattern']!r}"
    fixed = entry.get("name")
    if fixed is not None and (not isinstance(fixed, str) or not fixed.strip()):
        raise ConfigError(f"{where}: name must be a metric name (a string), found {fixed!r}")
    groups = pattern.groupindex
    if "name" in groups and fixed is not None:
        raise ConfigError(f"{where}: {shown} has a name group and the entry a fixed name {fixed!r}; keep one")
    if "name" not in groups and fixed is None:
        raise ConfigError(f'{where}: {shown} has no (?P<name>...) group: give the metric a fixed name = "..."')
    if "value" not in groups and pattern.groups != 1:
        raise ConfigError(
            f"{where}: {shown} lacks a value group: write (?P<value>[0-9.]+) for the number"
            + (" (or use a fixed name and exactly one group)" if fixed is not None else "")
        )
    unit = entry.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        raise ConfigError(f'{where}: unit missing or empty (e.g. unit = "cycles"); reports and the gate need it')
    better = entry.get("better")
    if better not in ("lower", "higher"):
        raise ConfigError(f'{where}: better must be "lower" or "higher", found {better!r}')
    scale = entry.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or scale == 0:
        raise ConfigError(f"{where}: scale must be a nonzero number, found {scale!r}")
    return MetricSpec(pattern, fixed.strip() if fixed else None, unit.strip(), Direction(better), float(scale))
