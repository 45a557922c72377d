"""Console parsing on recorded transcripts: ours, HermitCore's, hermit-os's, and broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_hermit.errors import GuestCrashed, OutputError
from pytest_hermit.results.parsers import ConsoleParser, parse_info, parse_transcript

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"


def text(name: str) -> str:
    return (TRANSCRIPTS / name).read_text(encoding="utf-8", errors="replace")


def test_reference_basic_two_reps() -> None:
    result = parse_transcript(text("refguest-basic.log"), "basic", 2)
    assert result.metrics["getpid"] == ("cycles", [35.0, 36.0])
    assert result.metrics["first_page_access"] == ("cycles", [35610.0, 16367.0])
    assert result.info is not None and result.info.hypervisor == "TCGTCGTCGTCG"
    assert result.info.tsc_khz == 2299866
    assert result.status == "ok"


def test_reference_stream_and_hello() -> None:
    stream = parse_transcript(text("refguest-stream.log"), "stream", 1)
    assert stream.metrics["stream_triad"] == ("MB/s", [1359.2])
    assert set(stream.metrics) == {"stream_copy", "stream_scale", "stream_add", "stream_triad"}
    hello = parse_transcript(text("refguest-hello.log"), "hello", 1)
    assert hello.metrics == {"boot_time_guest": ("ms", [12.0])}


def test_hermitcore_output_with_kernel_log_interleaved() -> None:
    basic = parse_transcript(text("hermitcore-basic.log"), "basic", 1)
    assert basic.info is None and basic.status is None
    assert {m: v for m, (_, v) in basic.metrics.items()} == {
        "getpid": [9.0],
        "sched_yield": [79.0],
        "malloc": [5858.0],
        "first_page_access": [3368.0],
    }
    stream = parse_transcript(text("hermitcore-stream.log"), "stream", 1)
    assert stream.metrics["stream_copy"] == ("MB/s", [23342.8])
    assert stream.metrics["stream_triad"] == ("MB/s", [19088.8])


def test_foreign_guest_is_complete_once_results_are_in() -> None:
    parser = ConsoleParser("basic", 1)
    lines = text("hermitcore-basic.log").splitlines()
    done_at = None
    for i, line in enumerate(lines, 1):
        parser.feed(line)
        if parser.complete and done_at is None:
            done_at = i
    assert done_at == 12  # the first-page-access line, not the trailing log line


def test_our_guest_is_complete_only_at_its_end_marker() -> None:
    parser = ConsoleParser("basic", 2)
    for line in text("refguest-basic.log").splitlines()[:-1]:
        parser.feed(line)
        assert not parser.complete
    parser.feed("HERMIT-DONE status=ok")
    assert parser.complete


def test_hermit_os_blocks_keep_their_names_and_units() -> None:
    result = parse_transcript(text("hermit-os-bench.log"), "bench", 1)
    assert result.metrics == {"bench_sleep1": ("s", [10.0]), "startup_time": ("ms", [42.5])}


@pytest.mark.parametrize(
    ("name", "workload", "error", "words"),
    [
        ("panic.log", "basic", GuestCrashed, ["panicked", "PANIC: page fault"]),
        ("status-error.log", "basic", GuestCrashed, ["status=error", "reps=abc"]),
        ("stream-failed.log", "stream", OutputError, ["STREAM failed", "Failed Validation"]),
        ("missing-line.log", "basic", OutputError, ["sched_yield"]),
        ("garbage.log", "basic", OutputError, ["getpid"]),
    ],
)
def test_bad_output_is_an_error_naming_the_line(name: str, workload: str, error: type, words: list[str]) -> None:
    with pytest.raises(error) as excinfo:
        parse_transcript(text(name), workload, 2)
    message = str(excinfo.value)
    for word in words:
        assert word in message


def test_error_names_the_console_line_number() -> None:
    with pytest.raises(GuestCrashed) as excinfo:
        parse_transcript(text("panic.log"), "basic", 1)
    assert excinfo.value.line_no == 3


def test_early_power_off_is_reported_as_such() -> None:
    with pytest.raises(OutputError, match="powered off before printing"):
        parse_transcript("Determine systems performance\n", "basic", 1, ended=True)


def test_wrong_repetition_count_from_our_guest() -> None:
    with pytest.raises(OutputError, match="reps=3 but the guest printed 2"):
        parse_transcript(text("refguest-basic.log"), "basic", 3)


def test_unfinished_benchmark_block() -> None:
    with pytest.raises(OutputError, match="never ended"):
        parse_transcript("/*BENCHMARK OUTPUT*/\nname: x\n", "bench", 1)


def test_info_parsing() -> None:
    info = parse_info(" hypervisor=none tsc_khz=1000", 4)
    assert info.hypervisor is None and info.tsc_khz == 1000
    with pytest.raises(OutputError, match="tsc_khz"):
        parse_info(" hypervisor=KVMKVMKVM tsc_khz=fast", 1)


def test_markers_behind_terminal_escapes_are_found() -> None:
    text = "\x1b[2J\x1b[1;1H\x1b[0mHERMIT-INFO hypervisor=XenVMMXenVMM tsc_khz=1000\nHello World!!!\n"
    text += "[0.080][0:0][INFO] Boot time: 80 ms\n\x1b[0mHERMIT-DONE status=ok\n"
    result = parse_transcript(text, "hello", 1)
    assert result.info is not None and result.info.hypervisor == "XenVMMXenVMM"
    assert result.status == "ok" and result.metrics["boot_time_guest"] == ("ms", [80.0])


def test_linux_guest_noise_and_panic() -> None:
    text = "[    0.000000] Linux version 6.1.0\n" + (TRANSCRIPTS / "hermitcore-basic.log").read_text()
    assert parse_transcript(text, "basic", 1).metrics["getpid"] == ("cycles", [9.0])
    with pytest.raises(GuestCrashed, match="panicked"):
        parse_transcript("[    1.52] Kernel panic - not syncing: VFS: Unable to mount root fs\n", "basic", 1)


def test_kernel_log_warnings_are_kept_with_their_line_and_info_is_not() -> None:
    parser = ConsoleParser("hello", 1)
    for line in (
        "HERMIT-INFO hypervisor=none tsc_khz=2400000",
        "[0.010][0:0][INFO] Boot time: 10 ms",
        "[0.011][0:0][WARNING] mallocs=9999 needs 9999 MiB, have 500 MiB: using mallocs=480",
        "[0.012][0:0][ERROR] a device did not answer",
        "HERMIT-DONE status=ok",
    ):
        parser.feed(line)
    result = parser.finish(ended=True)
    assert result.warnings == (
        (3, "mallocs=9999 needs 9999 MiB, have 500 MiB: using mallocs=480"),
        (4, "a device did not answer"),
    )


def test_a_panic_is_an_error_not_a_warning() -> None:
    parser = ConsoleParser("hello", 1)
    parser.feed("[0.011][0:0][ERROR] PANIC: out of memory")
    assert parser.warnings == []
    with pytest.raises(GuestCrashed):
        parser.finish(ended=True)
