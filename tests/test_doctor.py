"""``pytest-hermit doctor``: the plugin's own probes, per environment, on this host (nothing boots)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_hermit.cli.doctor import EnvReport, render_lines
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED
from tests.conftest import STATE_DIR, hermit_cli

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no qemu-system-x86_64 here")
GUEST = {"kernel": "/g/refguest.elf", "source": "the reference guest", "sha256": "ab" * 32, "pyproject": None}


def doctor(folder: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = hermit_cli(folder, "doctor", "--json", f"--state-dir={STATE_DIR}", *args, timeout=120)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}


def report(name: str, available: bool, reason: str = "", emulated: bool = False) -> EnvReport:
    return EnvReport(name, f"{name} env", available, reason, emulated, "", ("QEMU 7.2",), "/g/refguest.elf", "load 0.1")


@needs_qemu
def test_doctor_lists_the_users_environments_beside_the_built_in_ones_each_with_its_answer(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.hermit.environments.small]\nbase = "icount"\nmemory = 256\n\n'
        '[tool.hermit.environments.far]\nbase = "qemu"\nuri = "qemu+tcp://127.0.0.1:1/system"\n'
    )
    status, doc = doctor(tmp_path)
    assert status == EXIT_OK, doc
    envs = {e["name"]: e for e in doc["environments"]}
    assert list(envs) == ["kvm", "qemu", "hvm", "pvh", "icount", "small", "far"]
    assert envs["icount"]["available"] and envs["qemu"]["available"] and envs["small"]["available"]
    assert (
        not envs["far"]["available"] and "cannot connect to libvirt at qemu+tcp://127.0.0.1:1" in envs["far"]["reason"]
    )
    assert any(f.startswith("QEMU ") for f in envs["icount"]["facts"])
    assert "instructions executed" in envs["icount"]["note"]
    assert doc["guest"]["kernel"].endswith("guest/build/refguest.elf") and doc["guest"]["pyproject"].startswith(
        str(tmp_path)
    )
    assert set(doc["can_run"]) >= {"qemu", "icount", "small"} and doc["exit_status"] == EXIT_OK


@needs_qemu
def test_doctor_exits_6_when_no_environment_can_boot_the_configured_guest(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nhermit_kernel = "build/kernel.elf"\n')
    status, doc = doctor(tmp_path)
    assert status == EXIT_BROKEN and doc["can_run"] == []
    missing = str(tmp_path / "build" / "kernel.elf")
    envs = {e["name"]: e for e in doc["environments"]}
    assert missing in envs["icount"]["reason"] and missing in envs["qemu"]["reason"]
    assert missing in doc["guest"]["problem"]


def test_a_broken_tool_hermit_table_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.hermit.environments.x]\nbase = "vmware"\n')
    done = hermit_cli(tmp_path, "doctor", f"--state-dir={STATE_DIR}", timeout=120)
    assert done.returncode == EXIT_REFUSED
    assert str(tmp_path / "pyproject.toml") in done.stderr and "'base' must be one of" in done.stderr


def test_an_unavailable_environment_shows_its_reason_and_no_guest() -> None:
    lines = render_lines([report("kvm", False, "no /dev/kvm: load the kvm module"), report("qemu", True)], GUEST)
    assert lines[0] == "kvm   not available: no /dev/kvm: load the kvm module"
    assert not any("boots" in line for line in lines[:2])
    assert lines[2] == "qemu  available: qemu env"
    assert "can run: qemu  (pytest --hermit-env=qemu)" in lines


def test_an_emulated_environment_runs_but_is_left_out_of_the_suggested_command() -> None:
    """KVM without VT-x/AMD-V proves function, not speed: doctor does not suggest measuring with it."""
    lines = render_lines([report("kvm", True, emulated=True), report("qemu", True), report("icount", True)], GUEST)
    assert "can run: kvm, qemu, icount  (pytest --hermit-env=qemu,icount)" in lines
    assert lines[-1] == "emulated here, function only, not speed: kvm (left out of the line above)"
    only = render_lines([report("kvm", True, emulated=True)], GUEST)
    assert "can run: kvm  (pytest --hermit-env=kvm)" in only  # nothing better: it is still what runs


def test_nothing_available_says_so_in_the_last_line() -> None:
    lines = render_lines([report("kvm", False, "no /dev/kvm")], GUEST)
    assert lines[-1].startswith("can run: nothing (exit 6)")


def test_doctor_says_whether_hermit_profile_can_run_and_why_not() -> None:
    broken = render_lines([report("qemu", True)], {**GUEST, "profiling": "profiling is unavailable: no header"})
    assert "--hermit-profile: profiling is unavailable: no header" in broken
    built = render_lines([report("qemu", True)], {**GUEST, "profiling": None})
    assert any(line.startswith("--hermit-profile: available (") for line in built)
