"""GRUB ISOs per command line for CD-booting environments (Xen hvm), checked under plain QEMU."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_hermit.errors import EnvironmentUnavailable
from pytest_hermit.vm.iso import grub_cfg, grub_word, iso_for, tool_problem


def test_grub_words_round_trip_quoting() -> None:
    assert grub_word("workload=basic") == "workload=basic"
    assert grub_word("a b") == "'a b'"
    assert grub_word("it's") == "'it'\\''s'"
    cfg = grub_cfg("workload=hello reps=1", has_initrd=True)
    assert "multiboot /boot/kernel workload=hello reps=1" in cfg
    assert "module /boot/initrd initrd" in cfg


@pytest.mark.skipif(shutil.which("grub-mkrescue") is None, reason="grub-mkrescue not installed (grub-pc-bin)")
def test_iso_boots_with_its_command_line(reference_guest: Path, tmp_path: Path) -> None:
    iso = iso_for(reference_guest, None, "workload=hello reps=1", tmp_path / "isos", "sha")
    assert iso_for(reference_guest, None, "workload=hello reps=1", tmp_path / "isos", "sha") == iso, "cached"
    proc = subprocess.run(
        [
            "timeout",
            "60",
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            "128",
            "-display",
            "none",
            "-nodefaults",
            "-serial",
            "stdio",
            "-no-reboot",
            "-cdrom",
            str(iso),
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    out = proc.stdout.decode(errors="replace")
    assert "Hello World!!!" in out and "HERMIT-DONE status=ok" in out, out[-2000:]


def test_missing_grub_mkrescue_is_named_before_any_boot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, reference_guest: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = tool_problem()
    assert problem is not None and "grub-mkrescue not found" in problem and "--hermit-iso" in problem
    with pytest.raises(EnvironmentUnavailable, match="grub-mkrescue not found"):
        iso_for(reference_guest, None, "workload=hello", tmp_path / "isos", "0" * 64)
