"""The guest image to boot: the user's kernel (+ initrd), or the reference guest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit._shipped import shipped
from pytest_hermit.errors import ConfigError


@dataclass(frozen=True)
class GuestImage:
    """What boots: kernel, optional initrd and ISO, the user's command line words, and a hash."""

    kernel: Path
    initrd: Path | None
    iso: Path | None
    cmdline: str
    sha256: str

    def command_line(self, workload: str, reps: int, extra: str = "") -> str:
        """User words first, then ours, then the test's: a later word overrides an earlier one."""
        words = [self.cmdline, f"workload={workload}", f"reps={reps}", extra]
        return " ".join(w for w in words if w)


def image_hash(*paths: Path | None) -> str:
    """sha256 over the files that make the guest (what a baseline is tied to)."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def resolve(kernel: Path | None, initrd: Path | None, iso: Path | None, cmdline: str) -> GuestImage:
    """The guest to use: the given files, or the reference guest (``_shipped.py`` says where it is looked up)."""
    if kernel is None:
        reference = shipped("refguest.elf")
        if not reference.present:
            raise ConfigError(
                f"the reference guest is missing from the {reference.origin} ({reference.path}): "
                f"{reference.remedy}, or pass --hermit-kernel"
            )
        kernel = reference.path
    return GuestImage(kernel, initrd, iso, cmdline, image_hash(kernel, initrd))
