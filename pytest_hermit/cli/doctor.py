"""``pytest-hermit doctor``: which environments this host can run, why not the others, and what to do.

One line per environment (the built-in ones and those of ``[tool.hermit.environments]``):
available, or the probe's reason with what to install or enable. The
answers are the plugin's own probes (``vm/probes.py``) and host preflight
(``hosts.py``), asked the way a test run asks them, so doctor and a run
cannot disagree; nothing boots. Then the guest each would boot and the
host's state. Exit status 0 when at least one environment can run, 6
(broken: nothing can) otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_hermit._shipped import shipped
from pytest_hermit.cli.common import Out
from pytest_hermit.errors import ConfigError, EnvironmentUnavailable
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED
from pytest_hermit.plugin.pyproject import tool_hermit
from pytest_hermit.vm import iso, profiler
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import Environment, load_registry
from pytest_hermit.vm.guest import GuestImage, resolve
from pytest_hermit.vm.hygiene import HostChecks
from pytest_hermit.vm.probes import QEMU_BINARY, cpu_has_hw_virt, probe

HELP = (
    "say which environments this host can run (and what to install for the others) and which guest they boot; "
    "exit status 0 when at least one can run, 6 when none can, 7 for a broken [tool.hermit]"
)


@dataclass(frozen=True)
class EnvReport:
    """What doctor says about one environment."""

    name: str
    description: str
    available: bool
    #: Why not (with what to install or enable); empty when available.
    reason: str
    emulated: bool
    #: The probe's label for its numbers (emulated, instructions not time).
    note: str
    #: Facts behind the answer: QEMU and libvirt versions, the KVM device, xl, grub-mkrescue.
    facts: tuple[str, ...]
    #: What it would boot (or why nothing).
    guest: str
    #: The host's state before measuring (the preflight), for the available ones.
    host: str = ""
    #: The libvirt URI the environment names (the host the preflight describes).
    host_uri: str = ""


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    p.add_argument(
        "--pyproject",
        type=Path,
        metavar="FILE",
        help="the project's pyproject.toml for its [tool.hermit] environments "
        "(default: the nearest one from the current directory up)",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-hermit",
        help="the plugin's state dir, as --hermit-state-dir (default ~/.cache/pytest-hermit)",
    )


def nearest_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return None


def qemu_version() -> str | None:
    """QEMU's version as it reports it ('7.2.22'), or None when there is no QEMU."""
    if shutil.which(QEMU_BINARY) is None:
        return None
    try:
        proc = subprocess.run([QEMU_BINARY, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"version (\S+)", proc.stdout)
    return match.group(1) if match else proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else None


def libvirt_version(conns: Connections) -> str | None:
    """The libvirt library's version ('9.0.0'), or None when libvirt-python does not import."""
    try:
        number = int(conns.libvirt.getVersion())
    except EnvironmentUnavailable:
        return None
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def facts_of(env: Environment, conns: Connections, qemu: str | None, libvirt: str | None) -> tuple[str, ...]:
    """The installed pieces this environment relies on, named with versions."""
    facts = [f"libvirt {libvirt} ({conns.resolve_uri(env)})" if libvirt else "no libvirt-python"]
    if env.is_xen:
        xl = shutil.which("xl")
        facts.append(f"xl at {xl}" if xl else "no xl here (Xen's toolstack: Debian/Ubuntu xen-utils, in dom0)")
        if env.boot == "iso":
            problem = iso.tool_problem()
            facts.append(problem or f"grub-mkrescue at {shutil.which('grub-mkrescue')}")
        return tuple(facts)
    facts.insert(0, f"QEMU {qemu}" if qemu else f"no {QEMU_BINARY}")
    if env.domain_type == "kvm":
        dev = Path("/dev/kvm")
        try:
            hw = cpu_has_hw_virt(Path("/proc/cpuinfo").read_text())
        except OSError:
            hw = False
        state = "with VT-x/AMD-V" if hw else "without VT-x/AMD-V (KVM's instruction emulator: emulated)"
        facts.append(f"/dev/kvm {state}" if dev.exists() else "no /dev/kvm")
    return tuple(facts)


def guest_words(env: Environment, guest: GuestImage | None, problem: str, state_dir: Path) -> str:
    if guest is None:
        return problem
    kernel = str(guest.kernel) + (f" + initrd {guest.initrd}" if guest.initrd else "")
    if env.boot == "iso":
        return f"a GRUB ISO of {kernel}, made per command line in {state_dir / 'isos'}"
    if env.os_type == "xenpvh":
        return f"{kernel} by its PVH ELF note"
    return f"{kernel} (direct kernel boot)"


def configured_kernel(pyproject: Path | None) -> tuple[Path | None, Path | None]:
    """hermit_kernel / hermit_initrd of the project's [tool.pytest.ini_options], relative to its folder."""
    if pyproject is None:
        return None, None
    try:
        ini = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("pytest", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None, None
    options = ini.get("ini_options", {}) if isinstance(ini, dict) else {}

    def path(key: str) -> Path | None:
        value = options.get(key) if isinstance(options, dict) else None
        return (pyproject.parent / value).resolve() if isinstance(value, str) and value else None

    return path("hermit_kernel"), path("hermit_initrd")


def diagnose(args: argparse.Namespace) -> tuple[list[EnvReport], dict[str, Any]]:
    """Every environment's report, and the guest's (probes and preflight run here)."""
    pyproject = args.pyproject or nearest_pyproject(Path.cwd())
    source = str(pyproject) if pyproject else "pyproject.toml"
    tool = tool_hermit(pyproject) if pyproject else {}
    registry = load_registry(tool, source)
    kernel, initrd = configured_kernel(pyproject)
    guest: GuestImage | None = None
    guest_problem = ""
    try:
        if kernel is not None and not kernel.is_file():
            raise ConfigError(
                f"hermit_kernel in {pyproject} names {kernel}, which does not exist: build it, or fix hermit_kernel"
            )
        guest = resolve(kernel, initrd, None, "")
    except ConfigError as exc:
        guest_problem = str(exc)
    conns = Connections(args.state_dir)
    checks = HostChecks(conns)
    qemu, libvirt = qemu_version(), libvirt_version(conns)
    reports = []
    try:
        for env in registry.values():
            a = probe(env, conns)
            reason = a.reason.removeprefix(f"{env.name}: ")
            if a.usable and env.boot == "iso":
                reason = iso.tool_problem() or ""
            available = a.usable and not reason and guest is not None
            if a.usable and not reason and guest is None:
                reason = guest_problem
            host = checks.preflight(env)[0].describe() if available else ""
            reports.append(
                EnvReport(
                    env.name,
                    env.description,
                    available,
                    reason,
                    a.emulated,
                    a.note,
                    facts_of(env, conns, qemu, libvirt),
                    guest_words(env, guest, guest_problem, args.state_dir),
                    host,
                    env.uri,
                )
            )
    finally:
        conns.close()
    guest_info = {
        "kernel": str(guest.kernel) if guest else None,
        "initrd": str(guest.initrd) if guest and guest.initrd else None,
        "sha256": guest.sha256 if guest else None,
        "source": guest_source(kernel, guest),
        "problem": guest_problem or None,
        "pyproject": str(pyproject) if pyproject else None,
        # --hermit-profile's TCG plugin: None when it is built, else why not.
        "profiling": profiler.unavailable(),
    }
    return reports, guest_info


def guest_source(kernel: Path | None, guest: GuestImage | None) -> str:
    if guest is None:
        return "none"
    if kernel is not None:
        return "hermit_kernel of the project's [tool.pytest.ini_options]"
    return f"the reference guest, from the {shipped('refguest.elf').origin}"


def render_lines(reports: list[EnvReport], guest: dict[str, Any]) -> list[str]:
    """The text output: one line per environment, then its facts, then the guest."""
    width = max(len(r.name) for r in reports)
    lines = []
    for r in reports:
        if r.available:
            label = "available, emulated" if r.emulated else "available"
            lines.append(f"{r.name:<{width}}  {label}: {r.description}")
        else:
            lines.append(f"{r.name:<{width}}  not available: {r.reason}")
        lines.append(f"{'':<{width}}    {'; '.join(r.facts)}")
        if r.available:
            lines.append(f"{'':<{width}}    boots {r.guest}")
            if r.note:
                lines.append(f"{'':<{width}}    note: {r.note}")
    lines.append("")
    for host, state in sorted({(r.host_uri, r.host) for r in reports if r.available}):
        lines.append(f"host {host} before measuring: {state}")
    if guest["kernel"]:
        lines.append(f"guest: {guest['kernel']}: {guest['source']}, sha256 {guest['sha256'][:12]}")
    else:
        lines.append(f"guest: none: {guest['problem']}")
    lines.append(f"project: {guest['pyproject'] or 'no pyproject.toml (built-in environments only)'}")
    profiling = guest.get("profiling")
    lines.append(
        f"--hermit-profile: {profiling}" if profiling else f"--hermit-profile: available ({profiler.plugin_path()})"
    )
    usable = [r.name for r in reports if r.available]
    # An emulated environment runs, but proves function only: it is not what to measure with.
    measurable = [r.name for r in reports if r.available and not r.emulated] or usable
    emulated = [r.name for r in reports if r.available and r.emulated and r.name not in measurable]
    if not usable:
        lines.append("can run: nothing (exit 6): install or enable what the lines above name")
    else:
        lines.append(f"can run: {', '.join(usable)}  (pytest --hermit-env={','.join(measurable)})")
    if emulated:
        lines.append(f"emulated here, function only, not speed: {', '.join(emulated)} (left out of the line above)")
    return lines


def command(args: argparse.Namespace, out: Out) -> int:
    try:
        reports, guest = diagnose(args)
    except ConfigError as exc:
        sys.stderr.write(f"pytest-hermit doctor: {exc}\n")
        return EXIT_REFUSED
    status = EXIT_OK if any(r.available for r in reports) else EXIT_BROKEN
    if args.json:
        document = {
            "schema": "pytest-hermit/doctor",
            "version": 1,
            "environments": [{**asdict(r), "facts": list(r.facts)} for r in reports],
            "guest": guest,
            "can_run": [r.name for r in reports if r.available],
            "exit_status": status,
        }
        out.line(json.dumps(document, indent=2))
    else:
        for line in render_lines(reports, guest):
            out.line(line)
    return status
