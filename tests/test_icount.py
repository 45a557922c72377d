"""The icount environment's plain parts: definition, defaults, tolerance, what its baselines depend on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_hermit.errors import ConfigError
from pytest_hermit.gate import baselines as bl
from pytest_hermit.plugin.options import parse_tolerances
from pytest_hermit.vm.domxml import QEMU_NS
from pytest_hermit.vm.environments import BUILTIN, user_environment
from pytest_hermit.vm.probes import ICOUNT_NOTE, icount_problem
from tests.test_baselines import context


def test_icount_is_tcg_counting_instructions_with_exact_defaults() -> None:
    env = BUILTIN["icount"]
    assert env.domain_type == "qemu" and env.icount and env.expected_signature == "TCGTCGTCGTCG"
    assert (env.default_boots, env.default_reps, env.default_tolerance) == (2, 1, 0.005)
    assert env.as_dict()["icount"] is True
    assert "instructions" in env.description and "not time" in ICOUNT_NOTE
    assert QEMU_NS.startswith("http://libvirt.org/")


def test_this_qemu_can_count_instructions() -> None:
    assert icount_problem() is None


def test_a_user_environment_asks_for_icount() -> None:
    env = user_environment("tcg-exact", {"base": "qemu", "icount": True, "memory": 256}, "pyproject.toml")
    assert env.icount and env.default_boots == 2 and env.default_tolerance == 0.005
    with pytest.raises(ConfigError, match=r"icount = true needs QEMU's TCG.*base = 'kvm'"):
        user_environment("x", {"base": "kvm", "icount": True}, "pyproject.toml")
    with pytest.raises(ConfigError, match="icount must be true or false"):
        user_environment("x", {"base": "qemu", "icount": "yes"}, "pyproject.toml")


def test_icount_has_its_own_default_tolerance_unless_the_user_sets_one() -> None:
    tolerances = parse_tolerances(None, {"tolerance": {"malloc": 30}}, "pyproject.toml").with_env_defaults(
        {"icount": 0.005}
    )
    assert tolerances.of("icount", "malloc") == 0.30, "a metric the user named wins over icount's default"
    assert tolerances.of("icount", "getpid") == 0.005
    assert tolerances.of("qemu", "malloc") == 0.30
    assert tolerances.of("qemu", "getpid") == 0.05
    own = parse_tolerances(None, {"tolerance": {"icount": {"default": 1, "getpid": 2}}}, "pyproject.toml")
    own = own.with_env_defaults({"icount": 0.005})
    assert own.of("icount", "malloc") == 0.01
    assert own.of("icount", "getpid") == 0.02
    # --hermit-tolerance=2 on the command line: this run's choice wins over icount's built-in 0.5%
    given = parse_tolerances(0.02, {}, "pyproject.toml").with_env_defaults({"icount": 0.005})
    assert given.of("icount", "getpid") == 0.02 and given.of("qemu", "getpid") == 0.02


def _exact(**host: str) -> bl.Context:
    saved = context()
    return replace(
        saved,
        environment={**saved.environment, "icount": True},
        host=replace(saved.host, **host),  # type: ignore[arg-type]
    )


def test_counted_numbers_do_not_depend_on_the_host_but_on_qemu() -> None:
    saved = _exact()
    elsewhere = _exact(cpu_model="Another CPU", host_kernel="6.1.0-99", libvirt_version="10.0.0")
    assert bl.refuse_host(saved, elsewhere) is None
    newer_qemu = _exact(qemu_version="9.2.0")
    reason = bl.refuse_host(saved, newer_qemu)
    assert reason is not None and "qemu_version" in reason
    # Timed numbers still depend on the host.
    assert bl.refuse_host(context(), replace(context(), host=replace(context().host, cpu_model="Another CPU")))


def test_a_baseline_from_before_icount_existed_is_not_icount() -> None:
    old = context()
    assert "icount" not in old.environment
    now = replace(old, environment={**old.environment, "icount": False})
    assert bl.refuse_environment(old, now) is None
    counted = replace(old, environment={**old.environment, "icount": True})
    reason = bl.refuse_environment(old, counted)
    assert reason is not None and "icount False vs True" in reason
