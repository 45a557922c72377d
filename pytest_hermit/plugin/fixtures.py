"""The fixtures users write tests against: hermit_env, hermit_guest, hermit_run."""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from pytest_hermit.errors import EnvironmentUnavailable
from pytest_hermit.gate.judge import Judged
from pytest_hermit.plugin import workers
from pytest_hermit.plugin.call import measure
from pytest_hermit.plugin.session import OUTCOME_KEY, session_of
from pytest_hermit.results.measurement import Measurement, RunIds
from pytest_hermit.vm import iso, profiler
from pytest_hermit.vm.boot import BootRecord
from pytest_hermit.vm.environments import Environment
from pytest_hermit.vm.guest import GuestImage
from pytest_hermit.vm.pools import host_slot
from pytest_hermit.vm.runner import RunRequest, safe_name

RunFn = Callable[..., Measurement]


@pytest.fixture
def hermit_env(request: pytest.FixtureRequest) -> Environment:
    """The environment this test instance runs in (tests get one instance per
    environment: ``test_x[kvm]``, ``test_x[qemu]``).

    Attributes: ``name``, ``uri`` (libvirt URI; in a pool, the host this
    test meets), ``domain_type`` (kvm, qemu, xen), ``os_type``,
    ``memory_mib``, ``vcpus``. An environment this host
    cannot run skips the test with the exact reason (an error under
    ``--hermit-require-env``).
    """
    session = session_of(request.config)
    env: Environment | None = getattr(request, "param", None)
    if env is None:
        raise pytest.UsageError("hermit_env is parametrized by pytest-hermit; do not override or call it directly")
    env = session.pool_host(env, request.node.nodeid)
    if session.settings.profile and (refused := profiler.refusal(env)) is not None:
        pytest.skip(refused)  # what the options ask, not what the host lacks: a skip even under --hermit-require-env
    availability = session.availability(env)
    reason = availability.reason if not availability.usable else None
    if reason is None and env.boot == "iso" and session.settings.iso is None:
        problem = iso.tool_problem()
        reason = f"{env.name}: {problem}" if problem else None
    if reason is not None:
        if session.settings.require_env:
            # Broken, not failed: CI retries on a host that has the environment (exit 6, not 1).
            raise EnvironmentUnavailable(f"{reason} (required by --hermit-require-env)")
        pytest.skip(reason)
    return replace(env, emulated=availability.emulated)


@pytest.fixture
def hermit_guest(request: pytest.FixtureRequest) -> GuestImage:
    """The guest image this test boots: ``kernel``, ``initrd``, ``iso``,
    ``cmdline`` (the --hermit-cmdline words), ``sha256`` (of kernel and
    initrd) and ``profile``, its guest profile (``name``, ``cmdline``
    template, ``qemu_args``, ``metrics``...): the one of
    ``@pytest.mark.hermit(guest=NAME)``, else --hermit-guest's, else the
    reference guest shipped with the plugin (``guest/build`` in a source checkout).
    """
    marker = request.node.get_closest_marker("hermit")
    profile = marker.kwargs.get("guest") if marker is not None else None
    # A missing guest is normally found at collection (a usage error before any boot);
    # raised here it is still a configuration error (exit 4), not a failed test.
    return session_of(request.config).guest_for(profile)


@pytest.fixture
def hermit_run(request: pytest.FixtureRequest, hermit_env: Environment, hermit_guest: GuestImage) -> Iterator[RunFn]:
    """Boot the guest and measure a workload: ``hermit_run(workload, boots=None,
    reps=None, cmdline="")`` returns a ``Measurement``.

    ``m["getpid"]`` gives ``Samples`` with ``.unit``, ``.per_boot`` (per boot,
    the values of each repetition), ``.values`` and ``.median``; ``m.env``,
    ``m.workload`` and ``m.transcripts`` (one console transcript per boot)
    say where they came from; ``m.run`` is the call's identity within the
    test (workload and ``cmdline`` words, `` #2`` for a repeated identical
    call), which keys its baseline entries. Workloads of the reference guest: basic
    (getpid, sched_yield, malloc, first_page_access in cycles), stream
    (stream_copy, stream_scale, stream_add, stream_triad in MB/s), hello
    (boot_time_guest, boot_time_host in ms). hermit-os benchmark blocks keep
    their own names and units. A guest profile of your own
    (``[tool.hermit.guests.NAME]``) names its metrics, units and directions;
    ``workload`` fills its ``{workload}``. ``cmdline`` words go last on the
    guest's command line. Boots and repetitions default to --hermit-boots and
    --hermit-reps; given here, they win (--hermit-max-boots still adds boots
    while a comparison is undecided). Each boot is bounded by
    --hermit-timeout, all boots of the test together by
    --hermit-test-timeout. Transcripts are kept under --hermit-artifacts
    when the test fails.
    """
    session = session_of(request.config)
    settings = session.settings
    profile = hermit_guest.profile
    if profile.qemu_args and hermit_env.is_xen:
        pytest.skip(
            f"guest profile {profile.name} needs QEMU arguments ({' '.join(profile.qemu_args)}), "
            f"which {hermit_env.name} (Xen) cannot take"
        )
    transcript_dir = settings.artifacts / safe_name(request.node.nodeid)
    calls = 0
    # One budget for every boot of the test, set when the test starts.
    deadline = time.monotonic() + settings.test_timeout if settings.test_timeout else None
    waited = 0.0  # seconds spent waiting for a host slot (vm/pools.py): not charged to the test's budget
    run_ids = RunIds()
    availability = session.availability(hermit_env)
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    in_worker = workers.worker_id(request.config) is not None

    def say(line: str) -> None:
        if terminal is None and not in_worker:
            return
        # The test's output is captured at the fd level; progress must reach the real terminal.
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            if in_worker:
                # A pytest-xdist worker's stdout is its channel to the controller; its stderr is the terminal's.
                sys.stderr.write(workers.progress_line(request.config, line) + "\n")
                sys.stderr.flush()
            elif terminal is not None:
                terminal.ensure_newline()
                terminal.write_line(line)

    def progress(what: str, index: int, boots: int, record: BootRecord) -> None:
        first = f", first line after {record.first_line_ms:.0f} ms" if record.first_line_ms is not None else ""
        say(f"hermit: {what} boot {index}/{boots} done in {record.wall_s:.2f} s{first}")

    def hermit_run_(workload: str, boots: int | None = None, reps: int | None = None, cmdline: str = "") -> Measurement:
        nonlocal calls, waited
        for label, value in (("boots", boots), ("reps", reps)):
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"hermit_run({workload!r}): {label} must be a positive integer, got {value!r}")
        calls += 1
        # Before the first boot on this host: how busy and how tuned it is (warns, or fails when strict).
        session.hosts.check(hermit_env, require_quiet=settings.require_quiet_host, say=say)
        timeout, why = session.boot_timeout(hermit_env, availability.emulated)
        if why:
            say(why)
        req = RunRequest(
            env=hermit_env,
            guest=hermit_guest,
            workload=workload,
            boots=boots or settings.boots_for(hermit_env),
            reps=reps or settings.reps_for(hermit_env),
            extra_cmdline=cmdline.strip(),
            timeout=profile.timeout or timeout,
            timeout_name=f"timeout of guest profile {profile.name}" if profile.timeout else "--hermit-timeout",
            transcript_dir=transcript_dir / f"run{calls}" if calls > 1 else transcript_dir,
            emulated=availability.emulated,
            test_id=request.node.nodeid,
            iso_cache=settings.state_dir / "isos",
            deadline=None,
            test_timeout=settings.test_timeout,
            run=run_ids.next(workload, cmdline),
            profile=profiler.symbols_for(hermit_guest.kernel, settings.profile_symbols) if settings.profile else None,
        )
        slot = (
            host_slot(settings.state_dir, hermit_env.uri, hermit_env.max_parallel)
            if hermit_env.max_parallel is not None
            else contextlib.nullcontext()
        )
        asked = time.monotonic()
        with slot:
            # Time spent waiting for another process's boots is not this test's: the budget grows by the wait.
            waited += time.monotonic() - asked
            req = replace(req, deadline=deadline + waited if deadline is not None else None)
            measurement, judged = measure(session, req, progress)
        session.taken(hermit_env, measurement)
        session.measurements.append(measurement)
        _record_properties(request.node, measurement, judged)
        if judged is not None:
            session.gate.enforce(judged)
        return measurement

    yield hermit_run_
    outcome = request.node.stash.get(OUTCOME_KEY, None)
    if outcome == "passed" and transcript_dir.exists():
        shutil.rmtree(transcript_dir, ignore_errors=True)


def _record_properties(node: pytest.Item, measurement: Measurement, judged: Judged | None) -> None:
    """Metrics as test properties, so --junitxml carries them (median, change, verdict)."""
    prefix = f"hermit.{measurement.env}.{measurement.run}"
    for name, samples in measurement.samples.items():
        node.user_properties.append((f"{prefix}.{name}.median", f"{samples.median:g} {samples.unit}"))
        node.user_properties.append((f"{prefix}.{name}.better", samples.direction.value))
    for c in judged.comparisons if judged is not None else []:
        node.user_properties.append((f"{prefix}.{c.metric}.change", f"{c.change * 100:+.1f}%"))
        node.user_properties.append(
            (f"{prefix}.{c.metric}.interval", f"{c.interval.low * 100:+.1f}%..{c.interval.high * 100:+.1f}%")
        )
        node.user_properties.append((f"{prefix}.{c.metric}.verdict", c.verdict.name.lower()))
