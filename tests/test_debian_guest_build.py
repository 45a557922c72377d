"""scripts/build-debian-guest: what the Debian kernel guest's initramfs holds, read back from its cpio archive.

No VM: the archive is unpacked here (newc headers) and checked for what the
boot needs: busybox as /bin/sh, /init, /dev/console, the speed-test modules
with a modules.dep that names them, and the same bytes when built twice.
"""

from __future__ import annotations

import gzip
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "build-debian-guest"


@dataclass(frozen=True)
class Entry:
    mode: int
    data: bytes
    rdev: tuple[int, int]


def read_newc(archive: bytes) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    pos = 0
    while True:
        assert archive[pos : pos + 6] == b"070701", f"no newc header at {pos}"
        fields = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, name_size = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        name_at = pos + 110
        name = archive[name_at : name_at + name_size - 1].decode()
        data_at = name_at + name_size + (-(110 + name_size) % 4)
        if name == "TRAILER!!!":
            return entries
        entries[name] = Entry(mode, archive[data_at : data_at + size], rdev)
        pos = data_at + size + (-size % 4)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("debian-guest")
    run = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        pytest.skip(f"the Debian packages are not installed ({run.stderr.strip()}): run 'make deps'")
    return out


def test_initramfs_boots_busybox_to_a_prompt(built: Path) -> None:
    files = read_newc(gzip.decompress((built / "initrd.gz").read_bytes()))
    assert stat.S_ISREG(files["bin/busybox"].mode) and files["bin/busybox"].data[:4] == b"\x7fELF"
    assert stat.S_ISLNK(files["bin/sh"].mode) and files["bin/sh"].data == b"busybox"
    assert stat.S_ISLNK(files["bin/modprobe"].mode)
    assert stat.S_ISCHR(files["dev/console"].mode) and files["dev/console"].rdev == (5, 1)
    init = files["init"]
    assert init.mode & 0o111 and init.data.startswith(b"#!/bin/sh\n")
    assert b"PS1='hermit# '" in init.data and init.data.rstrip().endswith(b"exec /bin/sh")


def test_initramfs_holds_the_speed_test_modules_and_their_modules_dep(built: Path) -> None:
    release = (built / "version").read_text().strip()
    files = read_newc(gzip.decompress((built / "initrd.gz").read_bytes()))
    moddir = f"lib/modules/{release}"
    dep = files[f"{moddir}/modules.dep"].data.decode()
    listed = {line.split(":")[0] for line in dep.splitlines()}
    for module in ("kernel/lib/raid6/raid6_pq.ko", "kernel/crypto/xor.ko", "kernel/crypto/tcrypt.ko"):
        assert module in listed
    for module in listed:  # every module modules.dep names is there, with its dependencies
        assert files[f"{moddir}/{module}"].data[:4] == b"\x7fELF", module
        needs = next(line for line in dep.splitlines() if line.startswith(f"{module}:")).split(":")[1].split()
        assert set(needs) <= listed, module


def test_a_second_build_changes_nothing(built: Path) -> None:
    before = {name: (built / name).read_bytes() for name in ("initrd.gz", "vmlinuz", "version")}
    mtimes = {name: (built / name).stat().st_mtime_ns for name in before}
    subprocess.run([sys.executable, str(SCRIPT), str(built)], check=True)
    assert {name: (built / name).read_bytes() for name in before} == before
    assert {name: (built / name).stat().st_mtime_ns for name in before} == mtimes  # make sees them current
