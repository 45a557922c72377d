"""The boot's clean-up paths and limits, on plain objects and real descriptors (no VM)."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_hermit.errors import RunError
from pytest_hermit.vm import connections
from pytest_hermit.vm.boot import LibvirtStuck, _clean_up, bounded
from pytest_hermit.vm.console import read_lines
from pytest_hermit.vm.runner import safe_name


def test_bounded_gives_up_on_a_stuck_call_and_names_it() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(LibvirtStuck, match="libvirt did not start the domain within 0 s"):
        bounded("start the domain", 0.2, lambda: release.wait(30))
    assert time.monotonic() - started < 5
    release.set()


def test_bounded_passes_results_and_errors_through() -> None:
    assert bounded("answer", 5, lambda: 42) == 42
    finished = threading.Event()

    def fail() -> None:
        raise ValueError("from libvirt")

    with pytest.raises(ValueError, match="from libvirt"):
        bounded("fail", 5, fail, finished)
    assert finished.is_set()


class _FakeLibvirt:
    class libvirtError(Exception):
        def get_error_code(self) -> int:
            return 1

    VIR_ERR_NO_DOMAIN = 42
    VIR_ERR_OPERATION_INVALID = 55


class _Conns:
    """What clean-up asks of Connections: the libvirt module, no QEMU pid, no QEMU log."""

    libvirt = _FakeLibvirt

    def qemu_pid(self, name: str) -> None:
        return None

    def qemu_log(self, name: str) -> None:
        return None


class _BrokenConn:
    def lookupByName(self, name: str) -> Any:
        raise _FakeLibvirt.libvirtError("libvirt's connection is gone")


def test_a_failing_destroy_never_replaces_the_boots_own_error() -> None:
    interrupt = KeyboardInterrupt()
    _clean_up(_Conns(), _BrokenConn(), "hermit-qemu-1-1-aaaaaa", None, interrupt)  # type: ignore[arg-type]
    assert any("could not destroy domain hermit-qemu-1-1-aaaaaa" in n for n in interrupt.__notes__)


def test_a_failing_destroy_after_a_good_boot_is_a_broken_run() -> None:
    with pytest.raises(RunError, match="could not destroy domain"):
        _clean_up(_Conns(), _BrokenConn(), "hermit-qemu-1-1-aaaaaa", None, None)  # type: ignore[arg-type]


def test_console_reads_from_descriptors_above_1023(tmp_path: Path) -> None:
    """select() cannot watch fd 1024 and up; a long session with many open files gets there."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < 2048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    read_fd, write_fd = os.pipe()
    high = os.dup2(read_fd, 1500)
    os.close(read_fd)
    try:
        os.write(write_fd, b"hello\nworld\n")
        os.close(write_fd)
        seen: list[str] = []
        outcome = read_lines(
            high, tmp_path / "t.log", lambda line: seen.append(line) or False, timeout=10, started=time.monotonic()
        )
        assert seen == ["hello", "world"] and outcome.ended
    finally:
        os.close(high)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_transcript_folders_of_different_tests_never_collide() -> None:
    long_a = "tests/test_x.py::test_" + "y" * 200 + "[kvm]"
    long_b = "tests/test_x.py::test_" + "y" * 200 + "[qemu]"
    names = {safe_name(t) for t in (long_a, long_b, "t.py::test[a/b]", "t.py::test[a_b]")}
    assert len(names) == 4
    assert all(len(n) < 120 and "/" not in n for n in names)
    assert safe_name("t.py::test[a/b]") == safe_name("t.py::test[a/b]")


def test_short_root_links_live_in_a_private_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_root = tmp_path / ("r" * 60)
    link = connections._short_path(long_root)
    assert link.resolve() == long_root.resolve()
    folder = link.parent
    st = os.lstat(folder)
    assert st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


def test_a_planted_shared_folder_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o777)
    os.chmod(planted, 0o777)  # as another user's folder open to all would be
    monkeypatch.setattr(connections, "_PRIVATE_TMP", planted)
    chosen = connections._private_tmp()
    assert chosen != planted
    assert os.lstat(chosen).st_mode & 0o077 == 0
