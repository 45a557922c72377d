"""Run identities: several hermit_run calls in one test keep their own entries."""

from __future__ import annotations

from pytest_hermit.results.measurement import Measurement, RunIds, identity_from_cmdline, run_identity
from pytest_hermit.results.samples import Samples


def test_each_call_of_a_test_gets_a_stable_identity() -> None:
    ids = RunIds()
    assert ids.next("basic") == "basic"
    assert ids.next("stream", " stream_n=2000000  ") == "stream stream_n=2000000"
    assert ids.next("basic", "iters=1000") == "basic iters=1000"
    assert ids.next("basic") == "basic #2"  # only an otherwise identical call gets a number
    assert ids.next("basic", "inject=getpid:30") == "basic #3"  # injection stands for a code change
    assert RunIds().next("basic") == "basic"  # every test starts again


def test_version_1_entries_get_the_identity_their_command_line_implies() -> None:
    assert identity_from_cmdline("workload=basic reps=5") == run_identity("basic") == "basic"
    assert identity_from_cmdline("console=x workload=stream reps=2 stream_n=2000000") == "stream stream_n=2000000"
    assert identity_from_cmdline("inject=getpid:30 workload=basic reps=5 inject=malloc:10") == "basic"
    assert identity_from_cmdline("") == ""


def test_a_measurement_without_an_identity_is_its_workload() -> None:
    s = Samples.of("getpid", "cycles", [[1.0]])
    m = Measurement(env="kvm", workload="basic", samples={"getpid": s}, boots=1, reps=1, cmdline="")
    assert m.run == "basic"
    assert m.merged(m).run == "basic"
