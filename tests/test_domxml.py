"""Domain XML: golden files per environment, and libvirt's own schema check."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_hermit.errors import ConfigError
from pytest_hermit.vm.domxml import DomainSpec, render
from pytest_hermit.vm.environments import BUILTIN, Environment, load_registry

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


def _pinned(**keys: object) -> Environment:
    table = {"base": "qemu", "vcpus": 2, "cpuset": "1", "emulator_cpuset": "0", **keys}
    return load_registry({"environments": {"pinned": table}}, "pyproject.toml")["pinned"]


def test_pinning_matches_golden_file(tmp_path: Path) -> None:
    xml = render(_pinned(), SPEC)
    assert xml == (GOLDEN / "pinned.xml").read_text()
    if shutil.which("virt-xml-validate") is not None:
        path = tmp_path / "pinned.xml"
        path.write_text(xml)
        proc = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_cputune_without_pinning_and_emulator_alone() -> None:
    assert "<cputune" not in render(BUILTIN["qemu"], SPEC)
    table = {"environments": {"e": {"base": "qemu", "emulator_cpuset": "0-1,^1"}}}
    xml = render(load_registry(table, "pyproject.toml")["e"], SPEC)
    assert '<emulatorpin cpuset="0-1,^1" />' in xml
    assert "<vcpupin" not in xml


def test_pinning_is_recorded_only_when_set() -> None:
    # Unpinned definitions keep the dict (and the saved context ids) they had before pinning existed.
    assert "cpuset" not in BUILTIN["qemu"].as_dict()
    assert _pinned().as_dict()["cpuset"] == "1"
    assert _pinned().as_dict()["emulator_cpuset"] == "0"


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("cpuset", "1-", "'1-' is neither N, N-M nor ^N"),
        ("cpuset", "3-1", "range 3-1 runs backwards"),
        ("emulator_cpuset", "^0", "leaves no CPU"),
        ("emulator_cpuset", 0, "must be a non-empty string"),
    ],
)
def test_a_bad_cpuset_names_the_key_and_the_file(key: str, value: object, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _pinned(**{key: value})
    message = str(caught.value)
    assert message.startswith(f"pyproject.toml: [tool.hermit.environments.pinned]: {key} ")
    assert says in message
