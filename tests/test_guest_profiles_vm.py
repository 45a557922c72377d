"""A guest we did not teach our formats, described by a guest profile alone, booted under icount.

The timing guest (``fixtures/timing``) behaves like a hypervisor test
suite's timing guest: test names on its command line, one ``name value``
line per test, out through QEMU's isa-debug-exit (QEMU then exits with
status 1). Each test here runs the plugin in a project folder of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, build_multiboot, run_pytest

pytestmark = pytest.mark.vm

PROFILE = """
[tool.hermit.guests.{name}]
kernel = "timing.elf"
cmdline = "{{workload}}"
qemu_args = ["-device", "pc-testdev", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4"]
{extra}
[[tool.hermit.guests.{name}.metrics]]
pattern = '^(?P<name>\\w+) (?P<value>[0-9]+)$'
unit = "cycles"
better = "lower"
"""

#: A metric the guest never prints, declared with a fixed name: it is required.
IPI = """
[[tool.hermit.guests.timing-ipi.metrics]]
pattern = '^ipi (?P<value>[0-9]+)$'
name = "ipi"
unit = "cycles"
better = "lower"
"""

TEST = """
def test_timing(hermit_run):
    m = hermit_run("cpuid vmcall", cmdline="repeat=2")
    assert set(m) == {"cpuid", "vmcall"}
"""


@pytest.fixture(scope="module")
def timing_guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The timing guest, built from fixtures/timing."""
    source = REPO / "fixtures" / "timing"
    flags = ("-fno-pic", "-fno-stack-protector", "-O1")
    elf = tmp_path_factory.mktemp("timing") / "timing.elf"
    return build_multiboot(elf, source / "start.S", source / "timing.c", flags=flags)


@pytest.fixture
def project(pytester: pytest.Pytester, timing_guest: Path) -> pytest.Pytester:
    """A project folder with the guest, its two profiles and one test."""
    (pytester.path / "timing.elf").write_bytes(timing_guest.read_bytes())
    pytester.makepyprojecttoml(
        PROFILE.format(name="timing", extra="") + PROFILE.format(name="timing-ipi", extra=IPI.strip())
    )
    pytester.makepyfile(TEST)
    return pytester


def metrics_of(report: Path) -> dict[str, dict[str, object]]:
    (run,) = json.loads(report.read_text())["runs"]
    return run["metrics"]  # type: ignore[no-any-return]


def test_a_profiled_guest_under_icount_repeats_exactly_and_compares_unchanged(project: pytest.Pytester) -> None:
    first = run_pytest(
        project, "--hermit-env=icount", "--hermit-guest=timing", "--hermit-save=base", "--hermit-json=1.json"
    )
    assert first.ret == 0, first.stdout.str()
    again = run_pytest(
        project, "--hermit-env=icount", "--hermit-guest=timing", "--hermit-compare=base", "--hermit-json=2.json"
    )
    assert again.ret == 0, again.stdout.str()
    saved, compared = metrics_of(project.path / "1.json"), metrics_of(project.path / "2.json")
    assert set(saved) == set(compared) == {"cpuid", "vmcall"}
    for name in saved:
        assert (saved[name]["unit"], saved[name]["direction"]) == ("cycles", "lower")
        per_boot = saved[name]["per_boot"]
        assert isinstance(per_boot, list) and all(len(boot) == 2 for boot in per_boot)  # repeat=2: two lines a boot
        assert compared[name]["per_boot"] == per_boot  # icount: the same numbers in every run
        comparison = compared[name]["comparison"]
        assert isinstance(comparison, dict) and comparison["verdict"] == "unchanged"
    assert saved["cpuid"]["median"] != saved["vmcall"]["median"]  # the names reached the guest


#: The profile chosen per test, not by --hermit-guest.
MARKED_TEST = """
import pytest

@pytest.mark.hermit(guest="timing-ipi")
def test_timing(hermit_run, hermit_guest):
    assert hermit_guest.profile.name == "timing-ipi" and hermit_guest.profile.required == ("ipi",)
    hermit_run("cpuid vmcall")
"""


def test_a_declared_metric_the_guest_never_prints_is_a_broken_run_naming_it(project: pytest.Pytester) -> None:
    project.makepyfile(MARKED_TEST)
    result = run_pytest(project, "--hermit-env=icount")
    assert result.ret == 6, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*the guest ended without metric(s) ipi declared by guest profile 'timing-ipi'*last console lines:",
            "*    cpuid *",
        ]
    )


def test_a_profile_metric_in_the_baseline_but_no_longer_read_is_refused(project: pytest.Pytester) -> None:
    saved = run_pytest(project, "--hermit-env=icount", "--hermit-guest=timing", "--hermit-save=base")
    assert saved.ret == 0, saved.stdout.str()
    # The same profile name now reads cpuid only: vmcall, in the baseline, is gone from the run.
    narrowed = (project.path / "pyproject.toml").read_text().replace("(?P<name>\\w+)", "(?P<name>cpuid)", 1)
    (project.path / "pyproject.toml").write_text(narrowed)
    result = run_pytest(project, "--hermit-env=icount", "--hermit-guest=timing", "--hermit-compare=base")
    assert result.ret == 7, result.stdout.str()
    result.stdout.fnmatch_lines(["*holds vmcall for this run, but the guest no longer printed it*"])
