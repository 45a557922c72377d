"""Guest addresses to functions: ELF symbols with DWARF lines (pyelftools), or a System.map.

A multiboot or PVH ELF (the reference guest, HermitCore, a Linux vmlinux)
carries its own symbols; a compressed Linux kernel (bzImage) does not, and
its System.map or ELF vmlinux is named instead (``--hermit-profile-symbols``).
Addresses no symbol covers (firmware, a kernel built without symbols) are
grouped by the 64 KiB region they lie in, so what ran there still shows.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

#: Addresses outside every symbol are grouped by regions of this size, under names that start so.
REGION = 0x10000
UNRESOLVED = "[no symbol "

_MAP_LINE = re.compile(r"^([0-9a-fA-F]+)\s+([A-Za-z])\s+(\S+)")


class SymbolsError(ValueError):
    """A symbol source that cannot be read; the message names the file and what to give instead."""


@dataclass(frozen=True)
class Function:
    """A function as the profile shows it."""

    name: str
    #: ``file:line`` of the function's first instruction; "" when unknown (no DWARF, a System.map, a region).
    where: str = ""


@dataclass(frozen=True)
class SymbolTable:
    """Function start addresses, sorted, with where each ends (its size, else the next start)."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    functions: tuple[Function, ...]
    source: str = ""

    @classmethod
    def of(cls, symbols: list[tuple[int, int, Function]], source: str = "") -> SymbolTable:
        """From (start, size or 0, function); a size of 0 reaches the next symbol's start."""
        ordered = sorted({s[0]: s for s in symbols if s[0] > 0}.values(), key=lambda s: s[0])
        starts = tuple(s[0] for s in ordered)
        ends = []
        for i, (start, size, _) in enumerate(ordered):
            following = ordered[i + 1][0] if i + 1 < len(ordered) else start + REGION
            ends.append(start + size if size else following)
        return cls(starts, tuple(ends), tuple(s[2] for s in ordered), source)

    def lookup(self, address: int) -> Function:
        """The function ``address`` lies in, else its region (``[no symbol 0xf0000-0xfffff]``)."""
        i = bisect.bisect_right(self.starts, address) - 1
        if i >= 0 and address < self.ends[i]:
            return self.functions[i]
        low = address - address % REGION
        return Function(f"{UNRESOLVED}0x{low:x}-0x{low + REGION - 1:x}]")


def load_symbols(path: Path) -> SymbolTable:
    """The symbols of an ELF file (with DWARF lines when it has them) or of a System.map text file."""
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise SymbolsError(f"cannot read symbols from {path}: {exc.strerror}") from None
    if magic == b"\x7fELF":
        return _elf_symbols(path)
    return _system_map(path)


def _system_map(path: Path) -> SymbolTable:
    symbols: list[tuple[int, int, Function]] = []
    lines = path.read_text(errors="replace").splitlines()
    for line in lines:
        match = _MAP_LINE.match(line)
        if match and match.group(2) in "TtWw":
            symbols.append((int(match.group(1), 16), 0, Function(match.group(3))))
    if not symbols:
        # Debian's /boot/System.map-* is a one-line placeholder that says where the real one is.
        says = f" (it says: {lines[0].strip()[:120]!r})" if lines else ""
        raise SymbolsError(
            f"{path} is neither an ELF file nor a System.map with text symbols ('ADDRESS T NAME' lines){says}: "
            "give the guest's System.map or its ELF vmlinux with --hermit-profile-symbols"
        )
    return SymbolTable.of(symbols, str(path))


def _elf_symbols(path: Path) -> SymbolTable:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            executable = {
                i
                for i, section in enumerate(elf.iter_sections())
                if section["sh_flags"] & 0x4  # SHF_EXECINSTR
            }
            raw: list[tuple[int, int, str]] = []
            for section in elf.iter_sections():
                if not isinstance(section, SymbolTableSection):
                    continue
                for symbol in section.iter_symbols():
                    kind = symbol["st_info"]["type"]
                    shndx = symbol["st_shndx"]
                    if kind in ("STT_FUNC", "STT_NOTYPE") and isinstance(shndx, int) and shndx in executable:
                        if symbol.name and not symbol.name.startswith(".L"):
                            raw.append((symbol["st_value"], symbol["st_size"], symbol.name))
            lines = _first_lines(elf, {start for start, _, _ in raw}) if elf.has_dwarf_info() else {}
    except (ELFError, OSError, ValueError) as exc:
        raise SymbolsError(f"cannot read the ELF symbols of {path}: {exc}") from None
    if not raw:
        raise SymbolsError(
            f"{path} has no function symbols (a stripped kernel?): give an unstripped ELF or a System.map "
            "with --hermit-profile-symbols"
        )
    return SymbolTable.of([(start, size, Function(name, lines.get(start, ""))) for start, size, name in raw], str(path))


def _first_lines(elf: object, starts: set[int]) -> dict[int, str]:
    """``file:line`` of the line-table row at each address in ``starts`` (a function's first instruction)."""
    found: dict[int, str] = {}
    dwarf = elf.get_dwarf_info()  # type: ignore[attr-defined]
    for cu in dwarf.iter_CUs():
        program = dwarf.line_program_for_CU(cu)
        if program is None:
            continue
        files = program.header["file_entry"]
        dirs = program.header["include_directory"]
        version = program.header["version"]
        base = 0 if version >= 5 else 1
        for entry in program.get_entries():
            state = entry.state
            if state is None or state.address not in starts or state.address in found:
                continue
            index = state.file - base
            if 0 <= index < len(files):
                found[state.address] = f"{_file_name(files[index], dirs, version)}:{state.line}"
    return found


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _file_name(entry: object, dirs: list[object], version: int) -> str:
    """The file as the compiler saw it, relative to the build folder (``common/sched.c``), not the whole path."""
    name = _text(entry.name)  # type: ignore[attr-defined]
    index = entry.dir_index  # type: ignore[attr-defined]
    # DWARF 5 numbers folders from 0 (the build folder itself); before it, 0 means the build folder.
    folder = _text(dirs[index]) if version >= 5 and 0 < index < len(dirs) else ""
    if version < 5 and 0 < index <= len(dirs):
        folder = _text(dirs[index - 1])
    if folder and not folder.startswith("/") and not name.startswith("/"):
        return f"{folder}/{name}"
    return name
