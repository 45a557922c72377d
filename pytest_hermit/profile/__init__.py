"""Per-function instruction profiles of the guest (--hermit-profile); pure, imports only pytest_hermit.errors.

``counts`` reads what the TCG plugin (``profiler/hermit_insns.c``) wrote,
``symbols`` maps guest addresses to functions (ELF and DWARF through
pyelftools, or a System.map), ``profile`` holds the per-function totals a
baseline and a history record keep, ``diff`` compares two of them, and
``callgrind`` and ``folded`` write them for other tools.
"""
