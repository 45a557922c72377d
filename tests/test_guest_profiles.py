"""Guest profiles: loading and checking them, reading a console through them; no VM boots here."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path

import pytest

from pytest_hermit.errors import ConfigError, OutputError
from pytest_hermit.gate.git import GitState
from pytest_hermit.report.formats import benchmark_json
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.parsers import parse_transcript
from pytest_hermit.results.profile_parser import ProfileParser
from pytest_hermit.results.profiles import BUILTIN, GuestProfile, load_profiles
from pytest_hermit.results.samples import Direction, Samples
from pytest_hermit.vm.console import ReadOutcome, lost_tail, read_lines
from pytest_hermit.vm.domxml import DomainSpec, render
from pytest_hermit.vm.environments import BUILTIN as ENVS
from pytest_hermit.vm.environments import load_registry
from pytest_hermit.vm.guest import GuestImage, resolve
from tests.conftest import run_pytest

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
SOURCE = "/proj/pyproject.toml"


def timing(**extra: object) -> dict[str, object]:
    """A ``[tool.hermit]`` table with one profile for a 'name value' guest (``extra`` replaces keys)."""
    body: dict[str, object] = {
        "kernel": "build/timing.elf",
        "cmdline": "{workload}",
        "qemu_args": ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x4"],
        "metrics": [{"pattern": r"^(?P<name>\w+) (?P<value>[0-9.]+)$", "unit": "cycles", "better": "lower"}],
    }
    body.update(extra)
    return {"guests": {"timing": body}}


def profile(**extra: object) -> GuestProfile:
    return load_profiles(timing(**extra), SOURCE)["timing"]


def test_a_profile_reads_its_keys_with_paths_relative_to_the_pyproject() -> None:
    p = profile(end="^done$", timeout=30, input=[{"expect": "# ", "send": "run {workload} {reps}\n"}])
    assert p.kernel == Path("/proj/build/timing.elf") and p.initrd is None
    assert p.qemu_args == ("-device", "isa-debug-exit,iobase=0xf4,iosize=0x4")
    assert p.command_line("cpuid vmcall", 3) == "cpuid vmcall"
    assert p.timeout == 30.0 and p.end is not None and p.end.pattern == "^done$"
    assert [(s.expect.pattern, s.send) for s in p.inputs] == [("# ", "run {workload} {reps}\n")]
    assert p.metrics[0].unit == "cycles" and p.metrics[0].better is Direction.LOWER_IS_BETTER
    assert set(load_profiles(timing(), SOURCE)) == {"reference", "hermitcore", "linux", "timing"}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"kernal": "x"}, "[tool.hermit.guests.timing]: unknown key(s) kernal"),
        (
            {"metrics": [{"pattern": "^(?P<name>\\w+ (?P<value>\\d+)$", "unit": "c", "better": "lower"}]},
            "metrics #1: pattern: pattern '^(?P<name>\\\\w+ (?P<value>\\\\d+)$' does not compile",
        ),
        (
            {"metrics": [{"pattern": "^(?P<name>\\w+) (\\d+) (\\d+)$", "unit": "c", "better": "lower"}]},
            "lacks a value group",
        ),
        (
            {"metrics": [{"pattern": "^(?P<name>\\w+) (?P<value>\\d+)$", "unit": "c", "better": "faster"}]},
            'metrics #1: better must be "lower" or "higher", found \'faster\'',
        ),
        ({"metrics": [{"pattern": "^x (?P<value>\\d+)$", "unit": "c", "better": "lower"}]}, "no (?P<name>...) group"),
        ({"metrics": [{"pattern": "^(?P<name>\\w+) (?P<value>\\d+)$", "better": "lower"}]}, "unit missing"),
        ({"metrics": [{"pattern": "(?P<value>1)", "name": "a", "unit": "c", "better": "lower", "speed": 1}]}, "speed"),
        ({"metrics": []}, "declare at least one metric"),
        ({"qemu_args": "-device pc-testdev"}, "qemu_args must be a list of strings"),
        ({"timeout": "long"}, "timeout must be a positive number of seconds"),
        ({"console": "vga"}, 'console must be "lines" or "screen"'),
        ({"cmdline": "{workload} {boots}"}, "cmdline: '{workload} {boots}' uses {boots}"),
        ({"input": [{"expect": "# "}]}, "input #1: send missing"),
        ({"end": "(unclosed"}, "end: pattern '(unclosed' does not compile"),
        (
            {
                "metrics": [
                    {"pattern": r"bw (\d+) MB/s", "name": "bw", "unit": "MB/s", "better": "higher"},
                    {"pattern": r"bw (\d+) s/GB", "name": "bw", "unit": "s/GB", "better": "lower"},
                ]
            },
            "metrics #1 and #2 both read 'bw' but one says MB/s (higher is better), the other s/GB",
        ),
    ],
)
def test_a_bad_profile_is_a_config_error_naming_the_file_and_key(extra: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        profile(**extra)
    assert SOURCE in str(caught.value) and words in str(caught.value)


def test_a_user_profile_may_not_take_a_built_in_name() -> None:
    with pytest.raises(ConfigError, match="'linux' is a built-in profile"):
        load_profiles({"guests": {"linux": {}}}, SOURCE)


def test_a_fixed_name_with_one_group_reads_that_group_scaled() -> None:
    p = profile(metrics=[{"pattern": r"ipi: (\d+) ns", "name": "ipi", "unit": "us", "better": "lower", "scale": 0.001}])
    assert p.required == ("ipi",)
    assert p.metrics[0].read("ipi: 1500 ns") == ("ipi", 1.5)


def test_entries_with_one_fixed_name_are_alternative_forms_of_one_required_metric() -> None:
    """A guest that prints whichever unit fits: one entry per unit, scaled to one, one metric required."""
    forms = [("MB/s", 1.0), ("GB/s", 1024.0)]
    metrics = [
        {"pattern": rf"^L1: (\d+) {unit}$", "name": "L1", "unit": "MB/s", "better": "higher", "scale": scale}
        for unit, scale in forms
    ]
    p = profile(metrics=metrics)
    assert p.required == ("L1",)
    parser = ProfileParser(p, "x", 1)
    feed(parser, "L1: 900 MB/s\nL1: 2 GB/s\n")
    assert parser.finish(ended=True).metrics == {"L1": ("MB/s", [900.0, 2048.0])}
    parser = ProfileParser(p, "x", 1)
    feed(parser, "L2: 5 GB/s\n")
    with pytest.raises(OutputError, match="without metric\\(s\\) L1 declared"):
        parser.finish(ended=True)


def feed(parser: ProfileParser, text: str) -> None:
    for line in text.splitlines():
        parser.feed(line)


def test_every_printed_value_of_a_metric_in_one_boot_is_one_repetition() -> None:
    parser = ProfileParser(profile(), "cpuid vmcall", 1)
    feed(parser, "SeaBIOS noise\ncpuid 71\r\nvmcall 1200\ncpuid 72\n\x1b[0mvmcall 1201\n")
    result = parser.finish(ended=True)
    assert result.metrics == {"cpuid": ("cycles", [71.0, 72.0]), "vmcall": ("cycles", [1200.0, 1201.0])}
    assert result.directions == {"cpuid": Direction.LOWER_IS_BETTER, "vmcall": Direction.LOWER_IS_BETTER}


def test_a_required_metric_missing_when_the_guest_ends_names_it_and_the_last_lines() -> None:
    metrics = [
        {"pattern": r"^(?P<name>\w+) (?P<value>\d+)$", "unit": "cycles", "better": "lower"},
        {"pattern": r"^ipi (?P<value>\d+)$", "name": "ipi", "unit": "cycles", "better": "lower"},
    ]
    parser = ProfileParser(profile(metrics=metrics), "cpuid", 1)
    feed(parser, "booting\ncpuid 71\n")
    with pytest.raises(OutputError) as caught:
        parser.finish(ended=True)
    text = str(caught.value)
    assert "the guest ended without metric(s) ipi declared by guest profile 'timing'" in text
    assert "    booting\n    cpuid 71" in text


def test_a_screen_guest_gives_the_last_value_shown_and_ends_on_a_row() -> None:
    metrics = [{"pattern": r"L1 Cache: +(?P<value>[0-9.]+) GB/s", "name": "l1", "unit": "GB/s", "better": "higher"}]
    parser = ProfileParser(profile(console="screen", metrics=metrics, end=r"Pass complete"), "x", 1)
    parser.feed_screen("\x1b[2J\x1b[5;10HL1 Cache:  120.5 GB/s\x1b[1;1HTesting")
    assert not parser.complete
    parser.feed_screen("\x1b[5;10HL1 Cache:  131.0 GB/s")  # redrawn in place: a newer figure
    parser.feed_screen("\x1b[20;1HPass complete, no errors")
    assert parser.complete
    result = parser.finish(ended=False)
    assert result.metrics == {"l1": ("GB/s", [131.0])} and result.directions == {"l1": Direction.HIGHER_IS_BETTER}


def test_the_end_pattern_completes_the_boot() -> None:
    parser = ProfileParser(profile(end=r"^all tests done$"), "x", 1)
    feed(parser, "x 5\n")
    assert not parser.complete
    feed(parser, "all tests done\n")
    assert parser.complete and parser.finish(ended=False).metrics == {"x": ("cycles", [5.0])}


def test_input_steps_answer_each_prompt_once_in_order() -> None:
    steps = [{"expect": "login: $", "send": "root\n"}, {"expect": "# $", "send": "bench {workload} {reps}\n"}]
    parser = ProfileParser(profile(input=steps), "xor", 3)
    parser.feed_partial("Debian login: ")
    assert parser.take_input() == "root\n" and parser.take_input() is None
    parser.feed("Debian login: root", seen=len("Debian login: "))  # the line ends with the echo
    assert parser.take_input() is None
    parser.feed_partial("# ")
    assert parser.take_input() == "bench xor 3\n"
    parser.feed("# bench xor 3", seen=2)
    assert parser.take_input() is None
    parser.feed("xor 9000")
    assert parser.finish(ended=True).metrics == {"xor": ("cycles", [9000.0])}


def test_a_prompt_never_seen_is_an_error_naming_the_step() -> None:
    parser = ProfileParser(profile(input=[{"expect": "login:", "send": "root\n"}]), "x", 1)
    feed(parser, "x 1\n")
    with pytest.raises(OutputError, match="before input step #1 of guest profile 'timing' saw its prompt 'login:'"):
        parser.finish(ended=True)


@pytest.mark.parametrize(
    ("name", "workload", "reps"),
    [("refguest-basic.log", "basic", 2), ("hermitcore-basic.log", "basic", 1), ("hermit-os-bench.log", "bench", 1)],
)
def test_the_built_in_profiles_read_what_the_console_parser_reads(name: str, workload: str, reps: int) -> None:
    text = (TRANSCRIPTS / name).read_text()
    for builtin in BUILTIN.values():
        parser = ProfileParser(builtin, workload, reps)
        feed(parser, text)
        assert parser.finish(ended=True) == parse_transcript(text, workload, reps)


def test_the_built_in_profiles_keep_panics_and_broken_output() -> None:
    for builtin in BUILTIN.values():
        parser = ProfileParser(builtin, "basic", 1)
        feed(parser, (TRANSCRIPTS / "panic.log").read_text())
        with pytest.raises(Exception, match="panicked"):
            parser.finish(ended=True)


def test_the_command_line_is_user_words_then_the_profile_template_then_the_test_words() -> None:
    reference = GuestImage(Path("k"), None, None, "console=ttyS0", "0" * 64)
    line = reference.command_line("basic", 3, "inject=getpid:2")
    assert line == "console=ttyS0 workload=basic reps=3 inject=getpid:2"
    timed = GuestImage(Path("k"), None, None, "", "0" * 64, profile())
    assert timed.command_line("cpuid vmcall", 1, "repeat=2") == "cpuid vmcall repeat=2"


def test_a_profile_kernel_that_does_not_exist_names_the_key_and_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[tool.hermit.guests.timing\] kernel = '/proj/build/timing.elf': no such"):
        resolve(None, None, None, "", profile())
    kernel = tmp_path / "k.elf"
    kernel.write_bytes(b"\x7fELF")
    assert resolve(kernel, None, None, "", profile()).kernel == kernel  # the command line's image wins
    with pytest.raises(ConfigError, match="guest profile 'linux' \\(built-in\\) names no kernel: pass --hermit-kernel"):
        resolve(None, None, None, "", BUILTIN["linux"])


def test_qemu_args_follow_icount_in_the_domain_xml_and_xen_refuses_them() -> None:
    spec = DomainSpec("d", Path("/k"), "x", qemu_args=("-device", "pc-testdev"), serial_log=Path("/t/s.log"))
    registry = load_registry({}, "pyproject.toml")
    xml = render(registry["icount"], spec)
    values = re.findall(r'<qemu:arg value="([^"]+)"', xml)
    assert values == ["-icount", "shift=0,sleep=off", "-device", "pc-testdev"]
    assert '<log file="/t/s.log" append="off" />' in xml
    assert '<qemu:arg value="-device"' in render(ENVS["qemu"], spec)
    with pytest.raises(ValueError, match="Xen: it cannot take QEMU arguments -device pc-testdev"):
        render(ENVS["pvh"], spec)


def test_a_prompt_without_a_newline_reaches_the_input_steps(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"boot\nDebian login: root\r\nx 5\n")
    os.close(write_fd)
    lines: list[str] = []
    partials: list[str] = []
    prompts = [re.compile("login: ")]
    try:
        outcome = read_lines(
            read_fd,
            tmp_path / "t.log",
            lambda line: lines.append(line) or False,
            timeout=10,
            started=time.monotonic(),
            prompt=lambda: prompts[0] if prompts else None,
            on_partial=lambda text: partials.append(text) or prompts.clear() or False,
        )
    finally:
        os.close(read_fd)
    assert partials == ["Debian login: "]
    assert lines == ["boot", "Debian login: root\r", "x 5"]
    assert (tmp_path / "t.log").read_text() == "boot\nDebian login: root\nx 5\n"
    assert outcome.consumed == len("boot\nDebian login: root\r\nx 5\n")


def test_a_prompt_hidden_from_the_raw_pattern_by_an_escape_is_matched_on_the_visible_line(tmp_path: Path) -> None:
    """busybox ash prints a cursor query after its prompt: 'hermit# ESC[6n' never matches '# $' raw."""
    prompt = re.compile("hermit# $")
    parser = ProfileParser(profile(input=[{"expect": prompt.pattern, "send": "go\n"}]), "x", 1)
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"boot\nher")  # the prompt arrives in two pieces, then the guest waits
    partials: list[str] = []

    def partial(text: str) -> bool:
        partials.append(text)
        if text == "her":
            os.write(write_fd, b"mit# \x1b[6n")
        return parser.feed_partial(text)

    try:
        outcome = read_lines(
            read_fd,
            tmp_path / "t.log",
            lambda line: False,
            timeout=10,
            started=time.monotonic(),
            prompt=lambda: parser.expecting,
            on_partial=lambda text: partial(text) or parser.take_input() == "go\n",
        )
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert partials == ["her", "hermit# \x1b[6n"]
    assert not outcome.ended and parser.expecting is None


def test_the_serial_log_gives_back_what_the_console_lost(tmp_path: Path) -> None:
    log = tmp_path / "serial.log"
    log.write_bytes(b"cpuid 126344\nvmcall 146696\n")
    # The console delivered "cpuid 12" before QEMU exited; that unfinished line was held back.
    cut = ReadOutcome(True, None, 0, consumed=0, held="cpuid 12")
    assert lost_tail(log, cut) == "cpuid 126344\nvmcall 146696\n"
    assert lost_tail(None, cut) == "cpuid 12"  # no log: the console's own words
    log.write_bytes(b"something else\n")
    assert lost_tail(log, cut) == "cpuid 12"  # a log that does not continue the console is not trusted


def test_pytest_benchmark_reads_a_higher_is_better_metric_as_its_inverse() -> None:
    samples = Samples.of("ops", "ops", [[4.0, 4.0]], Direction.HIGHER_IS_BETTER)
    m = Measurement(env="qemu", workload="x", samples={"ops": samples}, boots=1, reps=2, cmdline="x")
    bench = benchmark_json([m], GitState(None, None, None), dt.datetime.now())["benchmarks"][0]
    assert bench["stats"]["min"] == 0.25 and bench["extra_info"]["direction"] == "higher"


# -- the plugin: checked before any boot ------------------------------------------------------------


def timing_pyproject(
    pytester: pytest.Pytester, kernel: str = "timing.elf", pattern: str = r"^(?P<name>\w+) (?P<value>[0-9]+)$"
) -> None:
    """The project's pyproject.toml: one profile, ``timing``, for a 'name value' guest."""
    pytester.makepyprojecttoml(
        f"""
        [tool.hermit.guests.timing]
        kernel = "{kernel}"
        cmdline = "{{workload}}"
        [[tool.hermit.guests.timing.metrics]]
        pattern = '{pattern}'
        unit = "cycles"
        better = "lower"
        """
    )


TIMED_TEST = """
def test_timing(hermit_run):
    hermit_run("cpuid")
"""


def test_a_pattern_that_does_not_compile_is_a_usage_error_before_any_boot(pytester: pytest.Pytester) -> None:
    timing_pyproject(pytester, pattern=r"^(?P<name>\w+ (?P<value>[0-9]+)$")
    pytester.makepyfile(TIMED_TEST)
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-guest=timing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml*[[]tool.hermit.guests.timing[]] metrics #1*does not compile*"])
    assert "^(?P<name>\\\\w+ (?P<value>[0-9]+)$" in result.stderr.str()
    assert "boot 1" not in result.stdout.str()


def test_a_missing_kernel_or_unknown_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    timing_pyproject(pytester, kernel="build/timing.elf")
    pytester.makepyfile(TIMED_TEST)
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-guest=timing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hermit-guest=timing: *[[]tool.hermit.guests.timing[]] kernel = *timing.elf*"])
    result = run_pytest(pytester, "--hermit-env=qemu", "--hermit-guest=nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no guest profile 'nosuch'; known: reference, hermitcore, linux, timing*"])
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hermit(guest="timing")
        def test_marked(hermit_run):
            pass
        """
    )
    result = run_pytest(pytester, "--hermit-env=qemu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*test_marked*@pytest.mark.hermit(guest='timing')*no such file*"])


def test_image_b_of_an_ab_run_is_read_with_the_profile_of_the_tests_image_a(pytester: pytest.Pytester) -> None:
    """A test that names its guest with the marker compares B in that guest's dialect, not the session's."""
    timing_pyproject(pytester)
    pytester.path.joinpath("timing.elf").write_bytes(b"\x7fELF a")
    pytester.path.joinpath("b.elf").write_bytes(b"\x7fELF b")
    pytester.makepyfile(
        """
        from pytest_hermit.plugin.session import session_of

        def test_b(request):
            session = session_of(request.config)
            assert session.ab_guest_for("timing").profile.name == "timing"
            assert session.ab_guest_for("timing").command_line("cpuid", 3) == "cpuid"
            assert session.ab_guest_for(None).profile.name == "reference"
            assert session.ab_guest_for(None).kernel.name == "b.elf"
        """
    )
    result = run_pytest(pytester, "--hermit-env=icount", "--hermit-ab=b.elf")
    result.assert_outcomes(passed=1)
