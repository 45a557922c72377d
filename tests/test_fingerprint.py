"""Host fingerprints: libvirt capabilities XML parsed into what makes numbers comparable (no VM)."""

from __future__ import annotations

import json

from pytest_hermit.gate import baselines as bl
from pytest_hermit.vm.fingerprint import UNKNOWN, HostCpu, host_cpu, host_fingerprint

INTEL = """<capabilities>
  <host>
    <uuid>4c4c4544-0042-3510-8058-b3c04f4e3732</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>Skylake-Client-IBRS</model>
      <vendor>Intel</vendor>
      <microcode version='240'/>
      <signature family='6' model='142' stepping='9'/>
      <counter name='tsc' frequency='2712000000' scaling='no'/>
      <topology sockets='1' dies='1' cores='2' threads='2'/>
      <feature name='ds'/>
      <feature name='vmx'/>
      <feature name='pdcm'/>
      <pages unit='KiB' size='4'/>
    </cpu>
    <power_management><suspend_mem/></power_management>
  </host>
  <guest><os_type>hvm</os_type></guest>
</capabilities>"""

#: The same CPU inside a VM without nested virtualisation: no vmx.
INTEL_NESTED = INTEL.replace("<feature name='vmx'/>", "")

#: libvirt's EPYC model includes svm, so it is not listed as an extra feature.
AMD = """<capabilities><host><cpu>
  <arch>x86_64</arch><model>EPYC-Rome</model><vendor>AMD</vendor>
  <signature family='23' model='49' stepping='0'/>
  <feature name='x2apic'/><feature name='npt'/>
</cpu></host></capabilities>"""

AMD_OLD_MODEL = """<capabilities><host><cpu>
  <arch>x86_64</arch><model>qemu64</model><vendor>AMD</vendor><feature name='svm'/>
</cpu></host></capabilities>"""

NO_CPU = "<capabilities><host><uuid>x</uuid></host></capabilities>"


def test_the_host_cpu_is_read_from_capabilities() -> None:
    assert host_cpu(INTEL) == HostCpu("Intel Skylake-Client-IBRS (family 6 model 142 stepping 9)", True)
    assert host_cpu(INTEL_NESTED).hw_virt is False
    assert host_cpu(AMD) == HostCpu("AMD EPYC-Rome (family 23 model 49 stepping 0)", True)
    assert host_cpu(AMD_OLD_MODEL) == HostCpu("AMD qemu64", True)


def test_capabilities_that_do_not_say_give_unknown_not_an_error() -> None:
    assert host_cpu(NO_CPU) == HostCpu(UNKNOWN, None)
    assert host_cpu("not xml <") == HostCpu(UNKNOWN, None)
    assert host_cpu("<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>") == HostCpu(
        UNKNOWN, None
    )


class _Remote:
    """A libvirt connection's answers, as plain data (host_fingerprint only reads them)."""

    def __init__(self, capabilities: str) -> None:
        self.capabilities = capabilities

    def getCapabilities(self) -> str:
        return self.capabilities

    def getLibVersion(self) -> int:
        return 9_000_000

    def getVersion(self) -> int:
        return 7_002_009


def test_a_remote_host_is_fingerprinted_from_capabilities() -> None:
    fp = host_fingerprint(_Remote(INTEL), False, "KVMKVMKVM", False, "kvm")
    assert fp.cpu_model == "Intel Skylake-Client-IBRS (family 6 model 142 stepping 9)"
    assert fp.host_kernel == UNKNOWN  # libvirt does not report it: said, not left empty
    assert (fp.libvirt_version, fp.qemu_version, fp.emulated) == ("9.0.0", "7.2.9", False)


def test_a_remote_kvm_host_without_vmx_or_svm_is_emulated() -> None:
    assert host_fingerprint(_Remote(INTEL_NESTED), False, "KVMKVMKVM", False, "kvm").emulated is True
    # plain QEMU (TCG) is emulation by definition already; xen hosts are judged by their own probe
    assert host_fingerprint(_Remote(INTEL_NESTED), False, "TCGTCGTCGTCG", False, "qemu").emulated is False


def test_two_unknown_kernels_agree_but_unknown_and_known_do_not() -> None:
    remote = host_fingerprint(_Remote(INTEL), False, "KVMKVMKVM", False, "kvm")
    # The same remote host in another run, through the baseline's JSON: a fingerprint of its own.
    saved = bl.HostFingerprint(
        **json.loads(json.dumps(host_fingerprint(_Remote(INTEL), False, "KVMKVMKVM", False, "kvm").as_dict()))
    )
    assert saved is not remote and saved.host_kernel == remote.host_kernel == UNKNOWN
    assert remote.differences(saved) == [] and saved.differences(remote) == []
    local_kernel = bl.HostFingerprint(**{**remote.as_dict(), "host_kernel": "6.1.0-18-amd64"})
    assert remote.differences(local_kernel) == ["host_kernel 'unknown' vs '6.1.0-18-amd64'"]
