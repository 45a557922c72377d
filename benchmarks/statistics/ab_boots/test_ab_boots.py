"""One A/B measurement for benchmarks/statistics/paired.py (collect step).

Run by paired.py collect; the conftest dumps image A's and image B's per-boot
values and the interleaved boot order to $HERMIT_AB_DUMP at session end.
"""


def test_basic(hermit_run):  # type: ignore[no-untyped-def]
    hermit_run("basic")
