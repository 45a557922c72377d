"""The one build step pyproject.toml cannot declare: the reference guest goes into the wheel.

``build_py`` also runs ``make -C guest`` (system gcc, binutils; seconds) and copies
the two images it builds, and the documented CI workflow ``pytest-hermit init``
writes, into ``pytest_hermit/shipped/`` of the build (``pytest_hermit/_shipped.py``
reads them there). A setuptools command rather than a separate build backend:
the standard backend stays in charge of everything else, the sdist carries
``guest/`` (MANIFEST.in) so a wheel built from it builds the guest the same way,
and an editable install skips the step (a checkout boots ``guest/build`` itself).
Everything else is in pyproject.toml.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: What the wheel ships: file in this tree -> name under pytest_hermit/shipped/.
GUEST_IMAGES = ("build/refguest.elf", "build/refguest-pvh.elf")
WORKFLOW = ROOT / "docs" / "github-actions.yml"


class BuildPyWithGuest(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        guest = ROOT / "guest"
        # The ISO is not built: grub-mkrescue is not needed to build a wheel,
        # and the plugin makes an ISO per command line on demand anyway.
        try:
            subprocess.run(["make", "-s", "-C", str(guest), *GUEST_IMAGES], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(
                f"building the reference guest failed ({exc}): it needs make, gcc and binutils for x86-64 "
                "(Debian/Ubuntu: apt-get install make gcc binutils)"
            ) from None
        target = Path(self.build_lib) / "pytest_hermit" / "shipped"
        target.mkdir(parents=True, exist_ok=True)
        for image in GUEST_IMAGES:
            self.copy_file(str(guest / image), str(target / Path(image).name))
        self.copy_file(str(WORKFLOW), str(target / WORKFLOW.name))


setup(cmdclass={"build_py": BuildPyWithGuest})
