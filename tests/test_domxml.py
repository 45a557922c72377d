"""Domain XML: golden files per environment, and libvirt's own schema check."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_hermit.vm.domxml import DomainSpec, render
from pytest_hermit.vm.environments import BUILTIN

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "xml"
SPEC = DomainSpec(
    name="hermit-test-1",
    kernel=Path("/srv/guest/refguest.elf"),
    cmdline='workload=basic reps=5 note="a&b"',
    iso=Path("/srv/guest/refguest.iso"),
)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_matches_golden_file(name: str) -> None:
    expected = (GOLDEN / f"{name}.xml").read_text()
    assert render(BUILTIN[name], SPEC) == expected


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_valid_for_libvirt(name: str, tmp_path: Path) -> None:
    if shutil.which("virt-xml-validate") is None:
        pytest.skip("virt-xml-validate not installed (Debian: libvirt-clients)")
    path = tmp_path / f"{name}.xml"
    path.write_text(render(BUILTIN[name], SPEC))
    proc = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_initrd_and_special_characters_survive() -> None:
    spec = DomainSpec("n", Path("/k"), "a=<b> c='d'", initrd=Path("/i & j"))
    xml = render(BUILTIN["qemu"], spec)
    assert "<initrd>/i &amp; j</initrd>" in xml
    assert "<cmdline>a=&lt;b&gt; c='d'</cmdline>" in xml


def test_bare_vm_has_no_extra_devices() -> None:
    xml = render(BUILTIN["kvm"], SPEC)
    for device in ("<disk", "<interface", "<graphics", "<video", "<input"):
        assert device not in xml
    assert '<memballoon model="none" />' in xml
    assert '<controller type="usb" model="none" />' in xml


def test_hvm_needs_an_iso() -> None:
    with pytest.raises(ValueError, match="ISO"):
        render(BUILTIN["hvm"], DomainSpec("n", Path("/k"), ""))


@pytest.mark.parametrize(
    ("cpu", "expected"), [("host", 'mode="host-passthrough"'), ("host-model", 'mode="host-model"')]
)
def test_host_cpu_modes(cpu: str, expected: str, tmp_path: Path) -> None:
    from dataclasses import replace

    env = replace(BUILTIN["kvm"], cpu_model=cpu, cpu_disabled_features=())
    xml = render(env, SPEC)
    assert f"<cpu {expected}" in xml and "<model" not in xml
    if shutil.which("virt-xml-validate"):
        path = tmp_path / "d.xml"
        path.write_text(xml)
        assert (
            subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, check=False).returncode == 0
        )
