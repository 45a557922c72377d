"""The Debian kernel's own speed tests: raid6_pq and xor, loaded at a shell prompt.

The profile (pyproject.toml beside this file) boots the kernel to busybox's
prompt and types `modprobe -a raid6_pq xor`; each module times its routines
as it loads and prints MB/s. Under icount the kernel's clock is counted in
instructions, so the figures repeat exactly from boot to boot (two boots show it: one
value a side proves nothing); under qemu (TCG) they are the emulator's
real, noisy speed: two boots, the fewest a comparison can judge. A Linux guest does not boot where kvm
is only emulated (no VT-x behind /dev/kvm).
"""

import pytest


def test_raid6_and_xor(hermit_run, hermit_env):
    if hermit_env.emulated:
        pytest.skip(f"{hermit_env.name} is emulated here (no VT-x): a Linux guest does not boot")
    m = hermit_run("raid6_pq xor", boots=2, reps=1)
    for metric in ("raid6_sse2x1_gen", "raid6_xor", "xor_generic_sse"):
        assert m[metric].unit == "MB/s" and m[metric].median > 0
