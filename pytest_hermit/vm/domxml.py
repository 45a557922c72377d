"""Domain XML for one boot: a pure function of the environment and the guest.

Built with ElementTree (never string templates) so paths and command lines
with quotes or ampersands cannot break the document. The VM is as bare as
libvirt allows: direct kernel boot (or a GRUB ISO for Xen HVM), one serial
console, no disks, network, USB, graphics or balloon.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit.vm.environments import Environment

#: Firmware for direct kernel boot: qboot starts a kernel in milliseconds, SeaBIOS in seconds.
QBOOT = Path("/usr/share/qemu/qboot.rom")


@dataclass(frozen=True)
class DomainSpec:
    """What one boot needs beyond the environment."""

    name: str
    kernel: Path
    cmdline: str
    initrd: Path | None = None
    iso: Path | None = None
    firmware: Path | None = QBOOT
    #: Extra QEMU arguments (QEMU-based environments only): the guest profile's own, then
    #: ``-plugin ...`` under --hermit-profile; rendered after icount's.
    qemu_args: tuple[str, ...] = ()
    #: A file QEMU copies the serial port's output into (local QEMU only): the console's lost tail.
    serial_log: Path | None = None
    #: QEMU must end normally, never by SIGKILL (a TCG plugin writes its results at exit).
    graceful_exit: bool = False


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def render(env: Environment, spec: DomainSpec) -> str:
    """The libvirt domain XML for booting ``spec`` in ``env``."""
    domain = ET.Element("domain", {"type": env.domain_type})
    _sub(domain, "name", spec.name)
    _sub(domain, "memory", str(env.memory_mib), unit="MiB")
    _sub(domain, "vcpu", str(env.vcpus))
    _render_cputune(domain, env)
    _render_os(domain, env, spec)
    if not env.is_xen:
        features = _sub(domain, "features")
        _sub(features, "acpi")
    if env.cpu_model in ("host", "host-passthrough"):
        _sub(domain, "cpu", mode="host-passthrough", check="none")
    elif env.cpu_model == "host-model":
        _sub(domain, "cpu", mode="host-model", check="none")
    elif env.cpu_model:
        cpu = _sub(domain, "cpu", mode="custom", match="exact", check="none")
        _sub(cpu, "model", env.cpu_model, fallback="forbid")
        for feature in env.cpu_disabled_features:
            _sub(cpu, "feature", policy="disable", name=feature)
    # Any end of the guest ends the domain: a reboot after a triple fault
    # must not start the workload again behind our back.
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        _sub(domain, event, "destroy")
    _render_devices(domain, env, spec)
    if spec.qemu_args and env.is_xen:
        raise ValueError(f"environment {env.name} is Xen: it cannot take QEMU arguments {' '.join(spec.qemu_args)}")
    args = (ICOUNT_ARGS if env.icount else ()) + spec.qemu_args
    if args:
        _render_qemu_args(domain, args)
    ET.indent(domain, space="  ")
    return ET.tostring(domain, encoding="unicode") + "\n"


def _render_cputune(domain: ET.Element, env: Environment) -> None:
    """Pinning: every vCPU on ``cpuset``, QEMU's emulator threads on ``emulator_cpuset``."""
    if env.cpuset is None and env.emulator_cpuset is None:
        return
    cputune = _sub(domain, "cputune")
    if env.cpuset is not None:
        for vcpu in range(env.vcpus):
            _sub(cputune, "vcpupin", vcpu=str(vcpu), cpuset=env.cpuset)
    if env.emulator_cpuset is not None:
        _sub(cputune, "emulatorpin", cpuset=env.emulator_cpuset)


#: libvirt's namespace for QEMU command-line passthrough (the domain XML has no element for -icount).
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
ICOUNT_ARGS = ("-icount", "shift=0,sleep=off")
ET.register_namespace("qemu", QEMU_NS)


def _render_qemu_args(domain: ET.Element, args: tuple[str, ...]) -> None:
    """QEMU arguments the domain XML has no element for: icount's deterministic instruction
    counting (one instruction = one virtual ns, no sleeping in idle), a guest profile's own,
    and the profiling plugin."""
    commandline = ET.SubElement(domain, f"{{{QEMU_NS}}}commandline")
    for arg in args:
        ET.SubElement(commandline, f"{{{QEMU_NS}}}arg", {"value": arg})


def _render_os(domain: ET.Element, env: Environment, spec: DomainSpec) -> None:
    os_el = _sub(domain, "os")
    _sub(os_el, "type", env.os_type, arch="x86_64", machine=env.machine)
    if env.boot == "iso":
        _sub(os_el, "boot", dev="cdrom")
        return
    if not env.is_xen and spec.firmware is not None:
        _sub(os_el, "loader", str(spec.firmware), type="rom")
    _sub(os_el, "kernel", str(spec.kernel))
    if spec.initrd is not None:
        _sub(os_el, "initrd", str(spec.initrd))
    _sub(os_el, "cmdline", spec.cmdline)


def _render_devices(domain: ET.Element, env: Environment, spec: DomainSpec) -> None:
    devices = _sub(domain, "devices")
    if env.boot == "iso":
        if spec.iso is None:
            raise ValueError(f"environment {env.name} boots from an ISO but no ISO was given")
        disk = _sub(devices, "disk", type="file", device="cdrom")
        _sub(disk, "source", file=str(spec.iso))
        _sub(disk, "target", dev="hdc", bus="ide")
        _sub(disk, "readonly")
    if env.os_type == "xenpvh":
        # A PVH guest has no emulated UART: its console is the PV ring.
        console = _sub(devices, "console", type="pty")
        _sub(console, "target", type="xen", port="0")
        return
    serial = _sub(devices, "serial", type="pty")
    if spec.serial_log is not None and not env.is_xen:
        _sub(serial, "log", file=str(spec.serial_log), append="off")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    if not env.is_xen:
        _sub(devices, "controller", type="usb", model="none")
        _sub(devices, "memballoon", model="none")
