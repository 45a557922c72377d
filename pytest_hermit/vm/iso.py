"""GRUB ISOs for environments that boot from CD (Xen HVM), one per command line.

An HVM guest cannot be given a command line by libvirt when it boots from an
ISO: the words live in the ISO's grub.cfg. So the plugin writes a small ISO
for every (kernel, initrd, command line) it boots, with grub-mkrescue, and
keeps it in a cache keyed by their hash: the workloads of a session need a
handful, each made once (about a second).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest_hermit.durable as durable
from pytest_hermit.errors import EnvironmentUnavailable, RunError

_SAFE_WORD = re.compile(r"[A-Za-z0-9_=:,./+@%-]+")


def grub_word(word: str) -> str:
    """A command line word as GRUB script reads it back unchanged."""
    if _SAFE_WORD.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def grub_cfg(cmdline: str, has_initrd: bool) -> str:
    """grub.cfg that boots /boot/kernel by multiboot with ``cmdline`` at once, console on COM1."""
    words = " ".join(grub_word(w) for w in cmdline.split())
    lines = [
        "# written by pytest-hermit",
        "set timeout=0",
        "set default=0",
        "serial --unit=0 --speed=115200",
        "terminal_input serial",
        "terminal_output serial",
        'menuentry "hermit" {',
        f"    multiboot /boot/kernel {words}".rstrip(),
    ]
    if has_initrd:
        lines.append("    module /boot/initrd initrd")
    lines += ["    boot", "}", ""]
    return "\n".join(lines)


def tool_problem() -> str | None:
    """Why no ISO can be made here, or None: asked before a test boots, not in the middle of it."""
    if shutil.which("grub-mkrescue") is None:
        return (
            "grub-mkrescue not found: booting from a GRUB ISO (Xen hvm) needs it "
            "(Debian/Ubuntu: apt-get install grub-pc-bin grub-common xorriso mtools), or pass --hermit-iso"
        )
    return None


def iso_for(kernel: Path, initrd: Path | None, cmdline: str, cache: Path, guest_sha256: str) -> Path:
    """The cached ISO booting ``kernel`` with ``cmdline`` (made on first use)."""
    key = hashlib.sha256(f"{guest_sha256}\0{cmdline}".encode()).hexdigest()[:20]
    target = cache / f"{key}.iso"
    if target.is_file():
        return target
    problem = tool_problem()
    if problem is not None:
        raise EnvironmentUnavailable(problem)
    tool = shutil.which("grub-mkrescue")
    assert tool is not None
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hermit-iso-", dir=cache) as tmp:
        tree = Path(tmp) / "tree"
        (tree / "boot" / "grub").mkdir(parents=True)
        shutil.copyfile(kernel, tree / "boot" / "kernel")
        if initrd is not None:
            shutil.copyfile(initrd, tree / "boot" / "initrd")
        (tree / "boot" / "grub" / "grub.cfg").write_text(grub_cfg(cmdline, initrd is not None))
        partial = Path(tmp) / "out.iso"
        proc = subprocess.run([tool, "-o", str(partial), str(tree)], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not partial.is_file():
            raise RunError(f"grub-mkrescue could not make an ISO for {kernel}: {proc.stderr.strip()[-500:]}")
        durable.move_into_place(partial, target)  # a concurrent session sees the whole ISO or none
    return target
