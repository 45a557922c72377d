"""memtest86+'s cache and memory bandwidth, read from its screen: two boots each run.

The profile (pyproject.toml beside this file) says how to boot it and what
to read; the test only asks for the figures. Under icount memtest86+ times
its copy loops by instructions, not time: every level shows the same figure,
the same in every boot (a code path's cost, exact: two boots show it). Under qemu (TCG) the
figures are the emulator's real speed, noisy: two boots, the fewest a
comparison with a baseline can judge. Where kvm is only emulated (no VT-x
behind /dev/kvm) memtest86+ does not run: KVM's instruction emulator stops
at its start ("KVM internal error ... emulation failure").
"""

import pytest


def test_bandwidth(hermit_run, hermit_env):
    if hermit_env.emulated:
        pytest.skip(f"{hermit_env.name} is emulated here (no VT-x): KVM's emulator cannot run memtest86+")
    m = hermit_run("bandwidth", boots=2, reps=1)
    for level in ("L1", "L2", "Memory"):
        assert m[level].unit == "MB/s" and m[level].median > 0
