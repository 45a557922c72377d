"""The guest image to boot: the user's kernel (+ initrd), or the reference guest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit._shipped import shipped
from pytest_hermit.errors import ConfigError
from pytest_hermit.results.profiles import BUILTIN, DEFAULT_PROFILE, GuestProfile


@dataclass(frozen=True)
class GuestImage:
    """What boots: kernel, optional initrd and ISO, the user's command line words, a hash, and its profile."""

    kernel: Path
    initrd: Path | None
    iso: Path | None
    cmdline: str
    sha256: str
    #: How to boot it and read its console (``results/profiles.py``).
    profile: GuestProfile = BUILTIN[DEFAULT_PROFILE]

    def command_line(self, workload: str, reps: int, extra: str = "") -> str:
        """User words first, then the profile's template, then the test's: a later word overrides an earlier one."""
        words = [self.cmdline, self.profile.command_line(workload, reps), extra]
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


def resolve(
    kernel: Path | None,
    initrd: Path | None,
    iso: Path | None,
    cmdline: str,
    profile: GuestProfile = BUILTIN[DEFAULT_PROFILE],
) -> GuestImage:
    """The guest to use: the given files (the command line's options win), the profile's, or the reference guest."""
    for key, given in (("kernel", kernel), ("initrd", initrd), ("iso", iso)):
        own = getattr(profile, key)
        if given is None and own is not None and not own.is_file():
            raise ConfigError(
                f"{profile.source}: [tool.hermit.guests.{profile.name}] {key} = {str(own)!r}: no such file "
                f"(paths are relative to the pyproject.toml; --hermit-{key} overrides it)"
            )
    kernel = kernel or profile.kernel
    initrd = initrd or profile.initrd
    iso = iso or profile.iso
    if kernel is None:
        if profile.name != DEFAULT_PROFILE:
            builtin = profile.source == "built-in"
            where = "built-in" if builtin else f"[tool.hermit.guests.{profile.name}] of {profile.source}"
            raise ConfigError(
                f"guest profile {profile.name!r} ({where}) names no kernel: pass --hermit-kernel"
                + ("" if builtin else ' or set kernel = "PATH" in its table')
            )
        reference = shipped("refguest.elf")
        if not reference.present:
            raise ConfigError(
                f"the reference guest is missing from the {reference.origin} ({reference.path}): "
                f"{reference.remedy}, or pass --hermit-kernel"
            )
        kernel = reference.path
    return GuestImage(kernel, initrd, iso, cmdline, image_hash(kernel, initrd), profile)
