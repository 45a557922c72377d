"""Command line options and their ini twins, resolved once into frozen Settings.

Every flag can also be set in pytest.ini / pyproject ``[tool.pytest.ini_options]``
(name without the leading dashes, dashes as underscores: ``hermit_env``). The
command line wins. Bad values are usage errors that name the option or ini key.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pytest_hermit.errors import ConfigError
from pytest_hermit.gate.judge import DEFAULT_TOLERANCE, GateSettings, Tolerances
from pytest_hermit.gate.stats import Verdict
from pytest_hermit.plugin.argtypes import (
    baseline_name,
    env_list,
    percent,
    percent_fraction,
    positive_float,
    positive_int,
    verdict_set,
)
from pytest_hermit.vm.environments import Environment

T = TypeVar("T")

DEFAULT_BOOTS = 10
DEFAULT_REPS = 10
DEFAULT_TIMEOUT = 120.0


# (flag, ini type, help, argparse type/action)
_OPTIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "env",
        "string",
        "environments to run in, comma-separated, or 'all' (kvm, qemu, hvm, pvh and those of "
        "[tool.hermit.environments]); default: ini hermit_env, else kvm where /dev/kvm runs on VT-x/AMD-V, else qemu",
        {"type": env_list, "metavar": "NAMES"},
    ),
    (
        "kernel",
        "string",
        "guest kernel to boot (default: the guest profile's kernel; for the reference profile the "
        "reference guest shipped with the plugin, guest/build/refguest.elf in a source checkout)",
        {"metavar": "PATH"},
    ),
    (
        "initrd",
        "string",
        "initrd for the guest kernel (HermitCore: the application, loaded by its loader kernel)",
        {"metavar": "PATH"},
    ),
    (
        "iso",
        "string",
        "bootable ISO for environments that boot from CD (Xen hvm); default: a GRUB ISO made for the kernel",
        {"metavar": "PATH"},
    ),
    (
        "cmdline",
        "string",
        "extra guest command line words, passed before the guest profile's cmdline "
        "(workload=W reps=R for the built-in ones) and the test's own words",
        {"metavar": "WORDS"},
    ),
    (
        "guest",
        "string",
        "guest profile: how to boot the guest and read its console: reference (default), hermitcore, linux, "
        "or NAME of [tool.hermit.guests.NAME] in pyproject.toml (README, 'Guest profiles'); "
        "per test: @pytest.mark.hermit(guest=NAME)",
        {"metavar": "NAME"},
    ),
    (
        "boots",
        "string",
        f"boots per measurement (default {DEFAULT_BOOTS}; icount 2, the fewest that show its counts repeat)",
        {"type": positive_int, "metavar": "N"},
    ),
    (
        "reps",
        "string",
        f"repetitions of the workload inside each boot (default {DEFAULT_REPS}; icount 1)",
        {"type": positive_int, "metavar": "N"},
    ),
    (
        "timeout",
        "string",
        f"seconds one boot may take, from creating its VM to the guest's last line, before the VM is "
        f"destroyed and the test fails as a broken run (default {DEFAULT_TIMEOUT:g}; destroying gets 30 s more)",
        {"type": positive_float, "metavar": "SECONDS"},
    ),
    (
        "test-timeout",
        "string",
        "seconds all boots of one test may take together, every hermit_run call of it included; "
        "waiting for a host slot (max_parallel) does not count (default: no limit beyond --hermit-timeout per boot)",
        {"type": positive_float, "metavar": "SECONDS"},
    ),
    (
        "libvirt-uri",
        "string",
        "libvirt URI for every selected environment "
        "(default: embedded QEMU driver for kvm/qemu, xen:///system for hvm/pvh)",
        {"metavar": "URI"},
    ),
    (
        "hosts",
        "string",
        "a pool of libvirt hosts for every selected environment, comma-separated "
        "(tests are spread over them, one VM at a time per host; pyproject: hosts = [...])",
        {"metavar": "URI,URI"},
    ),
    (
        "artifacts",
        "string",
        "folder for console transcripts, kept for failed tests (default: .hermit/artifacts under the rootdir)",
        {"metavar": "DIR"},
    ),
    (
        "save",
        "string",
        "save the measurements as the named baseline (under --hermit-baseline-dir); with --hermit-compare "
        "only those whose comparison passed (a regression, refusal or broken run keeps the old entries)",
        {"type": baseline_name, "metavar": "NAME"},
    ),
    (
        "compare",
        "string",
        "compare every measurement with the named baseline; a regression fails its test (exit 1), numbers "
        "that cannot be compared are refused (exit 7)",
        {"type": baseline_name, "metavar": "NAME"},
    ),
    (
        "baseline-dir",
        "string",
        "folder of baseline files (default: .hermit/baselines under the rootdir)",
        {"metavar": "DIR"},
    ),
    (
        "tolerance",
        "string",
        "change that still counts as unchanged, in percent (default 5; per metric and "
        "environment in [tool.hermit.tolerance] of pyproject.toml)",
        {"type": percent, "metavar": "PERCENT"},
    ),
    (
        "fail-on",
        "string",
        "verdicts that fail a test: regression (default) or regression,inconclusive",
        {"type": verdict_set, "metavar": "VERDICTS"},
    ),
    (
        "max-boots",
        "string",
        "add boots while a comparison is undecided, up to N per measurement "
        "(group-sequential looks; error rates stay controlled)",
        {"type": positive_int, "metavar": "N"},
    ),
    (
        "report-md",
        "string",
        "write the result tables as Markdown (also appended to $GITHUB_STEP_SUMMARY when set)",
        {"metavar": "FILE"},
    ),
    (
        "json",
        "string",
        "write every sample, verdict and the run's context as JSON (schema: docs/reports.md)",
        {"metavar": "FILE"},
    ),
    (
        "benchmark-json",
        "string",
        "write the measurements in pytest-benchmark's JSON format (for its compare/list)",
        {"metavar": "FILE"},
    ),
    (
        "action-benchmark",
        "string",
        "write github-action-benchmark's custom JSON into DIR: smaller-is-better.json and bigger-is-better.json "
        "(with hermit-bench's group/plot_group; docs/reports.md)",
        {"metavar": "DIR"},
    ),
    (
        "plot",
        "string",
        "write PNG plots of the per-boot distributions and the study's bar chart (needs matplotlib)",
        {"metavar": "DIR"},
    ),
    (
        "ab",
        "string",
        "A/B run: also boot this kernel (B), interleaved in random order with the usual guest (A), "
        "and judge B against A; no baseline needed",
        {"metavar": "KERNEL_B"},
    ),
    ("ab-initrd", "string", "initrd of image B for --hermit-ab", {"metavar": "PATH"}),
    ("ab-cmdline", "string", "extra command line words for image B only (e.g. inject=getpid:30)", {"metavar": "WORDS"}),
    (
        "ab-seed",
        "string",
        "seed of the random A/B boot order (default: drawn and shown in the header)",
        {"type": int, "metavar": "N"},
    ),
    (
        "state-dir",
        "string",
        "folder for the embedded libvirt driver's state and caches (default: ~/.cache/pytest-hermit)",
        {"metavar": "DIR"},
    ),
    (
        "history",
        "string",
        "append one record of this run (commit, host, guest, every boot, verdicts) to the history folder DIR, "
        "for pytest-hermit history; conventionally .hermit/history (pytest-hermit history's default): set "
        "ini hermit_history = .hermit/history to record every run (default: no record)",
        {"metavar": "DIR"},
    ),
    (
        "profile-symbols",
        "string",
        "--hermit-profile: the guest's symbols, a System.map or an ELF vmlinux (default: the kernel when it is "
        "an ELF, else a System.map beside it)",
        {"metavar": "PATH"},
    ),
]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("hermit", "performance regression testing of guest OS ports (pytest-hermit)")
    for name, ini_type, text, kwargs in _OPTIONS:
        dest = "hermit_" + name.replace("-", "_")
        group.addoption(f"--hermit-{name}", dest=dest, default=None, help=text, **kwargs)
        # default "": pytest before 7.4 returns [] for an unset string ini value.
        parser.addini(dest, help=text, type=ini_type, default="")  # type: ignore[arg-type]
    group.addoption(
        "--hermit-require-env",
        dest="hermit_require_env",
        action="store_true",
        default=None,
        help="an environment this host cannot run is an error, not a skip (for CI that must measure it)",
    )
    parser.addini("hermit_require_env", help="like --hermit-require-env", type="bool", default=False)
    group.addoption(
        "--hermit-require-quiet-host",
        dest="hermit_require_quiet_host",
        action="store_true",
        default=None,
        help="a host busy before measuring (load average at or above its CPUs) fails its timed tests as a "
        "broken run (exit 6) instead of a warning; icount is exempt",
    )
    parser.addini("hermit_require_quiet_host", help="like --hermit-require-quiet-host", type="bool", default=False)
    group.addoption(
        "--hermit-allow-foreign-baseline",
        dest="hermit_allow_foreign_baseline",
        action="store_true",
        default=None,
        help="compare with a baseline taken on another host (CPU, kernel, libvirt or QEMU version differ)",
    )
    parser.addini(
        "hermit_allow_foreign_baseline", help="like --hermit-allow-foreign-baseline", type="bool", default=False
    )
    group.addoption(
        "--hermit-strict",
        dest="hermit_strict",
        action="store_true",
        default=None,
        help="a regression needs the whole confidence interval above the tolerance (an improvement below "
        "minus it), not only above zero: changes within the tolerance are then almost never called "
        "regressions, at the cost of more boots (docs/statistics.md)",
    )
    parser.addini("hermit_strict", help="like --hermit-strict", type="bool", default=False)
    group.addoption(
        "--hermit-profile",
        dest="hermit_profile",
        action="store_true",
        default=None,
        help="count the guest's instructions per function (a TCG plugin; icount and qemu only, other "
        "environments are skipped), keep the profile with the baseline and history, and list the functions "
        "whose counts changed on a regression (pytest-hermit explain shows it offline)",
    )
    parser.addini("hermit_profile", help="like --hermit-profile", type="bool", default=False)


def parse_tolerances(default: float | None, tool: Mapping[str, Any], source: str) -> Tolerances:
    """``[tool.hermit.tolerance]``: ``getpid = 10`` and ``[tool.hermit.tolerance.kvm]`` ``malloc = 30`` (percent).

    ``default`` is --hermit-tolerance (or its ini twin), which wins over the table's ``default``.
    """
    table = tool.get("tolerance", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.hermit.tolerance] must be a table of metric = percent")

    def pct(value: object, where: str) -> float:
        try:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(value)
            return percent_fraction(float(value))
        except ValueError:
            raise ConfigError(f"{source}: {where} must be a percentage between 0 and 100, got {value!r}") from None

    per_metric: dict[str, float] = {}
    per_env: dict[str, dict[str, float]] = {}
    env_default: dict[str, float] = {}
    file_default = None
    for key, value in table.items():
        if isinstance(value, dict):
            per_env[key] = {m: pct(v, f"[tool.hermit.tolerance.{key}] {m}") for m, v in value.items()}
            if "default" in per_env[key]:
                env_default[key] = per_env[key].pop("default")
        elif key == "default":
            file_default = pct(value, "[tool.hermit.tolerance] default")
        else:
            per_metric[key] = pct(value, f"[tool.hermit.tolerance] {key}")
    chosen = default if default is not None else file_default if file_default is not None else DEFAULT_TOLERANCE
    return Tolerances(chosen, per_metric, per_env, env_default, default_given=default is not None)


@dataclass(frozen=True)
class Settings:
    """Everything the options say, validated."""

    env_spec: str | None
    kernel: Path | None
    initrd: Path | None
    iso: Path | None
    cmdline: str
    boots: int
    reps: int
    timeout: float
    libvirt_uri: str | None
    artifacts: Path
    state_dir: Path
    require_env: bool
    rootdir: Path
    gate: GateSettings
    report_md: Path | None = None
    json: Path | None = None
    benchmark_json: Path | None = None
    action_benchmark: Path | None = None
    plot: Path | None = None
    ab_kernel: Path | None = None
    ab_initrd: Path | None = None
    ab_cmdline: str = ""
    ab_seed: int = 0
    test_timeout: float | None = None
    #: --hermit-hosts: a pool for every selected environment (empty: each environment's own).
    hosts: tuple[str, ...] = ()
    #: --hermit-timeout (or its ini twin) was given: an emulating KVM's slowdown does not scale it.
    timeout_given: bool = False
    #: --hermit-boots / --hermit-reps (or their ini twins) were given: they then win
    #: over an environment's own defaults (icount boots once).
    boots_given: bool = False
    reps_given: bool = False
    #: --hermit-history: the folder each run appends its record to (None: no record).
    history: Path | None = None
    #: --hermit-require-quiet-host: a busy host is a broken run, not a warning.
    require_quiet_host: bool = False
    #: --hermit-guest: the guest profile of tests without @pytest.mark.hermit(guest=...) (None: reference).
    guest: str | None = None
    #: --hermit-profile: instructions per function through the TCG plugin.
    profile: bool = False
    #: --hermit-profile-symbols: the guest's System.map or ELF vmlinux (None: from the kernel).
    profile_symbols: Path | None = None

    def boots_for(self, env: Environment) -> int:
        """Boots per measurement in ``env``: the option when given, else the environment's default, else ours."""
        return self.boots if self.boots_given or env.default_boots is None else env.default_boots

    def reps_for(self, env: Environment) -> int:
        """Repetitions per boot in ``env``, chosen as :meth:`boots_for` chooses boots."""
        return self.reps if self.reps_given or env.default_reps is None else env.default_reps

    @classmethod
    def from_config(cls, config: pytest.Config, tool: dict[str, Any], tool_source: str) -> Settings:
        read = _Reader(config)
        rootdir = read.rootdir
        if (read.value("ab-initrd", str) or read.value("ab-cmdline", str)) and read.value("ab", str) is None:
            raise pytest.UsageError("--hermit-ab-initrd and --hermit-ab-cmdline need --hermit-ab=KERNEL_B")
        given_boots = read.value("boots", positive_int)
        given_reps = read.value("reps", positive_int)
        boots = given_boots or DEFAULT_BOOTS
        ab_seed = read.value("ab-seed", int)
        gate = _gate_settings(read, boots, tool, tool_source)  # first: --hermit-max-boots is checked against boots
        plot = _plot_dir(read)
        state_default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-hermit"
        return cls(
            env_spec=read.value("env", env_list),
            kernel=read.path("kernel", True),
            initrd=read.path("initrd", True),
            iso=read.path("iso", True),
            cmdline=(read.value("cmdline", str) or "").strip(),
            boots=boots,
            reps=given_reps or DEFAULT_REPS,
            boots_given=given_boots is not None,
            reps_given=given_reps is not None,
            timeout=read.value("timeout", positive_float) or DEFAULT_TIMEOUT,
            timeout_given=read.value("timeout", positive_float) is not None,
            test_timeout=read.value("test-timeout", positive_float),
            libvirt_uri=read.value("libvirt-uri", str),
            hosts=tuple(h.strip() for h in (read.value("hosts", str) or "").split(",") if h.strip()),
            artifacts=read.path("artifacts", False) or rootdir / ".hermit" / "artifacts",
            state_dir=read.path("state-dir", False) or state_default,
            require_env=read.flag("require-env"),
            require_quiet_host=read.flag("require-quiet-host"),
            rootdir=rootdir,
            report_md=read.path("report-md", False),
            json=read.path("json", False),
            benchmark_json=read.path("benchmark-json", False),
            action_benchmark=read.path("action-benchmark", False),
            plot=plot,
            ab_kernel=read.path("ab", True),
            ab_initrd=read.path("ab-initrd", True),
            ab_cmdline=(read.value("ab-cmdline", str) or "").strip(),
            ab_seed=ab_seed if ab_seed is not None else random.randrange(2**31),
            gate=gate,
            history=_history_dir(read),
            guest=read.value("guest", str),
            profile=_profile(read),
            profile_symbols=read.path("profile-symbols", True),
        )


class _Reader:
    """One option's value: the command line wins, then its ini twin, parsed by the flag's own type."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rootdir = Path(str(config.rootpath))

    def value(self, name: str, parse: Callable[[str], T]) -> T | None:
        dest = "hermit_" + name.replace("-", "_")
        cli = self.config.getoption(dest)
        if cli is not None:
            return cli  # type: ignore[no-any-return]  # argparse ran the same parser already
        ini = self.config.getini(dest)
        if ini in (None, ""):
            return None
        try:
            return parse(str(ini))
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"ini option {dest} = {ini!r} ({self.config.inipath}): {exc}") from None

    def path(self, name: str, must_exist: bool) -> Path | None:
        """A path option: relative to the current directory on the command line, to the rootdir in the ini."""
        raw = self.value(name, str)
        if raw is None:
            return None
        path = Path(raw).expanduser()
        if not path.is_absolute():
            from_cli = self.config.getoption("hermit_" + name.replace("-", "_")) is not None
            path = (Path.cwd() if from_cli else self.rootdir) / path
        if must_exist and not path.is_file():
            raise pytest.UsageError(f"--hermit-{name}: no such file: {raw}")
        return path.resolve()

    def flag(self, name: str) -> bool:
        dest = "hermit_" + name.replace("-", "_")
        return bool(self.config.getoption(dest) or self.config.getini(dest))


def _plot_dir(read: _Reader) -> Path | None:
    plot = read.path("plot", False)
    if plot is not None:
        # At start-up, not after every boot of the run: a missing matplotlib is a usage error.
        from pytest_hermit.report.plots import PlotError, require_matplotlib

        try:
            require_matplotlib()
        except PlotError as exc:
            raise pytest.UsageError(str(exc)) from None
    return plot


def _profile(read: _Reader) -> bool:
    """--hermit-profile, refused before any boot when the plugin is not built (with the reason)."""
    if not read.flag("profile"):
        return False
    from pytest_hermit.vm.profiler import unavailable

    reason = unavailable()
    if reason is not None:
        raise pytest.UsageError(f"--hermit-profile: {reason}")
    return True


def _history_dir(read: _Reader) -> Path | None:
    history = read.path("history", False)
    if history is not None and history.exists() and not history.is_dir():
        raise pytest.UsageError(f"--hermit-history: {history} is a file; history records go into a folder")
    return history


def _gate_settings(read: _Reader, boots: int, tool: dict[str, Any], tool_source: str) -> GateSettings:
    max_boots = read.value("max-boots", positive_int)
    if max_boots is not None and (max_boots < boots or boots < 2):
        raise pytest.UsageError(
            f"--hermit-max-boots={max_boots} needs --hermit-boots of at least 2 and at most {max_boots} "
            f"(got {boots}): adaptive sampling starts with --hermit-boots and adds boots up to the maximum"
        )
    return GateSettings(
        save=read.value("save", baseline_name),
        compare=read.value("compare", baseline_name),
        baseline_dir=read.path("baseline-dir", False) or read.rootdir / ".hermit" / "baselines",
        tolerances=parse_tolerances(read.value("tolerance", percent), tool, tool_source),
        fail_on=read.value("fail-on", verdict_set) or frozenset({Verdict.REGRESSION}),
        max_boots=max_boots,
        allow_foreign=read.flag("allow-foreign-baseline"),
        strict=read.flag("strict"),
    )
