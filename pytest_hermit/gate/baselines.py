"""Named baselines: versioned JSON files of samples with the context they were taken in.

Layout: ``<dir>/<NAME>.json``. A file holds entries keyed by (test nodeid,
environment, run, metric), where ``run`` is the identity of the
``hermit_run`` call within its test (:mod:`pytest_hermit.results.measurement`: the
workload plus the test's command line words, ``basic`` or ``stream
stream_n=2000000``, with `` #2`` for a repeated identical call). Each entry
has its samples (unit, direction, boots x repetitions) and refers to a
context (plugin version, environment definition, host fingerprint, guest
image hash and command line, git commit, branch and dirty state, date, and
since host hygiene the host's state before measuring, ``host_state``,
present only when known and never a reason to refuse).
Contexts are stored once and referred to by id, so a file stays small and
readable by other tools::

    {"schema": "pytest-hermit/baseline", "version": 2, "name": "main",
     "contexts": {"3f2a...": {...}},
     "entries": [{"test": "...", "env": "kvm", "run": "basic", "metric": "getpid", "unit": "cycles",
                  "direction": "lower", "per_boot": [[9, 9, 10], ...], "context": "3f2a..."}]}

Under --hermit-profile an entry also names a ``"profile"``: the run's
instructions per function (:mod:`pytest_hermit.profile.profile`, compressed),
kept once in a top-level ``"profiles": {"<id>": "<zlib+base64>"}`` and
shared by the entries of that run. Readers that do not know it ignore it.

Version 1 files (no ``run``, keyed by test, environment and metric) are still
read: each entry gets the identity its context's guest command line implies
(the workload and the words after ``reps=``), which is what the first call
of that kind gets today. Files are always written as version 2.

Everything here is pure (dataclasses <-> JSON-shaped dicts, refusal checks
returning a reason or ``None``) except :func:`load`, :func:`load_named`,
:func:`list_names` and :func:`save_merge`, the file I/O at the edge.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_hermit.durable as durable
from pytest_hermit.errors import HermitError
from pytest_hermit.gate.hygiene import HostState
from pytest_hermit.profile.profile import FunctionProfile, ProfileError
from pytest_hermit.results.fields import Fields
from pytest_hermit.results.measurement import CODE_CHANGE_KEYS, identity_from_cmdline
from pytest_hermit.results.samples import Direction, Samples

__all__ = [
    "DEFINITION_KEYS",
    "EXACT_HOST_FIELDS",
    "IGNORED_CMDLINE_KEYS",
    "READABLE_VERSIONS",
    "SCHEMA",
    "VERSION",
    "Baseline",
    "BaselineError",
    "Context",
    "Entry",
    "HostFingerprint",
    "Key",
    "cmdline_difference",
    "cmdline_words",
    "from_document",
    "is_exact",
    "list_names",
    "load",
    "load_named",
    "merge",
    "path_for",
    "refusal",
    "refuse_cmdline",
    "refuse_emulation",
    "refuse_environment",
    "refuse_host",
    "refuse_missing",
    "save_merge",
    "to_document",
    "validate_name",
]

SCHEMA = "pytest-hermit/baseline"
VERSION = 2
#: Versions this module reads (1: entries without ``run``).
READABLE_VERSIONS = (1, 2)

#: Command line keys that do not make numbers incomparable: ``inject=`` is the
#: knob that stands in for a change of the code under test. ``reps=`` is
#: compared: a boot's median over 3 repetitions is not distributed like one
#: over 20, and the guest calibrates per repetition.
IGNORED_CMDLINE_KEYS = CODE_CHANGE_KEYS

#: Fields of the environment definition that change the numbers: compared
#: between baseline and run (name is part of the key; uri and base are how
#: the VM is reached and what it derives from, not what it is).
DEFINITION_KEYS = ("domain_type", "os_type", "machine", "boot", "cpu_model", "memory_mib", "vcpus", "icount")
#: Definition keys that baselines of earlier versions did not store, and what they meant then.
_DEFINITION_DEFAULTS: dict[str, Any] = {"icount": False}

#: Host fields that change instruction counts. Under icount the guest's TSC counts the
#: instructions it executes: the host's CPU, kernel and libvirt do not change them
#: (measured: identical numbers under other guest CPU models, memory sizes, machine
#: types and vCPU counts, and with both host cores busy). QEMU's own version is kept:
#: its icount accounting is its own, and no second version could be tried here.
EXACT_HOST_FIELDS = ("qemu_version",)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

#: (test nodeid, environment, run identity, metric)
Key = tuple[str, str, str, str]


class BaselineError(HermitError):
    """A baseline file that cannot be used: missing, corrupt, unknown schema or version.

    The message names the file; the file itself is never modified.
    """

    def __init__(self, path: Path | str, what: str) -> None:
        self.path = Path(path)
        self.what = what
        super().__init__(f"baseline {self.path}: {what}")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class HostFingerprint:
    """What makes numbers from two hosts comparable (or not)."""

    cpu_model: str = ""
    host_kernel: str = ""
    libvirt_version: str = ""
    qemu_version: str = ""
    #: CPUID hypervisor signature the guest saw (``KVMKVMKVM``, ``TCGTCGTCGTCG``...).
    hypervisor_signature: str = ""
    #: True when the numbers come from emulation.
    emulated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "cpu_model": self.cpu_model,
            "host_kernel": self.host_kernel,
            "libvirt_version": self.libvirt_version,
            "qemu_version": self.qemu_version,
            "hypervisor_signature": self.hypervisor_signature,
            "emulated": self.emulated,
        }

    def differences(self, other: HostFingerprint) -> list[str]:
        """``field: 'a' vs 'b'`` for every field that differs (emulation excluded)."""
        mine, theirs = self.as_dict(), other.as_dict()
        return [f"{k} {mine[k]!r} vs {theirs[k]!r}" for k in mine if k != "emulated" and mine[k] != theirs[k]]


@dataclass(frozen=True)
class Context:
    """Where and how an entry was measured."""

    plugin_version: str
    environment: Mapping[str, Any]
    host: HostFingerprint
    guest_sha256: str
    guest_cmdline: str
    git_commit: str | None
    git_branch: str | None
    #: ISO 8601 date and time (UTC) of the measurement.
    date: str
    #: True when the checkout had uncommitted changes to tracked files: the
    #: numbers are not ``git_commit``'s. None when unknown (older files, no git).
    git_dirty: bool | None = None
    #: The host's hygiene just before measuring (load, governor, boost, SMT,
    #: isolated CPUs): for the reader, never a reason to refuse. None in
    #: files written before it existed.
    host_state: HostState | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {
            "plugin_version": self.plugin_version,
            "environment": dict(self.environment),
            "host": self.host.as_dict(),
            "guest_sha256": self.guest_sha256,
            "guest_cmdline": self.guest_cmdline,
            "git_commit": self.git_commit,
            "git_branch": self.git_branch,
            "git_dirty": self.git_dirty,
            "date": self.date,
        }
        if self.host_state is not None:
            # Only when known: a context without it keeps the id it always had.
            d["host_state"] = self.host_state.as_dict()
        return d

    def ident(self) -> str:
        """A stable id for the context (hash of its canonical JSON)."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """The samples of one metric of one ``hermit_run`` call of one test in one environment."""

    test: str
    env: str
    samples: Samples
    context: Context
    #: The call's identity within its test; default: what the context's command line implies.
    run: str = ""
    #: --hermit-profile: the guest's instructions per function in this run (the same for every metric of it).
    profile: FunctionProfile | None = None

    def __post_init__(self) -> None:
        if not self.run:
            object.__setattr__(self, "run", identity_from_cmdline(self.context.guest_cmdline))

    @property
    def key(self) -> Key:
        return (self.test, self.env, self.run, self.samples.metric)


@dataclass(frozen=True)
class Baseline:
    """A named set of entries. Build with :meth:`of`; look up with :meth:`get`."""

    name: str
    entries: Mapping[Key, Entry] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, entries: Iterable[Entry]) -> Baseline:
        return cls(name, {e.key: e for e in entries})

    def get(self, test: str, env: str, run: str, metric: str) -> Entry | None:
        return self.entries.get((test, env, run, metric))

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self.entries.values(), key=lambda e: e.key))

    def __len__(self) -> int:
        return len(self.entries)

    def tests(self) -> list[tuple[str, str]]:
        """The (test, environment) pairs present, sorted."""
        return sorted({(e.test, e.env) for e in self.entries.values()})


def merge(old: Baseline, new_entries: Iterable[Entry]) -> Baseline:
    """``old`` with the entries it shares with ``new_entries`` replaced and the rest added."""
    entries = dict(old.entries)
    for e in new_entries:
        entries[e.key] = e
    return Baseline(old.name, entries)


# --------------------------------------------------------------------------- names and paths


def validate_name(name: str) -> str:
    """A baseline name is a file stem: letters, digits, ``.``, ``_``, ``-``; no path."""
    if not _NAME.fullmatch(name) or name in {".", ".."} or name.endswith(".json"):
        raise ValueError(
            f"invalid baseline name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '.json' (no slashes: the name is a file in the baseline dir)"
        )
    return name


def path_for(directory: Path | str, name: str) -> Path:
    return Path(directory) / f"{validate_name(name)}.json"


# --------------------------------------------------------------------------- (de)serialisation


def to_document(baseline: Baseline) -> dict[str, Any]:
    """The JSON-shaped document of a baseline (deterministic order)."""
    contexts: dict[str, dict[str, Any]] = {}
    profiles: dict[str, str] = {}
    entries = []
    for e in baseline:
        ident = e.context.ident()
        contexts.setdefault(ident, e.context.as_dict())
        profile_id: dict[str, str] = {}
        if e.profile is not None:
            # One stored copy per run: its metrics' entries share it by id, as they share a context.
            encoded = e.profile.encode()
            profile_id["profile"] = hashlib.sha256(encoded.encode()).hexdigest()[:16]
            profiles[profile_id["profile"]] = encoded
        entries.append(
            {
                "test": e.test,
                "env": e.env,
                "run": e.run,
                "metric": e.samples.metric,
                "unit": e.samples.unit,
                "direction": e.samples.direction.value,
                "per_boot": [list(boot) for boot in e.samples.per_boot],
                "context": ident,
                **profile_id,
            }
        )
    document = {"schema": SCHEMA, "version": VERSION, "name": baseline.name, "contexts": contexts, "entries": entries}
    if profiles:
        document["profiles"] = dict(sorted(profiles.items()))
    return document


def _context_from(f: Fields) -> Context:
    host = f.sub("host", default={})
    fingerprint = HostFingerprint(
        **{k: host.text(k, missing="") for k in HostFingerprint().as_dict() if k != "emulated"},
        emulated=host.flag("emulated", missing=False),
    )
    state = None
    if f.d.get("host_state") is not None:
        try:
            state = HostState.from_dict(f.sub("host_state").d)
        except ValueError as exc:
            raise f.fail(f"{f.path('host_state')}.{exc}") from None
    return Context(
        plugin_version=f.text("plugin_version", missing=""),
        environment=f.sub("environment", default={}).d,
        host=fingerprint,
        guest_sha256=f.text("guest_sha256", missing=""),
        guest_cmdline=f.text("guest_cmdline", missing=""),
        git_commit=f.text("git_commit", null=True),
        git_branch=f.text("git_branch", null=True),
        date=f.text("date", missing=""),
        git_dirty=f.flag("git_dirty", null=True),
        host_state=state,
    )


def from_document(document: object, source: Path | str = "<document>") -> Baseline:
    """A baseline from its JSON-shaped document; :class:`BaselineError` names what is wrong."""

    def fail(what: str) -> BaselineError:
        return BaselineError(source, what)

    doc = Fields(document, "", fail)
    if doc.d.get("schema") != SCHEMA:
        raise fail(f"not a pytest-hermit baseline: schema is {doc.d.get('schema')!r}, expected {SCHEMA!r}")
    version = doc.d.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise fail(
            f"unknown baseline version {version!r}; this pytest-hermit reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))} "
            "(record the baseline again, or use the pytest-hermit that wrote it)"
        )
    name = doc.text("name")
    raw_contexts = doc.sub("contexts", default={})
    contexts = {k: _context_from(raw_contexts.sub(k)) for k in raw_contexts.d}
    profiles = doc.sub("profiles", default={})
    entries = []
    for i, raw in enumerate(doc.array("entries", missing=[])):
        e = Fields(raw, f"entries[{i}]", fail)
        ident = e.text("context")
        if ident not in contexts:
            raise fail(f"{e.path('context')} refers to unknown context {ident!r}")
        direction_text = e.text("direction")
        try:
            direction = Direction(direction_text)
        except ValueError:
            raise fail(f"{e.path('direction')} must be 'lower' or 'higher', found {direction_text!r}") from None
        values = e.numbers("per_boot", empty_rows=True)
        samples = Samples(e.text("metric"), e.text("unit"), values, direction)
        # version 1 has no run: Entry derives it from the context's command line
        run = e.text("run") if version >= 2 else ""
        profile = None
        if e.d.get("profile") is not None:
            profile_id = e.text("profile")
            if profile_id not in profiles.d:
                raise fail(f"{e.path('profile')} refers to unknown profile {profile_id!r}")
            try:
                profile = FunctionProfile.decode(profiles.d[profile_id], profiles.path(profile_id))
            except ProfileError as exc:
                raise fail(str(exc)) from None
        entries.append(Entry(e.text("test"), e.text("env"), samples, contexts[ident], run, profile))
    keys = [en.key for en in entries]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise fail(f"duplicate entry for test {dup[0]!r}, environment {dup[1]!r}, run {dup[2]!r}, metric {dup[3]!r}")
    return Baseline.of(name, entries)


def _parse(text: str, path: Path) -> Baseline:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(path, f"corrupt JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return from_document(document, path)


# --------------------------------------------------------------------------- file I/O


def load(path: Path | str) -> Baseline:
    """Read a baseline file; :class:`BaselineError` when missing, corrupt or of another version."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(path, f"cannot be read: {exc}") from None
    return _parse(text, path)


def list_names(directory: Path | str) -> list[str]:
    """Names of the baselines in ``directory`` (empty when it does not exist)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.json") if _NAME.fullmatch(p.stem) and p.is_file())


def load_named(directory: Path | str, name: str) -> Baseline:
    """The baseline ``name`` in ``directory``; a missing one lists those that exist."""
    path = path_for(directory, name)
    if not path.exists():
        known = ", ".join(list_names(directory)) or "none"
        raise BaselineError(path, f"no baseline named {name!r} in {directory} (baselines there: {known})")
    return load(path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``.<file>.lock`` beside ``path`` (never deleted: deleting races)."""
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def save_merge(path: Path | str, new_entries: Iterable[Entry]) -> Baseline:
    """Merge ``new_entries`` into the baseline at ``path`` and write it atomically.

    Entries with the same (test, environment, run, metric) are replaced; all others
    are kept. Concurrent savers serialise on a lock file, so none loses the
    other's entries; readers see the old file or the new one, never a torn
    one. A corrupt or foreign existing file raises :class:`BaselineError` and
    is left as it is. Returns the baseline as written.
    """
    path = Path(path)
    name = validate_name(path.stem)
    entries = list(new_entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        old = load(path) if path.exists() else Baseline(name)
        merged = merge(Baseline(name, old.entries), entries)
        text = json.dumps(to_document(merged), indent=1, allow_nan=False) + "\n"
        durable.replace(path, text)
    return merged


# --------------------------------------------------------------------------- refusals


def cmdline_words(cmdline: str, ignore: frozenset[str] = IGNORED_CMDLINE_KEYS) -> dict[str, str]:
    """``KEY=VALUE`` words as the guest reads them (a later word wins), minus ``ignore``."""
    words: dict[str, str] = {}
    for word in cmdline.split():
        key, _, value = word.partition("=")
        words[key] = value
    return {k: v for k, v in words.items() if k not in ignore}


def cmdline_difference(saved: str, current: str, ignore: frozenset[str] = IGNORED_CMDLINE_KEYS) -> str | None:
    """What differs between two guest command lines, ignoring ``ignore`` keys; None if nothing."""
    a, b = cmdline_words(saved, ignore), cmdline_words(current, ignore)
    diffs = [
        f"{k}={a.get(k, '<unset>')} vs {k}={b.get(k, '<unset>')}"
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k)
    ]
    return "; ".join(diffs) or None


def is_exact(context: Context) -> bool:
    """The numbers were counted (icount), not timed."""
    return bool(context.environment.get("icount", False))


def refuse_host(saved: Context, current: Context, *, allow_foreign: bool = False) -> str | None:
    """A reason when the baseline was measured on another host (unless allowed).

    Counted numbers (icount on both sides) differ only with what changes the
    count (EXACT_HOST_FIELDS), so another host is no reason by itself.
    """
    if allow_foreign:
        return None
    diffs = saved.host.differences(current.host)
    if is_exact(saved) and is_exact(current):
        diffs = [d for d in diffs if d.split(" ", 1)[0] in EXACT_HOST_FIELDS]
    if not diffs:
        return None
    return (
        "the baseline was recorded on another host (" + "; ".join(diffs) + "); "
        "numbers from different hosts are not comparable: record a baseline on this host, "
        "or pass --hermit-allow-foreign-baseline to compare anyway"
    )


def refuse_emulation(saved: Context, current: Context) -> str | None:
    """A reason when one side is emulated and the other is not (never overridable)."""
    if saved.host.emulated == current.host.emulated:
        return None

    def kind(c: Context) -> str:
        sig = f", hypervisor signature {c.host.hypervisor_signature}" if c.host.hypervisor_signature else ""
        return ("emulated" if c.host.emulated else "hardware-accelerated") + sig

    return (
        f"the baseline is {kind(saved)} but this run is {kind(current)}: emulated and real numbers are not comparable"
    )


def refuse_cmdline(saved: Context, current: Context) -> str | None:
    """A reason when the guest ran another command line, repetitions included (``inject=`` aside)."""
    diff = cmdline_difference(saved.guest_cmdline, current.guest_cmdline)
    if diff is None:
        return None
    return (
        f"the guest command line differs from the baseline's ({diff}): numbers from another workload setting "
        "or another number of repetitions per boot (reps=) are not comparable; run with the baseline's "
        "settings, or record the baseline again with these"
    )


def refuse_environment(saved: Context, current: Context) -> str | None:
    """A reason when the environment definition (memory, vCPUs, machine, CPU...) differs."""
    a, b = saved.environment, current.environment

    def value(d: Mapping[str, Any], key: str) -> Any:
        return d.get(key, _DEFINITION_DEFAULTS.get(key, "<unset>"))

    diffs = [f"{k} {value(a, k)!r} vs {value(b, k)!r}" for k in DEFINITION_KEYS if value(a, k) != value(b, k)]
    if not diffs:
        return None
    return (
        "the environment is defined differently from the baseline's ("
        + "; ".join(diffs)
        + "): another VM shape is not comparable; use the baseline's definition, or record the baseline again"
    )


def refuse_missing(baseline: Baseline, test: str, env: str, run: str, metric: str | None = None) -> str | None:
    """A reason when the baseline holds nothing for (test, env, run[, metric])."""
    in_env = [e for e in baseline.entries.values() if e.test == test and e.env == env]
    matching = [e for e in in_env if e.run == run]
    if matching and (metric is None or any(e.samples.metric == metric for e in matching)):
        return None
    if not in_env:
        envs = sorted({e.env for e in baseline.entries.values() if e.test == test})
        hint = f" (it has this test on: {', '.join(envs)})" if envs else " (it does not have this test at all)"
        return f"baseline {baseline.name!r} has no entry for test {test} on environment {env}{hint}"
    if not matching:
        runs = ", ".join(repr(r) for r in sorted({e.run for e in in_env}))
        return (
            f"baseline {baseline.name!r} has no run {run!r} of test {test} on environment {env} (it has: {runs}; "
            "a run is the workload and the test's command line words, #2... for repeated identical calls)"
        )
    have = ", ".join(sorted(e.samples.metric for e in matching))
    return (
        f"baseline {baseline.name!r} has no metric {metric!r} for run {run!r} of test {test} "
        f"on environment {env} (it has: {have})"
    )


def refusal(
    baseline: Baseline,
    test: str,
    env: str,
    run: str,
    metric: str,
    current: Context,
    *,
    allow_foreign: bool = False,
) -> str | None:
    """The first reason not to compare (missing, emulation, host, environment, command line), or None."""
    missing = refuse_missing(baseline, test, env, run, metric)
    if missing:
        return missing
    entry = baseline.get(test, env, run, metric)
    assert entry is not None
    for reason in (
        refuse_emulation(entry.context, current),
        refuse_host(entry.context, current, allow_foreign=allow_foreign),
        refuse_environment(entry.context, current),
        refuse_cmdline(entry.context, current),
    ):
        if reason:
            return f"baseline {baseline.name!r}, test {test} run {run!r} on {env}: {reason}"
    return None
