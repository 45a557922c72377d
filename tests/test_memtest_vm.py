"""memtest86+ from its Debian package, driven by the profile of examples/memtest86 alone.

The example's own folder (pyproject.toml with the profile, its test file) is
copied into a fresh project, so what is tested is what a user copies. The
guest paints its screen on the serial port; the plugin replays it on a VT100
screen and reads the bandwidth figures from its rows. One boot per
environment and run: about 10 s under icount, 3 s under qemu.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, run_pytest

pytestmark = pytest.mark.vm

EXAMPLE = REPO / "examples" / "memtest86"
MEMTEST = Path("/boot/memtest86+x64.bin")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    if not MEMTEST.is_file():
        pytest.skip(f"{MEMTEST} missing: install the package memtest86+ (scripts/install-system-packages)")
    for name in ("pyproject.toml", "test_memtest86.py"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    return pytester


def metrics_of(report: Path) -> dict[str, dict[str, dict[str, object]]]:
    """{environment: {metric: its JSON entry}} of a --hermit-json report."""
    return {run["env"]: run["metrics"] for run in json.loads(report.read_text())["runs"]}


def test_memtest_bandwidth_saved_then_compared_unchanged_and_exact_under_icount(project: pytest.Pytester) -> None:
    first = run_pytest(project, "--hermit-env=icount,qemu", "--hermit-save=base", "--hermit-json=1.json")
    assert first.ret == 0, first.stdout.str()
    again = run_pytest(project, "--hermit-env=icount,qemu", "--hermit-compare=base", "--hermit-json=2.json")
    assert again.ret == 0, again.stdout.str()
    saved, compared = metrics_of(project.path / "1.json"), metrics_of(project.path / "2.json")
    for env in ("icount", "qemu"):
        # qemu64 without its L3 (the profile's qemu_args): L1, L2 and memory, no L3 row figure
        assert set(saved[env]) == set(compared[env]) == {"L1", "L2", "Memory"}, env
        for metric in saved[env].values():
            assert (metric["unit"], metric["direction"]) == ("MB/s", "higher")
    for name, metric in saved["icount"].items():
        # icount times memtest86+'s copy loops in instructions: the same figures in every boot
        assert compared["icount"][name]["per_boot"] == metric["per_boot"], name
        assert compared["icount"][name]["comparison"]["verdict"] == "unchanged", name  # type: ignore[index]
