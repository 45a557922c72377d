"""A second libvirt host for the tests: a libvirtd of our own, reachable only on loopback TCP.

The plugin's remote path (``qemu+tcp://...``: no embedded root, no QEMU of
ours to kill, a fingerprint read through libvirt) needs a real daemon, not a
fake. A root libvirtd has no option to move its state, sockets or QEMU
driver config away from /run/libvirt, /var/lib/libvirt and /etc/libvirt, so
it runs in a private mount namespace (``unshare --mount``) where those
folders are bind mounts of a temporary folder: nothing of it touches a
system libvirtd, and the mounts vanish with the daemon.

Between pytest and the daemon stands a small keeper process (this file run
as a script): it is a child subreaper, so the QEMUs that libvirtd
double-forks become *its* orphans and are reaped at once, as init reaps them
on a real host. Otherwise they would climb to pytest, whose own subreaper
window (``vm/reaper.py``) is meant for embedded QEMUs only.

Only 127.0.0.1 is ever used: the daemon listens there and nowhere else.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIBVIRTD = "/usr/sbin/libvirtd"
ADDRESS = "127.0.0.1"
#: The first connection makes the daemon probe QEMU (seconds under TCG hosts with a cold cache).
READY_WITHIN_S = 90.0
STOP_WITHIN_S = 15.0

#: Host folders the daemon writes or reads its QEMU driver config from -> our folder's sub-folder.
_RELOCATED = {
    "/run/libvirt": "run",
    "/var/lib/libvirt": "lib",
    "/var/cache/libvirt": "cache",
    "/var/log/libvirt": "log",
    "/etc/libvirt": "etc",
}


def daemon_conf(port: int, log_file: Path) -> str:
    """libvirtd.conf: plain TCP on loopback only, no TLS, no auth (nothing else can reach it)."""
    return (
        "\n".join(
            [
                "# written by the pytest-hermit test suite: a throwaway loopback host",
                "listen_tls = 0",
                "listen_tcp = 1",
                f'listen_addr = "{ADDRESS}"',
                f'tcp_port = "{port}"',
                'auth_tcp = "none"',
                'auth_unix_rw = "none"',
                'auth_unix_ro = "none"',
                f'log_outputs = "3:file:{log_file}"',
            ]
        )
        + "\n"
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the daemon may still lose it: then the start is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ADDRESS, 0))
        return int(s.getsockname()[1])


def why_not_startable() -> str | None:
    """Why this machine cannot run the loopback daemon, or None."""
    if sys.platform != "linux":
        return "a loopback libvirtd needs Linux mount namespaces"
    if os.geteuid() != 0:
        return "a loopback libvirtd runs as root in a private mount namespace; run the VM tests as root"
    if not os.access(LIBVIRTD, os.X_OK):
        return f"{LIBVIRTD} not found (Debian: apt-get install libvirt-daemon-system)"
    if shutil.which("unshare") is None:
        return "unshare not found (util-linux)"
    return None


@dataclass(frozen=True)
class Daemon:
    """A running loopback daemon."""

    uri: str
    port: int
    folder: Path
    #: The daemon's own PID (the keeper's child).
    pid: int

    @property
    def log(self) -> Path:
        return self.folder / "libvirtd.log"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _quiet_libvirt() -> Any:
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


def _wait_ready(uri: str, keeper: subprocess.Popen[bytes], within: float) -> str | None:
    """Until ``uri`` answers; None then, else why not."""
    lv = _quiet_libvirt()
    deadline = time.monotonic() + within
    last = ""
    while time.monotonic() < deadline:
        if keeper.poll() is not None:
            return f"libvirtd exited with status {keeper.returncode}"
        try:
            conn = lv.open(uri)
        except lv.libvirtError as exc:
            last = str(exc).strip()
            time.sleep(0.2)
            continue
        conn.close()
        return None
    return f"{uri} did not answer within {within:g} s ({last})"


def _destroy_domains(uri: str) -> None:
    lv = _quiet_libvirt()
    try:
        conn = lv.open(uri)
    except lv.libvirtError:
        return
    try:
        for domain in conn.listAllDomains(lv.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            with contextlib.suppress(lv.libvirtError):
                domain.destroy()
    finally:
        conn.close()


def _stop(keeper: subprocess.Popen[bytes], folder: Path) -> None:
    """SIGTERM the daemon, SIGKILL it if it lingers, and wait for the keeper (which reaps it).

    The keeper ends once nothing is left below it; a QEMU that outlived its
    daemon (libvirtd does not end its domains when it stops) is killed by
    the PID its driver recorded, never by name.
    """
    from pytest_hermit.vm.connections import end_leftover_qemus

    pid = _read_pid(folder / "daemon.pid")
    for sig in (signal.SIGTERM, signal.SIGKILL, None):
        if keeper.poll() is not None:
            break
        if sig is None:
            end_leftover_qemus(folder)  # its run/qemu holds the daemon's pid files
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid if pid is not None else keeper.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            keeper.wait(STOP_WITHIN_S)
    if keeper.poll() is None:
        keeper.kill()  # the keeper itself hangs: never leave it behind
    keeper.wait()


def _start(folder: Path, port: int) -> tuple[subprocess.Popen[bytes], Daemon | None, str]:
    for sub in _RELOCATED.values():
        (folder / sub).mkdir(parents=True, exist_ok=True)
    from pytest_hermit.vm.connections import qemu_conf

    conf = folder / "etc" / "libvirtd.conf"
    conf.write_text(daemon_conf(port, folder / "libvirtd.log"))
    (folder / "etc" / "qemu.conf").write_text(qemu_conf())
    pid_file = folder / "daemon.pid"
    pid_file.unlink(missing_ok=True)
    # The plugin's process exports LIBVIRT_LOG_OUTPUTS for its own libvirt;
    # the daemon must not inherit it (nor any other LIBVIRT_* or XDG_* path).
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(folder), "LANG": "C"}
    with (folder / "stderr.txt").open("wb") as stderr:
        keeper = subprocess.Popen(
            [sys.executable, __file__, str(folder), str(pid_file), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            env=env,
            start_new_session=True,  # a Ctrl-C of the test run must not reach the daemon before its teardown
        )
    uri = f"qemu+tcp://{ADDRESS}:{port}/system"
    problem = _wait_ready(uri, keeper, READY_WITHIN_S)
    pid = _read_pid(pid_file)
    if problem is not None or pid is None:
        return keeper, None, problem or "the keeper wrote no daemon PID"
    return keeper, Daemon(uri, port, folder, pid), ""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def running(folder: Path) -> Iterator[Daemon]:
    """A loopback daemon for the body; ``pytest.skip`` with the daemon's own words when it cannot start.

    At the end every domain left is destroyed, the daemon stopped by PID and
    reaped, and a QEMU that outlived it killed by the PID its driver recorded.
    """
    import pytest

    reason = why_not_startable()
    if reason is not None:
        pytest.skip(reason)
    for attempt in range(3):  # the free port may be taken between probing and binding
        try_folder = folder / f"try{attempt}"
        keeper, daemon, problem = _start(try_folder, free_port())
        if daemon is not None:
            break
        _stop(keeper, try_folder)
        details = "\n".join(t for t in (_tail(try_folder / "stderr.txt"), _tail(try_folder / "libvirtd.log")) if t)
        if "Address already in use" not in details:
            pytest.skip(f"the loopback libvirtd did not start: {problem}\n{details}")
    else:
        pytest.skip(f"the loopback libvirtd found no free port on {ADDRESS} in 3 tries: {problem}")
    try:
        yield daemon
    finally:
        try:
            _destroy_domains(daemon.uri)
        finally:
            _stop(keeper, daemon.folder)


# --- the keeper: this file run as a script --------------------------------------------------

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _kill_domain_qemus(folder: Path) -> None:
    """SIGKILL the QEMUs the daemon's pid files name (only a process whose command line says ``guest=``)."""
    for pid_file in (folder / "run" / "qemu").glob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if f"guest={pid_file.stem}".encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _keeper(folder: Path, pid_file: Path, conf: Path) -> int:
    """Start the daemon in a private mount namespace, reap every orphan below, forward SIGTERM/SIGINT.

    If the test run dies without its teardown (kill -9), the kernel sends
    the keeper SIGTERM (parent-death signal): it stops the daemon and kills
    the QEMUs left, so nothing of the test host outlives its run.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    parent = os.getppid()
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    orphaned = os.getppid() != parent  # died before the signal was armed
    binds = " && ".join(f'mount --bind "$1/{sub}" {target}' for target, sub in _RELOCATED.items())
    script = f'set -e; {binds}; exec {LIBVIRTD} --listen --config "$2"'
    # unshare without --fork and sh's exec keep one PID: the child is libvirtd itself.
    daemon = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder), str(conf)]
    )
    pid_file.write_text(f"{daemon.pid}\n")

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    if orphaned:
        forward(signal.SIGTERM, None)
    status = 0
    while True:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            return status  # nothing left below us: the daemon and every QEMU are gone
        except InterruptedError:
            continue
        if pid == daemon.pid:
            status = os.waitstatus_to_exitcode(wait_status)
            daemon.returncode = status  # reaped here, not by Popen
            if os.getppid() != parent:
                _kill_domain_qemus(folder)  # no teardown will come to destroy them


if __name__ == "__main__":
    sys.exit(_keeper(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
