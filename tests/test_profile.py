"""Guest instruction profiles on plain data: the plugin's counts, symbols, diffs, storage and explain (no VM)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_hermit.cli import EXIT_OK, EXIT_REFUSED, main
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate.judge import Gate, GateSettings, Judged, Regression
from pytest_hermit.gate.stats import compare
from pytest_hermit.history.records import from_document as record_from_document
from pytest_hermit.history.records import to_document as record_to_document
from pytest_hermit.profile import diff
from pytest_hermit.profile.callgrind import callgrind
from pytest_hermit.profile.counts import CountsError, parse_counts
from pytest_hermit.profile.folded import folded
from pytest_hermit.profile.profile import FunctionCount, FunctionProfile, ProfileError
from pytest_hermit.profile.symbols import Function, SymbolsError, SymbolTable, load_symbols
from pytest_hermit.report.formats import markdown, read_results, results_json
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples
from pytest_hermit.vm.domxml import DomainSpec, render
from pytest_hermit.vm.environments import BUILTIN
from pytest_hermit.vm.profiler import refusal
from tests.conftest import run_pytest
from tests.history_data import measurement, record
from tests.test_baselines import context

SYSTEM_MAP = """\
ffffffff81000000 T _stext
ffffffff81000100 T do_getpid
ffffffff81000180 t helper
ffffffff81000200 D some_data
ffffffff81000300 W weak_fn
"""


def profile(boots: int = 1, **functions: int) -> FunctionProfile:
    return FunctionProfile(boots, {name: FunctionCount(n, f"k/{name}.c:1") for name, n in functions.items()})


# --------------------------------------------------------------------------- the plugin's counts


def test_counts_of_one_block_seen_twice_are_summed() -> None:
    counts = parse_counts("# hermit-insns 1\n200500 4 10\nf1624 5 7\n200500 4 2\n", "boot1.insns")
    assert counts == {(0x200500, 4): 12, (0xF1624, 5): 7}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "boot1.insns: not a hermit_insns counts file"),
        ("200500 4 10\n", "expected '# hermit-insns 1'"),
        ("# hermit-insns 1\n200500 four 10\n", "boot1.insns line 2: expected 'ADDRESS INSNS COUNT'"),
    ],
)
def test_a_counts_file_in_another_format_is_an_error_naming_file_and_line(text: str, said: str) -> None:
    with pytest.raises(CountsError, match=re.escape(said)):
        parse_counts(text, "boot1.insns")


# --------------------------------------------------------------------------- symbols


def test_a_system_map_gives_text_symbols_reaching_to_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "System.map"
    path.write_text(SYSTEM_MAP)
    table = load_symbols(path)
    assert table.lookup(0xFFFFFFFF81000100).name == "do_getpid"
    assert table.lookup(0xFFFFFFFF8100017F).name == "do_getpid"
    assert table.lookup(0xFFFFFFFF81000180).name == "helper"
    # data symbols are not functions: helper reaches to weak_fn
    assert table.lookup(0xFFFFFFFF81000250).name == "helper"
    assert table.lookup(0xFFFFFFFF81000300) == Function("weak_fn", "")


def test_addresses_outside_every_symbol_are_grouped_by_region() -> None:
    table = SymbolTable.of([(0x200000, 0x10, Function("f"))])
    assert table.lookup(0x200010).name == table.lookup(0x20FFFF).name == "[no symbol 0x200000-0x20ffff]"
    assert table.lookup(0xF1624).name == "[no symbol 0xf0000-0xfffff]"


def test_a_file_that_is_neither_elf_nor_system_map_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "bzImage"
    path.write_bytes(b"MZ\x00\x00 not a map")
    with pytest.raises(SymbolsError, match="--hermit-profile-symbols"):
        load_symbols(path)


def test_the_reference_guest_elf_gives_getpid_with_its_file_and_line(reference_guest: Path) -> None:
    table = load_symbols(reference_guest)
    source = (reference_guest.parents[1] / "common" / "sched.c").read_text().splitlines()
    line = next(i for i, text in enumerate(source, start=1) if text.startswith("int getpid(void)"))
    getpid = next(f for f in table.functions if f.name == "getpid")
    start = table.starts[table.functions.index(getpid)]
    assert table.lookup(start + 1) == getpid
    # the line of the function's first instruction: its opening, within a line or two
    file, _, number = getpid.where.rpartition(":")
    assert file == "common/sched.c" and line <= int(number) <= line + 2, getpid.where


# --------------------------------------------------------------------------- profiles and their diff


def test_blocks_are_attributed_to_the_function_they_start_in() -> None:
    table = SymbolTable.of([(0x1000, 0x100, Function("a", "a.c:1")), (0x1100, 0x100, Function("b", "b.c:9"))])
    counts = {(0x1000, 4): 10, (0x1010, 2): 5, (0x1100, 3): 1, (0x9000, 1): 7}
    p = FunctionProfile.of(counts, table, boots=1)
    assert p.functions["a"] == FunctionCount(50, "a.c:1")
    assert p.functions["b"] == FunctionCount(3, "b.c:9")
    assert p.functions["[no symbol 0x0-0xffff]"].instructions == 7
    assert p.total == 60


def test_a_profile_survives_its_compressed_form_and_a_damaged_one_is_an_error() -> None:
    p = profile(2, getpid=30, main=1000)
    assert FunctionProfile.decode(p.encode()) == p
    with pytest.raises(ProfileError, match=re.escape("profiles.x: the stored profile is damaged")):
        FunctionProfile.decode(p.encode()[:-8] + "AAAAAAAA", "profiles.x")


def test_the_diff_lists_increases_largest_first_then_decreases_and_leaves_out_the_unchanged() -> None:
    base = profile(1, getpid=15, sched_yield=57, malloc=2000, idle=10)
    new = profile(2, getpid=2 * 38, sched_yield=2 * 57, malloc=2 * 2001, idle=2 * 4, fresh=2 * 5)
    rows = diff.changes(base, new)
    assert [(r.name, r.base, r.new) for r in rows] == [
        ("getpid", 15, 38),
        ("fresh", 0, 5),
        ("malloc", 2000, 2001),
        ("idle", 10, 4),
    ]
    lines = diff.table(rows, exact=True)
    assert lines[0] == "guest instructions per function and boot, changed (exact under icount):"
    assert lines[1].split() == ["getpid", "instructions", "15", "->", "38", "+23", "(+153.3%)", "k/getpid.c:1"]
    assert "(new)" in lines[2]


def test_under_timed_tcg_the_table_says_it_stands_beside_a_timed_verdict() -> None:
    lines = diff.table(diff.changes(profile(getpid=1), profile(getpid=2)), exact=False)
    assert "instruction counts are shown beside a timed verdict" in lines[0]
    assert diff.table([], exact=False) == ["guest instructions per function: no function changed"]


def test_a_long_diff_is_cut_with_a_count_of_the_rest() -> None:
    base = profile(**{f"f{i}": 1 for i in range(5)})
    new = profile(**{f"f{i}": 2 for i in range(5)})
    lines = diff.table(diff.changes(base, new), exact=True, limit=2)
    assert len(lines) == 4 and lines[-1] == "  ... and 3 more function(s) changed"


def test_folded_stacks_give_each_function_its_instructions_per_boot() -> None:
    text = folded(profile(2, getpid=30, main=1000, gone=0), root="icount:basic")
    assert text.splitlines() == ["icount:basic;main 500", "icount:basic;getpid 15"]


@pytest.mark.skipif(shutil.which("callgrind_annotate") is None, reason="valgrind's callgrind_annotate not installed")
def test_callgrind_annotate_reads_the_diff_and_puts_the_largest_increase_first(tmp_path: Path) -> None:
    path = tmp_path / "diff.callgrind"
    path.write_text(callgrind(profile(getpid=15, main=1000, idle=50), profile(getpid=38, main=1001, idle=10)))
    shown = subprocess.run(["callgrind_annotate", str(path)], capture_output=True, text=True, check=True).stdout
    functions = [line for line in shown.splitlines() if line.rstrip().endswith(("getpid", "main", "idle"))]
    assert functions[0].split()[0] == "23" and functions[0].endswith("k/getpid.c:getpid"), shown
    assert "Increase Decrease New Base" in shown


# --------------------------------------------------------------------------- stored with baselines and records


def test_a_baseline_keeps_one_copy_of_a_runs_profile_for_all_its_metrics() -> None:
    p = profile(getpid=15, main=1000)
    entries = [
        bl.Entry("t::test[qemu]", "qemu", Samples.of(m, "cycles", [[1.0, 2.0]]), context(), "basic", p)
        for m in ("getpid", "malloc")
    ]
    document = json.loads(json.dumps(bl.to_document(bl.Baseline.of("main", entries))))
    assert len(document["profiles"]) == 1
    assert {e["profile"] for e in document["entries"]} == set(document["profiles"])
    back = bl.from_document(document)
    assert [e.profile for e in back] == [p, p]


def test_a_baseline_entry_naming_an_unknown_profile_is_refused() -> None:
    entry = bl.Entry("t::test[qemu]", "qemu", Samples.of("getpid", "cycles", [[1.0]]), context(), "basic", profile())
    document = bl.to_document(bl.Baseline.of("main", [entry]))
    document["profiles"] = {}
    with pytest.raises(bl.BaselineError, match=r"entries\[0\].profile refers to unknown profile"):
        bl.from_document(document)


def test_a_history_record_keeps_each_measurements_profile() -> None:
    p = profile(getpid=15)
    rec = record("ab" * 20, dataclasses.replace(measurement([[15.0]]), profile=p), measurement([[15.0]], env="qemu"))
    back = record_from_document(json.loads(json.dumps(record_to_document(rec))))
    assert [m.profile for m in back.measurements] == [p, None]


def test_qemu_args_follow_icounts_in_the_domain_xml() -> None:
    spec = DomainSpec("hermit-x", Path("/k.elf"), "workload=basic", qemu_args=("-plugin", "/p.so,out=/o"))
    xml = render(BUILTIN["icount"], spec)
    values = re.findall(r'<qemu:arg value="([^"]+)"', xml)
    assert values == ["-icount", "shift=0,sleep=off", "-plugin", "/p.so,out=/o"]


# --------------------------------------------------------------------------- pytest-hermit explain


def _save(directory: Path, name: str, p: FunctionProfile | None) -> None:
    icount = context(environment={"name": "icount", "domain_type": "qemu", "icount": True})
    entry = bl.Entry("t::test[icount]", "icount", Samples.of("getpid", "cycles", [[15.0]]), icount, "basic", p)
    bl.save_merge(bl.path_for(directory, name), [entry])


def test_explain_lists_the_changed_functions_of_two_baselines_and_writes_callgrind_and_folded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _save(tmp_path, "base", profile(getpid=15, main=1000, idle=10))
    _save(tmp_path, "new", profile(getpid=38, main=1000, idle=4))
    cg, fold = tmp_path / "d.callgrind", tmp_path / "new.folded"
    status = main(["explain", "--dir", str(tmp_path), "base", "new", "--callgrind", str(cg), "--folded", str(fold)])
    out = capsys.readouterr().out
    assert status == EXIT_OK, out
    lines = out.splitlines()
    assert lines[0] == "t::test[icount] run 'basic' on icount: base -> new (1,025 -> 1,042 instructions per boot)"
    assert lines[1].endswith("(exact under icount):")
    assert lines[2].split()[:5] == ["getpid", "instructions", "15", "->", "38"]
    assert lines[3].split()[0] == "idle" and not any(line.split()[:1] == ["main"] for line in lines)
    assert cg.read_text().startswith("# callgrind format") and "icount:basic;main 1000" in fold.read_text()


def test_explain_takes_a_history_record_by_the_start_of_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _save(tmp_path, "base", profile(getpid=15))
    m = dataclasses.replace(measurement([[38.0]], test="t::test[icount]"), profile=profile(getpid=38))
    (tmp_path / "20250601T120000Z-abab-0123.json").write_text(json.dumps(record_to_document(record("ab" * 20, m))))
    assert main(["explain", "--dir", str(tmp_path), "base", "20250601T12"]) == EXIT_OK
    assert "getpid  instructions 15 -> 38" in capsys.readouterr().out


def test_explain_without_profiles_on_both_sides_says_how_to_record_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _save(tmp_path, "base", None)
    _save(tmp_path, "new", profile(getpid=38))
    assert main(["explain", "--dir", str(tmp_path), "base", "new"]) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "has a profile in 'new' only" in out and "record both with --hermit-profile" in out
    assert main(["explain", "--dir", str(tmp_path), "base", "nothing"]) == EXIT_REFUSED
    assert "no baseline or history record 'nothing'" in capsys.readouterr().out


# --------------------------------------------------------------------------- the regression's message and reports


def _regressed(with_profiles: bool) -> Judged:
    slower = Samples.of("getpid", "cycles", [[38.0], [38.0]])
    m = Measurement(
        env="icount",
        workload="basic",
        samples={"getpid": slower},
        boots=2,
        reps=1,
        cmdline="workload=basic reps=1",
        counted=True,
        test_id="t::test[icount]",
        profile=profile(2, getpid=76, main=2000) if with_profiles else None,
    )
    c = compare(Samples.of("getpid", "cycles", [[15.0], [15.0]]), slower, 0.005, exact_for=lambda _s: True)
    return Judged(m, [c], reference_profile=profile(getpid=15, main=1000) if with_profiles else None)


def test_a_regressions_message_and_reports_list_the_functions_that_changed() -> None:
    judged = _regressed(with_profiles=True)
    gate = Gate(GateSettings(compare="base"))
    with pytest.raises(Regression) as failure:
        gate.enforce(judged)
    lines = str(failure.value).splitlines()
    assert lines[0].startswith("getpid regressed on icount")
    assert lines[2].split()[:5] == ["getpid", "instructions", "15", "->", "38"]
    assert len(lines) == 3  # main did not change: not listed
    md = markdown([judged.measurement], [judged], "base")
    assert "getpid  instructions 15 -> 38" in md
    run = results_json([judged.measurement], [judged], {})["runs"][0]
    assert run["profile_changes"] == [
        {"function": "getpid", "base": 15.0, "new": 38.0, "change": 23.0, "where": "k/getpid.c:1"}
    ]
    assert read_results(json.loads(json.dumps(results_json([judged.measurement], [], {}))))[0][0].profile == (
        judged.measurement.profile
    )


def test_without_profiles_a_regressions_message_is_only_the_verdict() -> None:
    with pytest.raises(Regression) as failure:
        Gate(GateSettings(compare="base")).enforce(_regressed(with_profiles=False))
    assert len(str(failure.value).splitlines()) == 1


# --------------------------------------------------------------------------- the option


def test_hermit_profile_in_the_ini_without_a_built_plugin_is_a_usage_error_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERMIT_PROFILER_PLUGIN", str(pytester.path / "missing.so"))
    pytester.makeini("[pytest]\nhermit_profile = true\n")
    pytester.makepyfile("def test_x(hermit_run):\n    hermit_run('basic')\n")
    result = run_pytest(pytester, "--hermit-env=icount")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--hermit-profile: profiling is unavailable: HERMIT_PROFILER_PLUGIN names*missing.so*"]
    )


def test_hermit_profile_skips_kvm_with_the_reason(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = pytester.path / "hermit_insns.so"
    plugin.write_bytes(b"")  # never loaded: the kvm test is skipped before any boot
    monkeypatch.setenv("HERMIT_PROFILER_PLUGIN", str(plugin))
    pytester.makepyfile("def test_x(hermit_run):\n    hermit_run('basic')\n")
    result = run_pytest(pytester, "--hermit-env=kvm", "--hermit-profile")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*environment kvm (kvm) runs the guest natively: profile it in icount*"])


@pytest.mark.parametrize(
    ("env", "uri", "said"),
    [
        ("kvm", "qemu:///embed", "runs the guest natively"),
        ("pvh", "xen:///system", "runs the guest natively"),
        ("icount", "qemu+ssh://host/system", "writes its counts on the host QEMU runs on"),
        ("icount", "qemu:///embed", None),
        ("qemu", "qemu:///system", None),
    ],
)
def test_profiles_are_refused_where_qemus_tcg_does_not_run_the_guest_on_this_host(
    env: str, uri: str, said: str | None
) -> None:
    reason = refusal(dataclasses.replace(BUILTIN[env], uri=uri))
    assert reason is None if said is None else said in (reason or ""), reason


def test_a_placeholder_system_map_is_named_with_what_it_says(tmp_path: Path) -> None:
    path = tmp_path / "System.map-6.1.0-57-cloud-amd64"
    path.write_text("ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n")
    with pytest.raises(SymbolsError, match=re.escape("it says: 'ffffffffffffffff B The real System.map is in")):
        load_symbols(path)


def test_a_profile_says_how_much_matched_no_symbol() -> None:
    table = SymbolTable.of([(0x1000, 0x100, Function("a"))])
    p = FunctionProfile.of({(0x1000, 1): 1, (0x9000, 3): 1}, table, boots=1)
    assert p.unresolved_share == 0.75
