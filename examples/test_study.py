"""The reference study in a few tests: what `make demo` runs.

Written only against the plugin's fixtures, as a user's own test file would
be. Run it with `pytest examples --hermit-env=kvm,qemu`.
"""

from __future__ import annotations

from pytest_hermit import Environment

#: Smaller problem sizes where the environment is only emulated (e.g. /dev/kvm
#: without VT-x/AMD-V, where every instruction goes through KVM's emulator).
SMALL = "iters=200 mallocs=4 stream_n=20000"


def sizes(env: Environment, normal: str = "") -> str:
    return SMALL if env.emulated else normal


def test_basic(hermit_run, hermit_env):
    """getpid, sched_yield, malloc and first page access, in cycles."""
    m = hermit_run("basic", boots=5, cmdline=sizes(hermit_env))
    for metric in ("getpid", "sched_yield", "malloc", "first_page_access"):
        assert m[metric].median > 0


def test_stream(hermit_run, hermit_env):
    """STREAM copy, scale, add and triad, in MB/s (the guest validates its results)."""
    m = hermit_run("stream", boots=2, reps=1, cmdline=sizes(hermit_env, "stream_n=2000000"))
    assert m["stream_triad"].median > 0


def test_boot(hermit_run):
    """Boot time as the guest sees it and as the host sees it, in ms."""
    m = hermit_run("hello", boots=5, reps=1)
    assert m["boot_time_guest"].median > 0
    assert m["boot_time_host"].median > 0
