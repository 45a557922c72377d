"""The VT100 screen model, on memtest86+'s recorded serial mirror and on small hand-made streams."""

from __future__ import annotations

import pytest

from pytest_hermit.results.screen import Screen
from tests.conftest import REPO

#: memtest86+ 6.10 (Debian's /boot/memtest86+x64.bin) under QEMU TCG with qboot, -cpu qemu64 with
#: l3-cache=off, console=ttyS0: 15 seconds of its screen mirror, as read from the serial port.
MEMTEST = REPO / "fixtures" / "transcripts" / "memtest86plus-tcg.log"


def memtest_stream() -> str:
    return MEMTEST.read_bytes().decode("ascii")


def test_memtest_mirror_renders_its_header_with_the_bandwidth_figures() -> None:
    screen = Screen()
    screen.feed(memtest_stream())
    rows = screen.rows()
    assert rows[0].rstrip() == "      Memtest86+ v6.10      | QEMU Virtual CPU version 2.5+"
    assert rows[2].startswith("L1 Cache:   64KB  6.63 GB/s | Test 75% ")
    assert rows[3].startswith("L2 Cache:  512KB   100 MB/s | Test #6  [Moving inversions, 64 bit pattern]")
    assert rows[4].startswith("L3 Cache:   N/A             | Testing: 4MB - 59MB [55MB of 58.6MB]")
    assert rows[5].startswith("Memory  :   59MB  82.6 MB/s | Pattern: 0xfffffffffffdffff")
    assert rows[6] == "-" * 80
    assert rows[23].strip() == "QEMU Standard PC (i440FX + PIIX, 1996)"
    assert "\x1b" not in screen.text() and "[" + "7m" not in screen.text()


def test_memtest_mirror_fed_one_character_at_a_time_gives_the_same_screen() -> None:
    whole, pieces = Screen(), Screen()
    stream = memtest_stream()
    whole.feed(stream)
    for ch in stream:
        pieces.feed(ch)
    assert pieces.rows() == whole.rows()


def test_rows_are_the_screen_size_and_blank_at_first() -> None:
    screen = Screen(rows=3, cols=5)
    assert screen.rows() == ["     "] * 3
    screen.feed("ab")
    assert screen.rows() == ["ab   ", "     ", "     "]


def test_cursor_position_overwrites_only_the_cells_written() -> None:
    screen = Screen(rows=3, cols=10)
    screen.feed("0123456789\x1b[1;1Hxx\x1b[2;4Hyy\x1b[3Hz")
    assert screen.text() == "xx23456789\n   yy\nz"


def test_erase_in_line_and_display() -> None:
    screen = Screen(rows=3, cols=6)
    screen.feed("aaaaaa\r\nbbbbbb\r\ncccccc")
    screen.feed("\x1b[2;3H\x1b[K")
    assert screen.text() == "aaaaaa\nbb\ncccccc"
    screen.feed("\x1b[1K")
    assert screen.text() == "aaaaaa\n\ncccccc"
    screen.feed("\x1b[1;2H\x1b[J")
    assert screen.text() == "a\n\n"
    screen.feed("\x1b[2J")
    assert screen.rows() == ["      "] * 3


def test_text_wraps_at_the_right_edge_and_scrolls_at_the_bottom() -> None:
    screen = Screen(rows=2, cols=4)
    screen.feed("abcdefg")
    assert screen.text() == "abcd\nefg"
    screen.feed("hi")
    assert screen.text() == "efgh\ni"
    screen.feed("\r\nj\nk")
    assert screen.text() == "j\n k"


def test_the_last_column_wraps_only_when_another_character_follows() -> None:
    screen = Screen(rows=2, cols=4)
    screen.feed("abcd\r\n")
    assert screen.text() == "abcd\n"
    assert (screen.row, screen.col) == (1, 0)


def test_with_wrap_turned_off_the_last_column_is_overwritten() -> None:
    screen = Screen(rows=2, cols=4)
    screen.feed("\x1b[?7labcdefg")
    assert screen.text() == "abcg\n"
    screen.feed("\x1b[?7h\x1b[1;4Hxy")
    assert screen.text() == "abcx\ny"


def test_full_reset_clears_the_screen_and_homes_the_cursor() -> None:
    screen = Screen(rows=2, cols=4)
    screen.feed("\x1b[?7lab\r\ncd\x1bcX")
    assert screen.text() == "X\n"


def test_attributes_modes_and_unknown_sequences_draw_nothing() -> None:
    screen = Screen(rows=1, cols=20)
    screen.feed("\x1b[7ma\x1b[0m\x1b[?25lb\x1b(Bc\x1b]0;title\x07d\x1b[5nE\x1b=f")
    assert screen.text() == "abcdEf"


def test_relative_moves_backspace_and_tab() -> None:
    screen = Screen(rows=3, cols=12)
    screen.feed("abc\b\bX\tT\x1b[2BZ\x1b[1AY\x1b[3DW\x1b[2GV")
    assert screen.text() == "aXc     T\n V      W Y\n         Z"


def test_scroll_region_scrolls_only_its_rows() -> None:
    screen = Screen(rows=4, cols=3)
    screen.feed("top\x1b[2;3r\x1b[2;1Hr1\r\nr2\r\nr3\x1b[4;1Hend")
    assert screen.text() == "top\nr2\nr3\nend"


def test_saved_cursor_is_restored() -> None:
    screen = Screen(rows=2, cols=6)
    screen.feed("ab\x1b7\x1b[2;5Hzz\x1b8c")
    assert screen.text() == "abc\n    zz"


@pytest.mark.parametrize("rows, cols", [(0, 80), (25, 0)])
def test_a_screen_without_cells_is_refused(rows: int, cols: int) -> None:
    with pytest.raises(ValueError, match="at least one row and one column"):
        Screen(rows=rows, cols=cols)
