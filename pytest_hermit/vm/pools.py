"""Host pools: which host of an environment's pool a test meets, and how many boots a host takes at once.

A test meets the same host run after run (a stable hash of its id over the
pool's usable hosts), so its baseline entry and its new numbers come from
one machine. When the pool changes (a host down, one added), the hash may
send a test elsewhere: then the host whose fingerprint matches the test's
baseline entry wins, so a comparison pairs a host with its own baseline
instead of being refused.

``max_parallel`` boots per host across processes (pytest-xdist workers,
two CI jobs) are counted with lock files under the state dir, one per
slot: parallel boots on one host disturb each other's numbers. The slots
belong to the machine a URI names, not to the URI: every process's
embedded driver has a root of its own (``qemu:///embed?root=...``), and
``qemu:///system`` boots on the same CPUs as ``qemu:///embed``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pytest_hermit.gate import baselines as bl

#: How often a process waiting for a host slot looks again.
_POLL_S = 0.05


def spread(test_id: str, hosts: Sequence[str]) -> str:
    """The host of ``hosts`` that ``test_id`` meets: the same one in every run and process."""
    if not hosts:
        raise ValueError("a pool needs at least one host")
    digest = hashlib.sha256(test_id.encode()).digest()
    return hosts[int.from_bytes(digest[:8], "big") % len(hosts)]


def matching(saved: bl.HostFingerprint, candidates: Mapping[str, bl.HostFingerprint]) -> str | None:
    """The first host whose machine (CPU, kernel, libvirt, QEMU) is the one ``saved`` was measured on.

    The hypervisor signature is left out: it is known only after a boot,
    and it follows from the environment, not from the host.
    """
    for uri, fingerprint in candidates.items():
        diffs = saved.differences(fingerprint)
        if not [d for d in diffs if not d.startswith("hypervisor_signature ")]:
            return uri
    return None


#: The machine a URI without a host name boots on.
LOCAL_HOST = "localhost"


def host_of(uri: str) -> str:
    """The machine a libvirt URI boots on: its host name, or :data:`LOCAL_HOST` for a local driver.

    ``qemu+ssh://user@bench1:2222/system`` is ``bench1``; ``qemu:///system``,
    ``qemu:///embed?root=/tmp/x`` and ``xen:///system`` are all this machine.
    """
    host = urlsplit(uri).hostname
    return LOCAL_HOST if host in (None, "", "localhost", "127.0.0.1", "::1") else host


def _slot_dir(state_dir: Path, host: str) -> Path:
    return state_dir / "hosts" / hashlib.sha256(host.encode()).hexdigest()[:16]


@contextlib.contextmanager
def host_slot(state_dir: Path, uri: str, max_parallel: int) -> Iterator[int]:
    """Hold one of ``max_parallel`` slots of the machine ``uri`` boots on (waits for a free one); yields its number.

    flock: a process that dies frees its slot with it, no stale lock to clear.
    """
    host = host_of(uri)
    folder = _slot_dir(state_dir, host)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "host").write_text(host + "\n")  # for a person looking at the folder
    while True:
        for slot in range(max_parallel):
            fd = os.open(folder / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield slot
            finally:
                os.close(fd)
            return
        time.sleep(_POLL_S)
