"""The host fingerprint of a baseline: CPU, kernel, libvirt and hypervisor versions, read through libvirt.

Next to the probes because it asks the same connection the same kind of
question; the result is plain data (``gate.baselines.HostFingerprint``).
"""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hermit.gate import baselines as bl


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return ""


#: What a fingerprint field says when the host cannot tell (a remote host's kernel).
UNKNOWN = "unknown"

#: libvirt CPU models whose definition (cpu_map) includes svm, so capabilities
#: do not list svm as an extra feature on such hosts. Intel models never include vmx.
_MODELS_WITH_SVM = ("EPYC", "Opteron_G", "Dhyana")


@dataclass(frozen=True)
class HostCpu:
    """The host CPU as libvirt's capabilities XML describes it (``<host><cpu>``)."""

    #: libvirt's model name with vendor and CPUID signature: "Intel Skylake-Client-IBRS (family 6 model 142 ...)".
    model: str
    #: True when VT-x/AMD-V (vmx/svm) is there, False when not, None when the XML does not say.
    hw_virt: bool | None


def host_cpu(capabilities_xml: str) -> HostCpu:
    """Parse ``virConnectGetCapabilities`` output; unknown fields say ``unknown``, never raise."""
    try:
        root = ET.fromstring(capabilities_xml)
    except ET.ParseError:
        return HostCpu(UNKNOWN, None)
    cpu = root.find("host/cpu")
    if cpu is None:
        return HostCpu(UNKNOWN, None)
    vendor = (cpu.findtext("vendor") or "").strip()
    name = (cpu.findtext("model") or "").strip()
    model = " ".join(w for w in (vendor, name) if w) or UNKNOWN
    signature = cpu.find("signature")
    if signature is not None and model != UNKNOWN:
        parts = [f"{k} {signature.get(k)}" for k in ("family", "model", "stepping") if signature.get(k)]
        if parts:
            model += f" ({' '.join(parts)})"
    features = {f.get("name") for f in cpu.findall("feature")}
    if not name and not features:
        return HostCpu(model, None)
    hw_virt = bool(features & {"vmx", "svm"}) or name.startswith(_MODELS_WITH_SVM)
    return HostCpu(model, hw_virt)


def host_fingerprint(
    conn: Any, local: bool, signature: str | None, emulated: bool, domain_type: str = ""
) -> bl.HostFingerprint:
    """What the numbers depend on beyond the guest: CPU, kernel, libvirt and hypervisor versions.

    Locally the CPU comes from /proc/cpuinfo and the kernel from uname, as
    before. A remote host is described by libvirt's capabilities XML (model,
    vendor and CPUID signature of ``<host><cpu>``); libvirt does not report
    the host kernel, so it is ``unknown`` (two unknowns compare equal, an
    unknown and a known one do not). A remote kvm host without vmx/svm runs
    KVM's instruction emulator: its numbers are emulated.
    """

    def version(number: int) -> str:
        return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"

    if local:
        try:
            model = cpu_model(Path("/proc/cpuinfo").read_text()) or UNKNOWN
        except OSError:
            model = UNKNOWN
        kernel = platform.release() or UNKNOWN
    else:
        try:
            cpu = host_cpu(conn.getCapabilities())
        except Exception:  # noqa: BLE001 - a remote host that hides its CPU still has versions
            cpu = HostCpu(UNKNOWN, None)
        model, kernel = cpu.model, UNKNOWN
        emulated = emulated or (domain_type == "kvm" and cpu.hw_virt is False)
    return bl.HostFingerprint(
        cpu_model=model,
        host_kernel=kernel,
        libvirt_version=version(conn.getLibVersion()),
        qemu_version=version(conn.getVersion()),
        hypervisor_signature=signature or "",
        emulated=emulated,
    )
