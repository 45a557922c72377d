"""Each hermit_run call keeps its own context, whatever Python does with memory.

The session once cached contexts by ``id(measurement)``: when --hermit-max-boots
replaced a measurement by a grown one, CPython gave the freed address to a later
test's measurement, which then took the earlier test's context (another
command line: refused; or a wrong context saved into the baseline and history).
"""

from __future__ import annotations

import pytest

from tests.conftest import run_pytest


def test_a_later_measurement_never_takes_an_earlier_ones_context(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_hermit.results.measurement import Measurement
        from pytest_hermit.results.samples import Samples
        from pytest_hermit.plugin.session import session_of

        def one(test, cmdline):
            s = Samples("getpid", "cycles", ((15.0,), (15.0,)))
            return Measurement("icount", "basic", {"getpid": s}, 2, 1, cmdline, test_id=test)

        def test_contexts(request, hermit_env):
            session = session_of(request.config)
            wrong = []
            for i in range(200):
                m = one(f"t{i}", f"workload=basic reps={i}")
                if session.context(hermit_env, m).guest_cmdline != m.cmdline:
                    wrong.append(i)
                del m  # freed: its address is free for the next call's measurement
            assert not wrong, f"{len(wrong)} of 200 calls got another call's context"
        """
    )
    result = run_pytest(pytester, "--hermit-env=icount")
    result.assert_outcomes(passed=1)


def test_a_history_record_keeps_the_emulated_flag_of_the_environment_its_test_ran_in(
    pytester: pytest.Pytester,
) -> None:
    """Runs without --hermit-compare/--hermit-save made their context at the end, from the
    environment without the probe's flag, so the history split one series in two."""
    pytester.makepyfile(
        """
        from dataclasses import replace
        from pytest_hermit.results.measurement import Measurement
        from pytest_hermit.results.samples import Samples
        from pytest_hermit.plugin.session import session_of

        def test_flag(request, hermit_env):
            session = session_of(request.config)
            s = Samples("getpid", "cycles", ((15.0,), (15.0,)))
            m = Measurement("icount", "basic", {"getpid": s}, 2, 1, "workload=basic", test_id="t")
            session.taken(replace(hermit_env, emulated=True), m)
            assert session.context_of(m).host.emulated is True
        """
    )
    result = run_pytest(pytester, "--hermit-env=icount")
    result.assert_outcomes(passed=1)
