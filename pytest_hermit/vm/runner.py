"""Run a workload: B boots of R repetitions, parsed into a Measurement."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_hermit.errors import BootTimeout, ConfigError, NotComparable, OutputError, RunError
from pytest_hermit.profile.counts import add_counts
from pytest_hermit.profile.profile import FunctionProfile
from pytest_hermit.results.measurement import HOST_BOOT_TIME, Measurement
from pytest_hermit.results.parsers import GuestInfo
from pytest_hermit.results.profile_parser import ProfileParser
from pytest_hermit.results.samples import Direction, Samples
from pytest_hermit.vm.boot import GRACEFUL_EXIT_WAIT, BootRecord, boot, unique_name
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.domxml import DomainSpec
from pytest_hermit.vm.environments import Environment
from pytest_hermit.vm.guest import GuestImage
from pytest_hermit.vm.iso import iso_for
from pytest_hermit.vm.profiler import SymbolSource, qemu_args, read_counts, symbol_table

#: A profile where more of the instructions than this match no symbol is named in the guest warnings.
UNRESOLVED_WARNING = 0.5

#: Called after each boot with (what ran, e.g. "qemu basic", boot number from 1, boots planned, record).
Progress = Callable[[str, int, int, BootRecord], None]


@dataclass(frozen=True)
class RunRequest:
    """One ``hermit_run`` call, fully resolved."""

    env: Environment
    guest: GuestImage
    workload: str
    boots: int
    reps: int
    extra_cmdline: str
    timeout: float
    transcript_dir: Path
    emulated: bool = False
    test_id: str = ""
    #: Where ISOs made for CD-booting environments are cached (under the state dir: a
    #: shared temporary folder would let anyone on the host plant an ISO there).
    iso_cache: Path | None = None
    #: Shown in progress lines before the environment ("A", "B" in A/B runs).
    label: str = ""
    #: Boots planned in all, for progress lines (default: first_boot + boots - 1).
    planned: int | None = None
    #: Number of the first boot (adaptive sampling adds boots to an earlier run).
    first_boot: int = 1
    #: time.monotonic() by which the whole test must be done (--hermit-test-timeout), or None.
    deadline: float | None = None
    test_timeout: float | None = None
    #: The call's identity within its test (measurement.RunIds); default: the workload.
    run: str = ""
    #: What set ``timeout``, for the timeout's message.
    timeout_name: str = "--hermit-timeout"
    #: --hermit-profile: count instructions per function with the TCG plugin, symbolized from here.
    profile: SymbolSource | None = None


def safe_name(text: str) -> str:
    """A file name made of a test id (``tests/test_x.py::test_y[kvm]``), one per id.

    Replacing characters and shortening both map different ids to one name
    (``[a/b]`` and ``[a_b]``; two long ids with a common start), and then a
    passing test's clean-up would delete a failing test's transcripts: a
    hash of the whole id keeps them apart.
    """
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:100] or "run"
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def check_signature(env: Environment, info: GuestInfo | None) -> None:
    """Refuse numbers from another hypervisor than the environment promises.

    A kvm run that silently fell back to emulation is not a kvm number.
    Guests that do not report a signature (HermitCore's own images) pass.
    """
    if info is None:
        return
    if info.hypervisor != env.expected_signature:
        reported = info.hypervisor or "no hypervisor signature"
        raise NotComparable(
            f"environment {env.name} should run under {env.expected_signature} but the guest reports {reported} "
            f"(console line {info.line_no}); the numbers are not {env.name} numbers and are refused"
        )


def _boot_timeout(request: RunRequest, index: int) -> tuple[float, str]:
    """Seconds this boot may take, and the option that set them; an error when the test has none left."""
    if request.deadline is None:
        return request.timeout, request.timeout_name
    left = request.deadline - time.monotonic()
    if left <= 0:
        raise BootTimeout(
            f"the test used up its --hermit-test-timeout of {request.test_timeout or 0:g} s "
            f"before boot {index} of {request.workload}",
            workload=request.workload,
            env=request.env.name,
        )
    if left < request.timeout:
        return left, "--hermit-test-timeout"
    return request.timeout, request.timeout_name


def _missing_results(got: set[str], before: set[str], index: int, first: int) -> str | None:
    """Why a boot's results cannot join the measurement: none at all, or not the metrics of the earlier boots.

    A guest that stops early prints nothing, or less; passing on what is left would
    let a benchmark that no longer runs pass the gate.
    """
    if not got:
        return (
            "the guest printed no result (no metric line, no benchmark block) before it ended: "
            "check the workload name and the transcript"
        )
    if index > first and got != before:
        lost, new = sorted(before - got), sorted(got - before)
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(lost)}" if lost else "",
                f"new {', '.join(new)}" if new else "",
            )
            if part
        )
        return f"boot {index} printed other metrics than the boots before it ({what})"
    return None


def run(conns: Connections, request: RunRequest, progress: Progress | None = None) -> Measurement:
    """Boot ``request.boots`` times and collect every metric per boot."""
    env, guest = request.env, request.guest
    cmdline = guest.command_line(request.workload, request.reps, request.extra_cmdline)
    per_metric: dict[str, list[list[float]]] = {}
    units: dict[str, str] = {}
    directions: dict[str, Direction] = {}
    transcripts: list[Path] = []
    info: GuestInfo | None = None
    warnings: dict[str, str] = {}
    iso = guest.iso
    if env.boot == "iso" and iso is None:
        # The command line lives in the ISO's grub.cfg: one ISO per command line.
        if request.iso_cache is None:
            raise ConfigError(f"environment {env.name} boots from an ISO: RunRequest.iso_cache must name a folder")
        iso = iso_for(guest.kernel, guest.initrd, cmdline, request.iso_cache, guest.sha256)
    last = request.first_boot + request.boots - 1
    block_counts: dict[tuple[int, int], int] = {}
    for index in range(request.first_boot, last + 1):
        transcript = request.transcript_dir / f"{env.name}-{request.workload}-boot{index}.log"
        transcripts.append(transcript)
        spec = DomainSpec(unique_name(env), guest.kernel, cmdline, guest.initrd, iso, qemu_args=guest.profile.qemu_args)
        counts_file = transcript.with_suffix(".insns")
        if request.profile is not None:
            transcript.parent.mkdir(parents=True, exist_ok=True)
            counts_file.unlink(missing_ok=True)
            spec = replace(spec, qemu_args=spec.qemu_args + qemu_args(counts_file), graceful_exit=True)
        parser = ProfileParser(guest.profile, request.workload, request.reps)
        timeout, limit = _boot_timeout(request, index)
        try:
            record = boot(conns, env, spec, parser, timeout=timeout, transcript=transcript, limit_name=limit)
        except RunError as exc:
            raise exc.located(workload=request.workload, env=env.name, transcript=transcript) from None
        try:
            check_signature(env, record.result.info)
        except NotComparable as exc:
            raise NotComparable(f"{exc}; transcript: {transcript}") from None
        if request.profile is not None:
            add_counts(block_counts, read_counts(counts_file, env.name, transcript))
            if record.powered_off is False:
                text = (
                    f"profile: the guest did not power off within {GRACEFUL_EXIT_WAIT:g} s of its last result, so "
                    "QEMU was stopped: the counts of what ran last depend on when"
                )
                warnings.setdefault(text, f"{text} (boot {index})")
        info = record.result.info or info
        problem = _missing_results(set(record.result.metrics), set(units) - {HOST_BOOT_TIME}, index, request.first_boot)
        if problem is not None:
            raise OutputError(problem, workload=request.workload, env=env.name, transcript=transcript)
        for line_no, text in record.result.warnings:
            # Not the transcript's path: a passing test's transcripts are deleted after it.
            warnings.setdefault(text, f"{text} (boot {index}, console line {line_no})")
        for metric, (unit, values) in record.result.metrics.items():
            units[metric] = unit
            per_metric.setdefault(metric, []).append(values)
            if metric in record.result.directions:
                directions[metric] = record.result.directions[metric]
        if request.workload == "hello" and record.first_line_ms is not None:
            units[HOST_BOOT_TIME] = "ms"
            per_metric.setdefault(HOST_BOOT_TIME, []).append([record.first_line_ms])
        if progress is not None:
            what = " ".join(w for w in (request.label, env.name, request.workload) if w)
            progress(what, index, request.planned or last, record)
    samples = {m: Samples.of(m, units[m], boots, directions.get(m)) for m, boots in per_metric.items()}
    profile = None
    if request.profile is not None:
        profile = FunctionProfile.of(block_counts, symbol_table(request.profile), request.boots)
        if profile.unresolved_share > UNRESOLVED_WARNING:
            text = (
                f"profile: {profile.unresolved_share:.0%} of the guest's instructions match no symbol of "
                f"{request.profile.path}: symbols of another build, or a kernel relocated at boot (Linux: "
                "boot with nokaslr, as a System.map holds link-time addresses)"
            )
            warnings.setdefault(text, text)
    return Measurement(
        env=env.name,
        workload=request.workload,
        samples=samples,
        boots=request.boots,
        reps=request.reps,
        cmdline=cmdline,
        transcripts=tuple(transcripts),
        hypervisor=info.hypervisor if info else None,
        tsc_khz=info.tsc_khz if info else None,
        emulated=request.emulated,
        counted=env.icount,
        test_id=request.test_id,
        run=request.run,
        guest_warnings=tuple(warnings.values()),
        guest=guest.profile.name,
        guest_sha256=guest.sha256,
        profile=profile,
    )
