"""Options, ini values, environments and help texts: no VM boots here."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pytest_hermit.errors import ConfigError, HermitDeprecationWarning
from pytest_hermit.gate.judge import Tolerances
from pytest_hermit.gate.stats import Verdict
from pytest_hermit.plugin.argtypes import percent, verdict_set
from pytest_hermit.plugin.options import parse_tolerances
from pytest_hermit.vm.environments import BUILTIN, load_registry, select
from pytest_hermit.vm.probes import cpu_has_hw_virt, nested_in_emulator
from tests.conftest import run_pytest

USES_ENV = """
def test_env(hermit_env):
    pass
"""


def test_unknown_environment_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester, "--hermit-env=qemu,nosuchenv")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hermit-env: unknown environment 'nosuchenv'; known: kvm, qemu, hvm, pvh*"])


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("--hermit-boots=0", "argument --hermit-boots: expected a positive whole number, got '0'"),
        ("--hermit-timeout=soon", "argument --hermit-timeout: expected a positive number of seconds"),
        ("--hermit-tolerance=200", "argument --hermit-tolerance: expected a percentage between 0 and 100"),
        ("--hermit-fail-on=slower", "argument --hermit-fail-on: expected a comma list of"),
        ("--hermit-kernel=/no/such/kernel", "--hermit-kernel: no such file: /no/such/kernel"),
        ("--hermit-save=../etc", "--hermit-save"),
    ],
)
def test_bad_option_values_name_the_option(pytester: pytest.Pytester, option: str, words: str) -> None:
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester, option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_bad_ini_value_names_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhermit_reps = many\n")
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option hermit_reps = 'many'*expected a positive whole number*"])


def test_ini_selects_environments_and_marker_limits_them(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhermit_env = hvm,pvh\n")
    pytester.makepyfile(
        """
        import pytest

        def test_any(hermit_env):
            pass

        @pytest.mark.hermit(envs=["pvh"])
        def test_pvh_only(hermit_env):
            pass
        """
    )
    result = run_pytest(pytester, "-rs", "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_any[[]hvm[]] SKIPPED*",
            "*test_pvh_only[[]hvm[]] SKIPPED*",
            "*hvm: no Xen on this host (/proc/xen/capabilities missing*",
            "*limits this test to pvh*",
        ]
    )


def test_require_env_turns_a_skip_into_a_broken_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester, "--hermit-env=pvh", "--hermit-require-env")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken run*pvh: no Xen on this host*(required by --hermit-require-env)*"])
    assert result.ret == 6, "a host without a required environment: retry elsewhere, not 'slower'"


def test_an_unbuilt_reference_guest_is_a_usage_error_before_any_boot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pytest_hermit._shipped import Shipped
    from pytest_hermit.vm import guest

    unbuilt = Shipped(tmp_path / "build" / "refguest.elf", "source checkout", f"run 'make -C {tmp_path}'")
    monkeypatch.setattr(guest, "shipped", lambda name: unbuilt)
    pytester.makepyfile("def test_boots(hermit_run):\n    hermit_run('hello')\n")
    result = run_pytest(pytester, "--hermit-env=qemu")
    assert result.ret == 4
    result.stdout.fnmatch_lines(
        ["*hermit: the reference guest is missing from the source checkout*refguest.elf*make -C*"]
    )
    result.stdout.no_fnmatch_line("*PASSED*")


def test_help_markers_and_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    result = run_pytest(pytester, "--help")
    for option in ("--hermit-env=NAMES", "--hermit-compare=NAME", "--hermit-max-boots=N", "--hermit-require-env"):
        assert option in result.stdout.str()
    result = run_pytest(pytester, "--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.hermit(envs=None, guest=None)*"])
    assert "--hermit-guest=NAME" in run_pytest(pytester, "--help").stdout.str()
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run_pytest(pytester, "--fixtures")
    result.stdout.fnmatch_lines(["*hermit_run*", "*Boot the guest and measure a workload*"])


def test_user_environment_from_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.hermit.environments.tcg-big]
        base = "qemu"
        memory = 1024
        vcpus = 2
        """
    )
    pytester.makepyfile(
        """
        def test_env(hermit_env):
            assert hermit_env.name == "tcg-big"
            assert (hermit_env.memory_mib, hermit_env.vcpus, hermit_env.domain_type) == (1024, 2, "qemu")
        """
    )
    result = run_pytest(pytester, "--hermit-env=tcg-big", "-v")
    result.stdout.fnmatch_lines(["*test_env[[]tcg-big[]] PASSED*"])


@pytest.mark.parametrize(
    ("old", "new", "value", "field"),
    [
        ("libvirt_uri", "uri", "qemu+ssh://h/system", "uri"),
        ("memory_mib", "memory", 2048, "memory_mib"),
        ("cpu_model", "cpu", "host", "cpu_model"),
    ],
)
def test_an_old_environment_key_still_works_with_a_deprecation_warning(
    old: str, new: str, value: object, field: str
) -> None:
    with pytest.warns(HermitDeprecationWarning) as caught:
        registry = load_registry({"environments": {"big": {"base": "kvm", old: value}}}, "pyproject.toml")
    assert getattr(registry["big"], field) == value
    assert str(caught[0].message) == (
        f"pyproject.toml: [tool.hermit.environments.big]: key {old!r} is deprecated; name it {new!r}"
    )
    with pytest.raises(ConfigError, match=f"give {new!r} only"):
        load_registry({"environments": {"big": {"base": "kvm", old: value, new: value}}}, "pyproject.toml")


def test_a_deprecated_environment_key_shows_in_the_warnings_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.hermit.environments.tcg-big]
        base = "qemu"
        memory_mib = 1024
        """
    )
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run_pytest(pytester, "--hermit-env=tcg-big")
    result.stdout.fnmatch_lines(
        ["*HermitDeprecationWarning*[[]tool.hermit.environments.tcg-big[]]*'memory_mib'*'memory'*"]
    )
    assert result.ret == 0


def test_bad_user_environment_names_file_and_key() -> None:
    with pytest.raises(ConfigError, match=r"pyproject.toml: \[tool.hermit.environments.x\]: unknown key\(s\) memroy"):
        load_registry({"environments": {"x": {"base": "kvm", "memroy": 1}}}, "pyproject.toml")
    with pytest.raises(ConfigError, match="'base' must be one of kvm, qemu, hvm, pvh"):
        load_registry({"environments": {"x": {"base": "vmware"}}}, "pyproject.toml")
    with pytest.raises(ConfigError, match="shadows a built-in"):
        load_registry({"environments": {"kvm": {"base": "kvm"}}}, "pyproject.toml")


def test_select_all_and_duplicates() -> None:
    assert [e.name for e in select("all", BUILTIN, "x")] == ["kvm", "qemu", "hvm", "pvh", "icount"]
    assert [e.name for e in select("qemu, qemu,kvm", BUILTIN, "x")] == ["qemu", "kvm"]


def test_tolerances() -> None:
    assert percent("5") == pytest.approx(0.05) and percent("2.5%") == pytest.approx(0.025)
    with pytest.raises(argparse.ArgumentTypeError):
        percent("five")
    tol = parse_tolerances(None, {"tolerance": {"default": 4, "malloc": 20, "kvm": {"malloc": 30}}}, "p")
    assert tol == Tolerances(0.04, {"malloc": 0.2}, {"kvm": {"malloc": 0.3}})
    assert tol.of("kvm", "malloc") == pytest.approx(0.3)
    assert tol.of("qemu", "malloc") == pytest.approx(0.2)
    assert tol.of("qemu", "getpid") == pytest.approx(0.04)
    # A metric the user named wins over an environment's built-in default (icount's 0.5%).
    icount = Tolerances(per_metric={"getpid": 0.10}).with_env_defaults({"icount": 0.005})
    assert icount.of("icount", "getpid") == pytest.approx(0.10)
    assert icount.of("icount", "malloc") == pytest.approx(0.005)
    assert parse_tolerances(0.1, {}, "p").default == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="getpid must be a percentage"):
        parse_tolerances(None, {"tolerance": {"getpid": "lots"}}, "p")
    assert verdict_set("regression,inconclusive") == {Verdict.REGRESSION, Verdict.INCONCLUSIVE}


def test_cpu_flags() -> None:
    assert cpu_has_hw_virt("processor : 0\nflags : fpu vme svm sse2\n")
    assert not cpu_has_hw_virt("processor : 0\nflags : fpu vme sse2 hypervisor\n")


def test_xen_nested_in_qemu_is_labelled_emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    vendor = tmp_path / "sys_vendor"
    vendor.write_text("QEMU\n")
    monkeypatch.delenv("HERMIT_EMULATED", raising=False)
    assert nested_in_emulator(vendor)[0]
    vendor.write_text("Dell Inc.\n")
    assert not nested_in_emulator(vendor)[0]
    monkeypatch.setenv("HERMIT_EMULATED", "1")
    emulated, note = nested_in_emulator(vendor)
    assert emulated and "HERMIT_EMULATED" in note


def test_max_boots_needs_a_sensible_start(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester, "--hermit-boots=1", "--hermit-max-boots=10")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hermit-max-boots=10 needs --hermit-boots of at least 2*"])


BAD_NAME_RULE = "use 1-100 letters, digits, '.', '_' or '-'"


@pytest.mark.parametrize("option", ["--hermit-save", "--hermit-compare"])
def test_a_bad_baseline_name_on_the_command_line_names_the_option_and_the_rule(
    pytester: pytest.Pytester, option: str
) -> None:
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester, f"{option}=../x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"argument {option}: invalid baseline name '../x'" in err
    assert BAD_NAME_RULE in err


@pytest.mark.parametrize("key", ["hermit_save", "hermit_compare"])
def test_a_bad_baseline_name_in_the_ini_file_is_a_usage_error_naming_the_key(
    pytester: pytest.Pytester, key: str
) -> None:
    pytester.makeini(f"[pytest]\n{key} = ../x\n")
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "INTERNALERROR" not in err + result.stdout.str()
    assert f"ini option {key} = '../x'" in err and BAD_NAME_RULE in err


def test_hermit_hosts_makes_every_selected_environment_a_pool(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_env(hermit_env):
            assert hermit_env.hosts == ("qemu+tcp://127.0.0.1:1/system", "qemu:///embed")
            assert hermit_env.uri in hermit_env.hosts and hermit_env.max_parallel == 1  # the host this test meets
        """
    )
    result = run_pytest(pytester, "--hermit-env=icount", "--hermit-hosts=qemu+tcp://127.0.0.1:1/system, qemu:///embed")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (("--hermit-hosts=qemu:///embed,qemu:///embed",), "--hermit-hosts names a URI twice"),
        (
            ("--hermit-hosts=qemu:///embed", "--hermit-libvirt-uri=qemu:///embed"),
            "give --hermit-libvirt-uri (one host) or --hermit-hosts (a pool), not both",
        ),
    ],
)
def test_bad_host_pools_on_the_command_line_are_usage_errors(
    pytester: pytest.Pytester, options: tuple[str, ...], words: str
) -> None:
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester, "--hermit-env=icount", *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_the_default_environment_is_kvm_only_on_hardware_virtualization(tmp_path: Path) -> None:
    from pytest_hermit.vm.probes import default_environment

    dev = tmp_path / "kvm"
    dev.write_text("")
    hw = tmp_path / "cpuinfo-vmx"
    hw.write_text("flags\t\t: fpu vme vmx sse2\n")
    emulating = tmp_path / "cpuinfo"
    emulating.write_text("flags\t\t: fpu vme sse2\n")
    assert default_environment(hw, dev) == ("kvm", "")
    name, why = default_environment(emulating, dev)
    assert name == "qemu" and "only emulates here" in why and "--hermit-env=kvm" in why
    name, why = default_environment(hw, tmp_path / "missing")
    assert name == "qemu" and "no usable KVM" in why


def test_without_hermit_env_the_header_says_which_environment_and_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_ENV)
    result = run_pytest(pytester, "--co")
    from pytest_hermit.vm.probes import default_environment

    name, why = default_environment()
    result.stdout.fnmatch_lines([f"hermit: environments {name} (*"])
    if why:
        result.stdout.fnmatch_lines([f"hermit: default environment {name}: *"])
