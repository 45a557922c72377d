"""The ``pytest-hermit`` command, run through ``main([...])``."""

from __future__ import annotations

import importlib
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_hermit import exitcodes
from pytest_hermit.cli import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, EXIT_REGRESSION, main
from pytest_hermit.gate import baselines as bl
from pytest_hermit.results.samples import Samples

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "baselines"
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture
def bdir(tmp_path: Path) -> Path:
    for name in ("main", "slow-getpid"):
        shutil.copy(FIXTURES / f"{name}.json", tmp_path / f"{name}.json")
    return tmp_path


def test_exit_codes_are_distinct_and_each_is_in_the_documented_table() -> None:
    """docs/statistics.md's table names every code of exitcodes.py with its number, and no other code."""
    defined = {name: value for name, value in vars(exitcodes).items() if name.startswith("EXIT_")}
    assert len(set(defined.values())) == len(defined), f"two names share a code: {defined}"
    assert (EXIT_OK, EXIT_REGRESSION, EXIT_REFUSED, EXIT_BROKEN) == (0, 1, 7, 6)
    text = (DOCS / "statistics.md").read_text()
    table = text.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\| (\d+) \| `(EXIT_\w+)` \| \S", table, re.MULTILINE)}
    assert rows == defined
    # The command's own --help text (its module docstring) lists the codes it returns.
    helped = importlib.import_module("pytest_hermit.cli.main").__doc__ or ""
    for name in ("EXIT_OK", "EXIT_REGRESSION", "EXIT_REFUSED", "EXIT_BROKEN"):
        assert f"* {defined[name]} (:data:`{name}`)" in helped, name


def test_list_names_every_baseline(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--dir", str(bdir)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "main" in out and "slow-getpid" in out and "kvm,qemu" in out and "2222222222" in out


def test_list_of_an_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--dir", str(tmp_path / "none")]) == EXIT_OK
    assert "no baselines" in capsys.readouterr().out


def test_show_prints_a_table_per_test_and_the_context(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "main", "--dir", str(bdir)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "tests/test_perf.py::test_basic" in out and "getpid" in out and "(12x5)" in out
    assert "KVMKVMKVM" in out and "TCGTCGTCGTCG (emulated)" in out


def test_compare_a_baseline_with_itself_finds_no_regression(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "main", "main", "--dir", str(bdir)]) == EXIT_OK
    assert "regression" not in capsys.readouterr().out


def test_compare_finds_the_slowed_getpid_and_nothing_else(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "main", "slow-getpid", "--dir", str(bdir)]) == EXIT_REGRESSION
    out = capsys.readouterr().out
    regressed = [line for line in out.splitlines() if " regressed on " in line]
    assert len(regressed) == 2
    assert all(line.startswith("getpid regressed on ") for line in regressed)
    assert "Mann-Whitney p=" in regressed[0] and "tolerance 5%" in regressed[0]
    assert "summary: change main -> slow-getpid" in out


def test_compare_in_markdown(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["compare", "main", "slow-getpid", "--dir", str(bdir), "--markdown", "--tolerance", "50"])
    out = capsys.readouterr().out
    assert "| metric | unit | A | B | change |" in out and "tolerance 50%" in out


def test_a_corrupt_baseline_is_refused_naming_its_path_and_untouched(
    bdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bdir / "slow-getpid.json"
    path.write_text('{"schema": ', encoding="utf-8")
    assert main(["compare", "main", "slow-getpid", "--dir", str(bdir)]) == EXIT_REFUSED
    assert f"{path}: corrupt JSON" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == '{"schema": '
    assert main(["list", "--dir", str(bdir)]) == EXIT_REFUSED


def test_an_unknown_baseline_is_refused(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "nope", "--dir", str(bdir)]) == EXIT_REFUSED
    assert "no baseline named 'nope'" in capsys.readouterr().err


def test_a_foreign_host_is_refused_unless_allowed(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_baseline = bl.load(bdir / "main.json")
    moved = [
        bl.Entry(
            e.test,
            e.env,
            e.samples,
            bl.Context(
                **{
                    **e.context.__dict__,
                    "host": bl.HostFingerprint(
                        cpu_model="AMD EPYC",
                        hypervisor_signature=e.context.host.hypervisor_signature,
                        emulated=e.context.host.emulated,
                    ),
                }
            ),
        )
        for e in main_baseline
    ]
    bl.save_merge(bdir / "other-host.json", moved)
    assert main(["compare", "main", "other-host", "--dir", str(bdir)]) == EXIT_REFUSED
    assert "refused: " in capsys.readouterr().out
    assert main(["compare", "main", "other-host", "--dir", str(bdir), "--allow-foreign-baseline"]) == EXIT_OK


def test_a_missing_entry_is_reported_and_refused(bdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kvm_only = [e for e in bl.load(bdir / "main.json") if e.env == "kvm"]
    bl.save_merge(bdir / "kvm-only.json", kvm_only)
    assert main(["compare", "main", "kvm-only", "--dir", str(bdir)]) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert (
        "not compared: getpid of tests/test_perf.py::test_basic[qemu] run 'basic' on qemu "
        "is in 'main' but not in 'kvm-only'" in out
    )


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["compare", "main"], ["compare", "a", "b", "--tolerance", "x"], ["show", "../etc"]],
)
def test_usage_errors_exit_with_the_refusal_code(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_REFUSED
    assert "error:" in capsys.readouterr().err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    assert "compare" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["show", "../x"], ["compare", "main", "a/b"], ["show", "main.json"], ["compare", "..", "main"]]
)
def test_a_bad_baseline_name_is_one_clear_line_and_the_refusal_code(
    bdir: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--dir", str(bdir)]) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "invalid baseline name" in err and "use 1-100 letters, digits" in err
    assert "Traceback" not in err


def test_show_and_list_say_when_a_baseline_was_made_from_uncommitted_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirty = [replace(e, context=replace(e.context, git_dirty=True)) for e in bl.load(FIXTURES / "main.json")]
    bl.save_merge(tmp_path / "wip.json", dirty)
    assert bl.load(tmp_path / "wip.json").entries == {e.key: e for e in dirty}
    assert main(["show", "wip", "--dir", str(tmp_path)]) == EXIT_OK
    assert "+ uncommitted changes (dirty)" in capsys.readouterr().out
    assert main(["list", "--dir", str(tmp_path)]) == EXIT_OK
    assert "-dirty" in capsys.readouterr().out


def _icount_baseline(directory: Path, name: str, getpid: float, boot_time_host: list[list[float]]) -> None:
    context = bl.Context(
        "0", {"name": "icount", "icount": True}, bl.HostFingerprint(), "x", "workload=hello reps=1", None, None, "d"
    )
    entries = [
        bl.Entry("t.py::test_b[icount]", "icount", Samples.of("getpid", "cycles", [[getpid]] * 2), context, "b"),
        bl.Entry("t.py::test_b[icount]", "icount", Samples.of("malloc", "cycles", [[2414.0]] * 2), context, "b"),
        bl.Entry("t.py::test_b[icount]", "icount", Samples.of("boot_time_host", "ms", boot_time_host), context, "b"),
    ]
    bl.save_merge(directory / f"{name}.json", entries)


def test_compare_judges_icount_baselines_as_the_gate_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare called the statistics without the exact path and at a flat 5%: two icount
    baselines with getpid +6.7% were "not compared" (exit 7) where the gate says regression."""
    monkeypatch.chdir(tmp_path)  # no pyproject.toml: the built-in tolerances
    _icount_baseline(tmp_path, "a", 15.0, [[0.8]])
    _icount_baseline(tmp_path, "b", 16.0, [[0.9]])
    assert main(["compare", "a", "b", "--dir", str(tmp_path)]) == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "getpid regressed on icount: 15.000 -> 16.000 cycles (+6.7%, exact" in out
    assert "tolerance 0.5%" in out
    assert "not compared: boot_time_host" in out  # the host's one-boot clock is left out, not the family


def test_compare_takes_a_metrics_tolerance_from_the_pyproject_in_the_current_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.hermit.tolerance]\ngetpid = 10\n")
    _icount_baseline(tmp_path, "a", 15.0, [[0.8], [0.8]])
    _icount_baseline(tmp_path, "b", 16.0, [[0.8], [0.8]])
    assert main(["compare", "a", "b", "--dir", str(tmp_path)]) == EXIT_OK
    assert "tolerance 0.5%/10%" in capsys.readouterr().out
