"""A text screen fed with a VT100 byte stream: what a guest that draws on its console shows.

Some guests do not print lines, they paint a screen: memtest86+ mirrors its
80x25 display to the serial port as cursor positioning (``ESC[row;colH``),
clears and attributes, and rewrites only the cells that change. Reading such
a console line by line gives fragments; this model replays the stream onto a
grid of characters so the rows read as a person sees them.

What it does: printable characters at the cursor (wrapping at the right edge
unless the guest turned wrap off with ``ESC[?7l``, scrolling at the bottom),
carriage return, line feed, backspace, tab; cursor moves (``H``, ``f``,
``A``-``D``, ``G``, ``d``), erase in display and line (``J``, ``K``),
erase characters (``X``), the scroll region (``r``), save and restore the
cursor (``ESC 7``/``ESC 8``, ``ESC[s``/``ESC[u``), index and reverse index
(``ESC D``/``ESC M``/``ESC E``), full reset (``ESC c``). Attributes (``m``),
modes other than wrap and anything it does not know are read and ignored,
never shown as text. An escape sequence cut between two ``feed`` calls is
completed by the next one. Pure: no I/O.
"""

from __future__ import annotations

#: Characters that end a control sequence (ECMA-48 final bytes).
_FINAL = range(0x40, 0x7F)
_TAB = 8


class Screen:
    """``rows`` x ``cols`` cells of text with a cursor, changed by :meth:`feed`."""

    def __init__(self, rows: int = 25, cols: int = 80) -> None:
        if rows < 1 or cols < 1:
            raise ValueError(f"a screen needs at least one row and one column, got {rows}x{cols}")
        self.height = rows
        self.width = cols
        self._pending = ""  # an escape sequence not complete yet
        self._reset()

    def _reset(self) -> None:
        self._cells = [[" "] * self.width for _ in range(self.height)]
        self.row = 0
        self.col = 0
        self._wrap_next = False  # the last column was written: the next character wraps first
        self._autowrap = True
        self._top = 0
        self._bottom = self.height - 1
        self._saved = (0, 0)

    def rows(self) -> list[str]:
        """The screen's text, one string of ``cols`` characters per row."""
        return ["".join(cells) for cells in self._cells]

    def text(self) -> str:
        """The rows without trailing blanks, joined by newlines (for messages and tests)."""
        return "\n".join(row.rstrip() for row in self.rows())

    def feed(self, text: str) -> None:
        """Apply console output: characters, control characters and escape sequences."""
        data = self._pending + text
        self._pending = ""
        i, n = 0, len(data)
        while i < n:
            ch = data[i]
            if ch == "\x1b":
                end = _sequence_end(data, i)
                if end is None:
                    self._pending = data[i:]
                    return
                self._escape(data[i:end])
                i = end
                continue
            if ch >= " " and ch != "\x7f":
                self._put(ch)
            else:
                self._control(ch)
            i += 1

    # -- characters -------------------------------------------------------------------

    def _put(self, ch: str) -> None:
        if self._wrap_next:
            self._wrap_next = False
            self.col = 0
            self._line_feed()
        self._cells[self.row][self.col] = ch
        if self.col < self.width - 1:
            self.col += 1
        elif self._autowrap:
            self._wrap_next = True

    def _control(self, ch: str) -> None:
        if ch == "\r":
            self.col = 0
        elif ch in "\n\x0b\x0c":
            self._line_feed()
        elif ch == "\b":
            self.col = max(0, self.col - 1)
        elif ch == "\t":
            self.col = min(self.width - 1, (self.col // _TAB + 1) * _TAB)
        else:
            return  # BEL, NUL, SI/SO and the rest: nothing to show
        self._wrap_next = False

    def _line_feed(self) -> None:
        if self.row == self._bottom:
            self._scroll_up()
        elif self.row < self.height - 1:
            self.row += 1

    def _scroll_up(self) -> None:
        del self._cells[self._top]
        self._cells.insert(self._bottom, [" "] * self.width)

    def _scroll_down(self) -> None:
        del self._cells[self._bottom]
        self._cells.insert(self._top, [" "] * self.width)

    # -- escape sequences -------------------------------------------------------------

    def _escape(self, seq: str) -> None:
        if len(seq) < 2:
            return
        kind = seq[1]
        if kind == "[":
            self._csi(seq[2:-1], seq[-1])
        elif kind == "c":
            self._reset()
        elif kind == "7":
            self._saved = (self.row, self.col)
        elif kind == "8":
            self.row, self.col = self._saved
            self._wrap_next = False
        elif kind == "D":
            self._line_feed()
        elif kind == "E":
            self.col = 0
            self._line_feed()
        elif kind == "M":
            if self.row == self._top:
                self._scroll_down()
            elif self.row > 0:
                self.row -= 1
        # Character sets (ESC ( B), keypad modes and OSC titles change nothing shown here.

    def _csi(self, params: str, final: str) -> None:
        private = params.startswith("?")
        fields = params.lstrip("?<=>").split(";") if params else []
        args = [int(f) if f.isdigit() else 0 for f in fields]

        def arg(k: int, default: int = 1) -> int:
            return args[k] if k < len(args) and args[k] > 0 else default

        self._wrap_next = self._wrap_next and final in "mhl"
        if private:
            if final in "hl" and 7 in args:
                self._autowrap = final == "h"
            return
        if final in "Hf":
            self._move(arg(0) - 1, arg(1) - 1)
        elif final == "A":
            self._move(max(self._top if self.row >= self._top else 0, self.row - arg(0)), self.col)
        elif final == "B":
            self._move(min(self._bottom if self.row <= self._bottom else self.height - 1, self.row + arg(0)), self.col)
        elif final == "C":
            self._move(self.row, self.col + arg(0))
        elif final == "D":
            self._move(self.row, self.col - arg(0))
        elif final == "G":
            self._move(self.row, arg(0) - 1)
        elif final == "d":
            self._move(arg(0) - 1, self.col)
        elif final == "J":
            self._erase_display(arg(0, 0))
        elif final == "K":
            self._erase_line(arg(0, 0))
        elif final == "X":
            end = min(self.width, self.col + arg(0))
            self._cells[self.row][self.col : end] = [" "] * (end - self.col)
        elif final == "r":
            top, bottom = arg(0) - 1, arg(1, self.height) - 1
            if 0 <= top < bottom < self.height:
                self._top, self._bottom = top, bottom
                self._move(0, 0)
        elif final == "s":
            self._saved = (self.row, self.col)
        elif final == "u":
            self.row, self.col = self._saved
        # m (attributes), h/l (modes), n (reports) and the rest: nothing to draw.

    def _move(self, row: int, col: int) -> None:
        self.row = min(max(row, 0), self.height - 1)
        self.col = min(max(col, 0), self.width - 1)
        self._wrap_next = False

    def _erase_display(self, how: int) -> None:
        if how == 0:
            self._erase_line(0)
            rows = range(self.row + 1, self.height)
        elif how == 1:
            self._erase_line(1)
            rows = range(0, self.row)
        else:
            rows = range(self.height)
        for r in rows:
            self._cells[r] = [" "] * self.width

    def _erase_line(self, how: int) -> None:
        line = self._cells[self.row]
        if how == 0:
            line[self.col :] = [" "] * (self.width - self.col)
        elif how == 1:
            line[: self.col + 1] = [" "] * (self.col + 1)
        else:
            line[:] = [" "] * self.width


def _sequence_end(data: str, start: int) -> int | None:
    """Index just past the escape sequence at ``start``, or None if ``data`` ends inside it."""
    n = len(data)
    if start + 1 >= n:
        return None
    kind = data[start + 1]
    if kind == "[":
        i = start + 2
        while i < n and ord(data[i]) not in _FINAL:
            i += 1
        return i + 1 if i < n else None
    if kind == "]":  # OSC: up to BEL or ESC \
        for i in range(start + 2, n):
            if data[i] == "\x07":
                return i + 1
            if data[i] == "\x1b" and i + 1 < n and data[i + 1] == "\\":
                return i + 2
        return None
    if kind in "()*+#%":  # designate a character set: one more character
        return start + 3 if start + 2 < n else None
    return start + 2
