"""Study-shaped tables in plain text and Markdown."""

from __future__ import annotations

from pytest_hermit.report.tables import Row, Table, render_markdown, render_text

TABLE = Table(
    "basic, cycles",
    ["kvm", "qemu (emulated)"],
    [Row("getpid", "cycles", {"kvm": "9", "qemu (emulated)": "122"}), Row("malloc", "cycles", {"kvm": "5,858"})],
)


def test_text_has_one_column_per_environment_and_one_row_per_metric() -> None:
    assert render_text(TABLE) == (
        "basic, cycles\n"
        "metric  unit      kvm  qemu (emulated)\n"
        "------  ------  -----  ---------------\n"
        "getpid  cycles      9              122\n"
        "malloc  cycles  5,858"
    )


def test_markdown_is_a_pipe_table_with_numbers_right_aligned() -> None:
    assert render_markdown(TABLE) == (
        "**basic, cycles**\n"
        "\n"
        "| metric | unit | kvm | qemu (emulated) |\n"
        "| --- | --- | --: | --: |\n"
        "| getpid | cycles | 9 | 122 |\n"
        "| malloc | cycles | 5,858 |  |"
    )


def test_markdown_escapes_pipes_and_an_untitled_table_has_no_title_line() -> None:
    table = Table("", ["a|b"], [Row("x|y", "", {"a|b": "1|2"})], label_header="name", unit_header="")
    assert render_markdown(table).splitlines() == [
        "| name |  | a\\|b |",
        "| --- | --- | --: |",
        "| x\\|y |  | 1\\|2 |",
    ]
    assert render_text(table).splitlines()[0].startswith("name")


def test_an_empty_table_still_renders_its_header() -> None:
    assert render_text(Table("t", ["kvm"], [])) == "t\nmetric  unit  kvm\n------  ----  ---"
