"""Host pools: which host of an environment's pool a test meets, and how many boots a host takes at once.

A test meets the same host run after run (a stable hash of its id over the
pool's usable hosts), so its baseline entry and its new numbers come from
one machine. When the pool changes (a host down, one added), the hash may
send a test elsewhere: then the host whose fingerprint matches the test's
baseline entry wins, so a comparison pairs a host with its own baseline
instead of being refused.

``max_parallel`` boots per host across processes (pytest-xdist workers,
two CI jobs) are counted with lock files under the state dir, one per
slot: parallel boots on one host disturb each other's numbers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

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


def _slot_dir(state_dir: Path, uri: str) -> Path:
    return state_dir / "hosts" / hashlib.sha256(uri.encode()).hexdigest()[:16]


@contextlib.contextmanager
def host_slot(state_dir: Path, uri: str, max_parallel: int) -> Iterator[int]:
    """Hold one of the host's ``max_parallel`` slots for the body (waits for a free one); yields its number.

    flock: a process that dies frees its slot with it, no stale lock to clear.
    """
    folder = _slot_dir(state_dir, uri)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "uri").write_text(uri + "\n")  # for a person looking at the folder
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
