"""libvirt connections: the event loop, the embedded QEMU driver and its roots.

Side effects live here so the rest of the plugin can stay plain data. One
process-wide event loop thread serves every connection (the embedded driver
and console streams need it). The embedded driver gets its own root under the
plugin's state directory, one slot per concurrent pytest process, so two runs
never fight over a root while each keeps its cached QEMU capabilities (their
first probe costs seconds).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pytest_hermit.errors import EnvironmentUnavailable
from pytest_hermit.vm.environments import EMBEDDED_QEMU, Environment

_MAX_SLOTS = 64


def import_libvirt(log_file: Path | None = None) -> Any:
    """Import libvirt-python quietly: its log goes to a file, not the terminal."""
    if log_file is not None:
        # Must be set before libvirt initialises; the embedded driver would
        # otherwise print its warnings (taint, xattr) into pytest's output.
        os.environ.setdefault("LIBVIRT_LOG_OUTPUTS", f"3:file:{log_file}")
    try:
        import libvirt
    except ImportError as exc:
        raise EnvironmentUnavailable(
            f"libvirt-python is not importable ({exc}); install it with 'pip install libvirt-python' "
            "(needs libvirt-dev and pkg-config) or run 'make demo'"
        ) from None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


class EventLoop:
    """libvirt's default event loop, run by one daemon thread per process."""

    _lock = threading.Lock()
    _started = False

    @classmethod
    def ensure(cls, libvirt: Any) -> None:
        with cls._lock:
            if cls._started:
                return
            libvirt.virEventRegisterDefaultImpl()

            def run() -> None:
                while True:
                    libvirt.virEventRunDefaultImpl()

            threading.Thread(target=run, name="libvirt-events", daemon=True).start()
            cls._started = True


def qemu_conf() -> str:
    """The QEMU driver's settings the plugin relies on (also what the tests' loopback daemon gets)."""
    lines = [
        "# written by pytest-hermit for libvirt's QEMU driver",
        'stdio_handler = "file"',  # no virtlogd daemon needed
        'security_driver = "none"',  # do not relabel the user's kernel files
        "namespaces = [ ]",  # a private /dev per VM costs start-up time and buys nothing here
        "remember_owner = 0",  # no xattrs on the user's files
        "dynamic_ownership = 0",
    ]
    if os.geteuid() == 0:
        lines += ['user = "root"', 'group = "root"']
    return "\n".join(lines) + "\n"


#: Open connections to embedded drivers, by URI, kept for the life of the
#: process: every fresh open of qemu:///embed registers the driver again, and
#: libvirt refuses after a couple of dozen ("Too many drivers, cannot
#: register QEMU") -- hit by a test suite that runs many pytest sessions in
#: one process.
_EMBEDDED: dict[str, Any] = {}

#: Roots this process claimed, by state dir. libvirt's embedded driver stays
#: loaded in the process once opened, so its root stays ours until exit.
_CLAIMED: dict[Path, Path] = {}


def claim_embed_root(state_dir: Path) -> Path:
    """A root for the embedded driver that no other live process uses (held until this process exits).

    On the way, QEMUs left running in roots whose owner died (``kill -9`` of
    a pytest) are ended: a free slot's lock proves its owner is gone. A new
    root gets the QEMU capabilities a sibling root already probed: probing
    costs seconds per QEMU binary, and libvirt re-probes by itself when the
    copy does not match this host's QEMU, libvirt or kernel.
    """
    key = state_dir.resolve()
    if key in _CLAIMED:
        return _CLAIMED[key]
    state_dir.mkdir(parents=True, exist_ok=True)
    claimed: Path | None = None
    for slot in range(_MAX_SLOTS):
        lock_path = state_dir / f"embed-{slot}.lock"
        if claimed is not None and not lock_path.exists():
            break
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        end_leftover_qemus(state_dir / f"embed-{slot}")
        if claimed is not None:
            os.close(fd)  # only swept: another process may claim it
            continue
        real = state_dir / f"embed-{slot}"
        (real / "etc").mkdir(parents=True, exist_ok=True)
        conf = real / "etc" / "qemu.conf"
        wanted = qemu_conf()
        if not conf.is_file() or conf.read_text() != wanted:
            conf.write_text(wanted)
        _seed_capabilities(state_dir, real)
        claimed = _short_path(real)
        _CLAIMED[key] = claimed  # the lock fd stays open on purpose
    if claimed is None:
        raise EnvironmentUnavailable(
            f"all {_MAX_SLOTS} embedded libvirt roots under {state_dir} are in use by live processes; "
            "end some of them, or pass another --hermit-state-dir"
        )
    return claimed


_CAPS = Path("cache") / "qemu" / "capabilities"


def _seed_capabilities(state_dir: Path, root: Path) -> None:
    target = root / _CAPS
    if target.is_dir() and any(target.glob("*.xml")):
        return
    for sibling in sorted(state_dir.glob(f"embed-*/{_CAPS}")):
        files = sorted(sibling.glob("*.xml"))
        if not files or sibling == target:
            continue
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            try:
                shutil.copyfile(f, target / f.name)
                os.chmod(target / f.name, 0o600)
            except OSError:
                continue  # a sibling rewriting its cache: libvirt probes what is missing
        return


#: How long a SIGKILLed leftover QEMU may take to die before its files are left to libvirt.
_KILL_WAIT_S = 5.0


def end_leftover_qemus(root: Path) -> list[int]:
    """SIGKILL the QEMUs of domains still running in ``root`` (whose owner is dead). Their PIDs.

    The embedded driver keeps ``run/qemu/NAME.pid`` per running domain. A
    PID counts only while the process is that domain's QEMU
    (``guest=NAME`` on its command line), never a recycled PID.
    """
    ended: list[tuple[int, str]] = []
    for pid_file in sorted((root / "run" / "qemu").glob("*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if not is_qemu_of(pid, pid_file.stem):
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
        ended.append((pid, pid_file.stem))
    # SIGKILL takes effect a moment later: until then the process still reads as
    # the domain's QEMU, and its files below would be kept (seen in one run of ten).
    deadline = time.monotonic() + _KILL_WAIT_S
    while any(is_qemu_of(pid, name) for pid, name in ended) and time.monotonic() < deadline:
        time.sleep(0.02)
    # The dead domains' status files: libvirt would try to reconnect to them
    # at its next start in this root and leave the pid files behind.
    for status in (root / "run" / "qemu").glob("hermit-*.xml"):
        pid_file = status.with_suffix(".pid")
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and is_qemu_of(pid, status.stem):
            continue  # SIGKILL not delivered yet, or not ours to kill: leave it to libvirt
        status.unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
    return [pid for pid, _ in ended]


def is_qemu_of(pid: int, name: str) -> bool:
    """The process is still this domain's QEMU (not a recycled PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return f"guest={name},".encode() in cmdline or cmdline.endswith(f"guest={name}".encode())


#: libvirt puts QEMU's monitor sockets under the root; a Unix socket path has
#: at most 107 bytes, and libvirt adds up to ~65 (domain-N-NAME/monitor.sock).
_MAX_ROOT_LEN = 40


def _short_path(root: Path) -> Path:
    """``root``, or a short symlink to it in a private folder of /tmp when its path is too long for sockets."""
    root.mkdir(parents=True, exist_ok=True)
    if len(str(root)) <= _MAX_ROOT_LEN:
        return root
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    link = _private_tmp() / digest
    if not (link.is_symlink() and link.resolve() == root.resolve()):
        link.unlink(missing_ok=True)
        link.symlink_to(root.resolve(), target_is_directory=True)
    return link


#: Not tempfile.gettempdir(): $TMPDIR may be long, and the point is a short path.
_PRIVATE_TMP = Path("/tmp") / f"pytest-hermit-{os.getuid()}"


def _private_tmp() -> Path:
    """A short folder only this user can write: ``/tmp/pytest-hermit-UID``, else a fresh one.

    The shared /tmp is anyone's: a link planted there could point our VMs'
    sockets elsewhere, so the folder must be a real directory of ours with
    no access for others.
    """
    folder = _PRIVATE_TMP
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    st = os.lstat(folder)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0:
        return folder
    fresh = Path(tempfile.mkdtemp(prefix="hermit-", dir="/tmp"))
    atexit.register(shutil.rmtree, fresh, ignore_errors=True)
    return fresh


class Connections:
    """Open libvirt connections by URI, for one pytest session."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._conns: dict[str, Any] = {}
        self._embed_root: Path | None = None
        self._lock = threading.Lock()
        self._libvirt: Any = None

    @property
    def libvirt(self) -> Any:
        if self._libvirt is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._libvirt = import_libvirt(self.state_dir / "libvirt.log")
            EventLoop.ensure(self._libvirt)
        return self._libvirt

    def resolve_uri(self, env: Environment) -> str:
        """The real URI of an environment (the embedded placeholder gets its root)."""
        if env.uri != EMBEDDED_QEMU:
            return env.uri
        if self._embed_root is None:
            self._embed_root = claim_embed_root(self.state_dir)
        return f"{EMBEDDED_QEMU}?root={self._embed_root}"

    @property
    def embed_root(self) -> Path | None:
        return self._embed_root

    def open(self, env: Environment) -> Any:
        """The connection for ``env``, opened once; the reason it cannot be opened otherwise."""
        uri = self.resolve_uri(env)
        with self._lock:
            if uri in self._conns:
                return self._conns[uri]
            lv = self.libvirt
            embedded = uri.startswith(EMBEDDED_QEMU)
            conn = _EMBEDDED.get(uri) if embedded else None
            if conn is None:
                try:
                    conn = lv.open(uri)
                except lv.libvirtError as exc:
                    raise EnvironmentUnavailable(f"cannot connect to libvirt at {uri}: {_first_line(exc)}") from None
            if embedded:
                self._probe_qemu(conn, uri)
                _EMBEDDED[uri] = conn
            self._conns[uri] = conn
            return conn

    def _probe_qemu(self, conn: Any, uri: str) -> None:
        """Have libvirt probe QEMU now, outside any subreaper window.

        QEMU's probe runs with -daemonize: its daemon is an orphan that
        leads its own session, and one adopted while a domain is created
        cannot be told from a child of user code, so it would stay a zombie.
        Only the x86_64 binary: getCapabilities() would probe every
        qemu-system-* installed (seconds each on a cold root).
        """
        lv = self.libvirt
        try:
            conn.getDomainCapabilities(None, "x86_64", None, "qemu", 0)
        except lv.libvirtError as exc:
            raise EnvironmentUnavailable(f"libvirt at {uri} cannot probe QEMU: {_first_line(exc)}") from None

    def qemu_log(self, domain_name: str) -> Path | None:
        """QEMU's own log of an embedded domain (its errors, the signal that ended it)."""
        if self._embed_root is None:
            return None
        return self._embed_root / "log" / "qemu" / f"{domain_name}.log"

    def qemu_pid(self, domain_name: str) -> int | None:
        """PID of a running embedded domain's QEMU (from the driver's pid file)."""
        if self._embed_root is None:
            return None
        try:
            return int((self._embed_root / "run" / "qemu" / f"{domain_name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        for uri, conn in self._conns.items():
            if _EMBEDDED.get(uri) is conn:
                continue  # stays open for the process (see _EMBEDDED)
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing must never mask the run's own outcome
                pass
        self._conns.clear()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
