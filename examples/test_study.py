"""The reference study in a few tests: what `make demo` runs.

Written only against the plugin's fixtures and public API, as a user's own
test file would be. Run it with `pytest examples --hermit-env=icount,qemu,kvm`.
"""

from __future__ import annotations

from typing import Any

from pytest_hermit import Environment


def plan(env: Environment, workload: str) -> dict[str, Any]:
    """How much to boot where.

    icount counts instructions: its numbers are exact, so its own default
    (one boot, one repetition) decides. Where the environment is only
    emulated (/dev/kvm without VT-x/AMD-V: every instruction goes through
    KVM's emulator, a page fault costs milliseconds) one small boot proves
    that it works; its numbers say nothing about speed. Elsewhere three
    boots of three repetitions show the noise a gate has to see through.
    """
    if env.emulated:
        small = {"basic": "iters=10 mallocs=1", "stream": "stream_n=2000"}.get(workload, "")
        return {"boots": 1, "reps": 1, "cmdline": small}
    normal = {"basic": "iters=100000 mallocs=16", "stream": "stream_n=200000"}.get(workload, "")
    if env.icount:
        return {"cmdline": normal}
    return {"boots": 3, "reps": 3, "cmdline": normal}


def test_basic(hermit_run, hermit_env):
    """getpid, sched_yield, malloc and first page access, in cycles (instructions under icount)."""
    m = hermit_run("basic", **plan(hermit_env, "basic"))
    for metric in ("getpid", "sched_yield", "malloc", "first_page_access"):
        assert m[metric].median > 0


def test_stream(hermit_run, hermit_env):
    """STREAM copy, scale, add and triad, in MB/s (the guest validates its results)."""
    m = hermit_run("stream", **{**plan(hermit_env, "stream"), "reps": 1})
    assert m["stream_triad"].median > 0


def test_boot(hermit_run, hermit_env):
    """Boot time as the guest sees it and as the host sees it, in ms."""
    m = hermit_run("hello", boots=1 if hermit_env.emulated else 3, reps=1)
    assert m["boot_time_guest"].median > 0
    assert m["boot_time_host"].median > 0
