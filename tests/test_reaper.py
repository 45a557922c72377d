"""The subreaper window: adopted orphans are reaped at once; children forked here never are."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from pytest_hermit.vm.reaper import ChildState, Reaper, children, is_adopted, parse_stat, reap_if_adopted_zombie


def test_parse_stat_survives_odd_command_names() -> None:
    text = "4242 (qemu) x (y)) Z 17 4242 4200 0 -1 4194560 0 0 0 0"
    assert parse_stat(text) == ("Z", 17, 4200)


def test_adopted_means_another_session_it_does_not_lead() -> None:
    own = 100
    assert not is_adopted(ChildState(200, "Z", own), own)  # forked here, same session
    assert not is_adopted(ChildState(200, "Z", 200), own)  # forked here, then setsid()
    assert is_adopted(ChildState(300, "Z", 250), own)  # a grandchild whose parent left for a new session


def _orphan_script(pid_file: Path, exit_after: float) -> str:
    """A child that leaves for a new session and forks a grandchild, as libvirt daemonizes QEMU."""
    return (
        "import os, sys, time\n"
        "os.setsid()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        f"    time.sleep({exit_after})\n"
        "    os._exit(0)\n"
        f"open({str(pid_file)!r}, 'w').write(str(pid))\n"
    )


def _state(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return parse_stat(text)[0]


def test_an_orphan_adopted_in_the_window_is_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    with Reaper.adopting() as active:
        subprocess.run([sys.executable, "-c", _orphan_script(pid_file, 0.3)], check=True)
        grandchild = int(pid_file.read_text())
        assert active
        assert grandchild in [c.pid for c in children()]  # adopted
    # It exits after the window closed: still reaped, not left a zombie.
    deadline = time.monotonic() + 10
    while _state(grandchild) is not None:
        assert time.monotonic() < deadline, f"adopted orphan {grandchild} left as {_state(grandchild)}"
        time.sleep(0.05)


def test_outside_the_window_orphans_are_not_ours(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    subprocess.run([sys.executable, "-c", _orphan_script(pid_file, 5)], check=True)
    grandchild = int(pid_file.read_text())
    try:
        assert grandchild not in [c.pid for c in children()]
    finally:
        os.kill(grandchild, 9)


def test_children_forked_here_keep_their_exit_status() -> None:
    """User code's own children: the reaper must not take their status, even inside a window."""
    with Reaper.adopting():
        plain = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
        leader = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(4)"], start_new_session=True)
        time.sleep(0.5)  # both are zombies for several of the reaper's looks
        Reaper.sweep()
        assert plain.wait(timeout=10) == 3
        assert leader.wait(timeout=10) == 4


def test_an_orphan_forked_by_a_thread_that_ends_is_still_reaped(tmp_path: Path) -> None:
    """libvirt forks QEMU from the worker thread of createXML, which ends right after.

    The thread's children move to a sibling thread as it exits; a listing
    taken meanwhile can miss them, and a missed QEMU stayed a zombie that
    libvirt's destroy waited 30 s for (a CI failure).
    """
    grandchildren = []
    for i in range(10):
        pid_file = tmp_path / f"grandchild{i}"
        with Reaper.adopting():
            worker = threading.Thread(
                target=subprocess.run, args=([sys.executable, "-c", _orphan_script(pid_file, 0.2)],), daemon=True
            )
            worker.start()
            worker.join()
        grandchildren.append(int(pid_file.read_text()))
    deadline = time.monotonic() + 10
    for grandchild in grandchildren:
        while _state(grandchild) is not None:
            assert time.monotonic() < deadline, f"adopted orphan {grandchild} left as {_state(grandchild)}"
            time.sleep(0.05)


def test_reaping_a_zombie_by_pid_takes_only_adopted_ones(tmp_path: Path) -> None:
    plain = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(5)"])
    deadline = time.monotonic() + 10
    while _state(plain.pid) != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not reap_if_adopted_zombie(plain.pid)  # forked here: its status is user code's
    assert plain.wait(timeout=10) == 5
    assert not reap_if_adopted_zombie(os.getpid())  # not a zombie, not a child
