"""Can this host run an environment? The exact reason when it cannot.

A probe looks at the host (device nodes, CPU flags, Xen's /proc files) and
asks libvirt what it can do; it never boots a guest. /dev/kvm without VT-x or
AMD-V behind it (KVM's instruction emulator, e.g. the kvm_pvm module) is
usable but labelled emulated: such numbers prove function, not speed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit.errors import EnvironmentUnavailable
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import EMBEDDED_QEMU, Environment

QEMU_BINARY = "qemu-system-x86_64"


@dataclass(frozen=True)
class Availability:
    """The probe's answer: usable or not, why, and whether its numbers are emulated."""

    usable: bool
    reason: str = ""
    emulated: bool = False
    note: str = ""


def cpu_has_hw_virt(cpuinfo: str) -> bool:
    """True when /proc/cpuinfo lists vmx or svm among the flags."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"vmx", "svm"})
    return False


def kvm_device_problem(dev: Path = Path("/dev/kvm")) -> str | None:
    """Why /dev/kvm cannot be used, or None."""
    if not dev.exists():
        return f"no {dev}: the kvm module is not loaded or this machine offers no hardware virtualization"
    if not os.access(dev, os.R_OK | os.W_OK):
        return f"no read/write access to {dev}: add this user to the device's group (usually 'kvm')"
    return None


def default_environment(cpuinfo: Path = Path("/proc/cpuinfo"), dev: Path = Path("/dev/kvm")) -> tuple[str, str]:
    """The environment a run without --hermit-env uses, and why kvm was passed over (empty when it was not).

    kvm only where it runs the guest on VT-x/AMD-V: KVM's instruction
    emulator (a /dev/kvm with no vmx/svm flag) is about 100x slower than
    TCG, so a default basic workload would run past the boot timeout there.
    Cheap: no libvirt, no boot.
    """
    problem = kvm_device_problem(dev)
    if problem is not None:
        return "qemu", f"no usable KVM ({problem})"
    try:
        hw = cpu_has_hw_virt(cpuinfo.read_text())
    except OSError:
        hw = False
    if not hw:
        return "qemu", (
            f"{dev} only emulates here (the CPU has no vmx/svm flag), and QEMU's TCG is far faster than "
            "KVM's instruction emulator; --hermit-env=kvm uses it anyway"
        )
    return "kvm", ""


def is_local(uri: str) -> bool:
    """The URI names this host (embedded driver, or a scheme with no host part)."""
    return uri.startswith(EMBEDDED_QEMU) or ("://" in uri and uri.split("://", 1)[1].startswith("/"))


def probe(env: Environment, conns: Connections) -> Availability:
    """Probe ``env`` on this host (through ``conns`` for libvirt questions)."""
    try:
        if env.is_xen:
            return _probe_xen(env, conns)
        return _probe_qemu(env, conns)
    except EnvironmentUnavailable as exc:
        return Availability(False, f"{env.name}: {exc}")


def _probe_qemu(env: Environment, conns: Connections) -> Availability:
    emulated, note = False, ""
    local = is_local(env.uri)
    if local:
        if shutil.which(QEMU_BINARY) is None:
            return Availability(
                False, f"{env.name}: {QEMU_BINARY} not found (Debian/Ubuntu: apt-get install qemu-system-x86)"
            )
        if env.domain_type == "kvm":
            problem = kvm_device_problem()
            if problem:
                return Availability(False, f"{env.name}: {problem}")
            if not cpu_has_hw_virt(Path("/proc/cpuinfo").read_text()):
                emulated = True
                note = (
                    "/dev/kvm exists but the CPU has no vmx/svm flag: KVM runs the guest through its "
                    "instruction emulator (e.g. kvm_pvm), so these numbers are emulated and prove function, not speed"
                )
        if env.icount:
            problem = icount_problem()
            if problem:
                return Availability(False, f"{env.name}: {problem}")
        if env.uri == EMBEDDED_QEMU and os.geteuid() == 0:
            try:
                pwd.getpwnam("libvirt-qemu")
            except KeyError:
                return Availability(
                    False,
                    f"{env.name}: libvirt's embedded QEMU driver needs the user 'libvirt-qemu' "
                    "(Debian/Ubuntu: apt-get install libvirt-daemon-system)",
                )
    conn = conns.open(env)
    lv = conns.libvirt
    try:
        conn.getDomainCapabilities(None, "x86_64", env.machine, env.domain_type, 0)
    except lv.libvirtError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
        return Availability(
            False, f"{env.name}: libvirt at {conns.resolve_uri(env)} cannot run {env.domain_type} domains: {first}"
        )
    if env.icount:
        note = ICOUNT_NOTE
    return Availability(True, emulated=emulated, note=note)


#: How an icount column is labelled wherever its numbers are shown.
ICOUNT_NOTE = (
    "QEMU counts instructions (-icount shift=0,sleep=off), so these 'cycles' are instructions executed, "
    "not time: exact and the same on any host, but blind to caches, TLBs and devices"
)


def icount_problem() -> str | None:
    """Why this host's QEMU cannot count instructions, or None (asks QEMU itself; no VM)."""
    try:
        proc = subprocess.run([QEMU_BINARY, "-accel", "help"], capture_output=True, text=True, timeout=30, check=False)
        usage = subprocess.run([QEMU_BINARY, "-help"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot ask {QEMU_BINARY} what it supports: {exc}"
    if "tcg" not in proc.stdout:
        return f"{QEMU_BINARY} has no TCG accelerator (it lists: {' '.join(proc.stdout.split()[1:]) or 'none'})"
    if "-icount" not in usage.stdout or "sleep=" not in usage.stdout:
        return f"{QEMU_BINARY} has no '-icount shift=N,sleep=off' (QEMU 2.x or later with TCG is needed)"
    return None


def _probe_xen(env: Environment, conns: Connections) -> Availability:
    if is_local(env.uri):
        caps = Path("/proc/xen/capabilities")
        if not caps.exists():
            return Availability(
                False,
                f"{env.name}: no Xen on this host (/proc/xen/capabilities missing: not a Xen dom0); "
                "run on a Xen host, point --hermit-libvirt-uri at one (xen+ssh://HOST/system), or use 'make xen-test'",
            )
        if "control_d" not in caps.read_text():
            return Availability(False, f"{env.name}: this is a Xen guest, not dom0 ({caps} lacks control_d)")
    conns.open(env)
    emulated, note = nested_in_emulator()
    return Availability(True, emulated=emulated, note=note)


def nested_in_emulator(dmi: Path = Path("/sys/class/dmi/id/sys_vendor")) -> tuple[bool, str]:
    """Whether this Xen host itself runs inside QEMU (the project's Xen lab, or nested virtualization).

    Numbers from a Xen nested in QEMU prove function, not speed. The lab also
    says so explicitly with HERMIT_EMULATED=1.
    """
    if os.environ.get("HERMIT_EMULATED", "").strip() not in ("", "0"):
        return True, "HERMIT_EMULATED is set: this host is emulated (e.g. the Xen lab in QEMU)"
    try:
        vendor = dmi.read_text().strip()
    except OSError:
        return False, ""
    if vendor == "QEMU":
        return True, f"the firmware vendor is {vendor} ({dmi}): this Xen host runs inside QEMU"
    return False, ""
