"""The TCG profiling plugin on the VM side: is it built, how QEMU loads it, what it wrote.

``profiler/hermit_insns.c`` is built by ``scripts/build-profiler`` (``make
test`` and ``make profiler`` run it) against the plugin header of the
installed QEMU's own source package. When it could not be built, the script
left the reason in ``profiler/build/UNAVAILABLE``; :func:`unavailable` says
it, and only profiling is off.

The plugin writes its counts when QEMU exits normally (its atexit
callback): a profiled boot lets the guest power off, or stops QEMU with
SIGTERM, never SIGKILL (``boot.py``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pytest_hermit.errors import ConfigError, RunError
from pytest_hermit.profile.counts import CountsError, parse_counts
from pytest_hermit.profile.symbols import SymbolsError, SymbolTable, load_symbols
from pytest_hermit.vm.environments import Environment

PROFILER_DIR = Path(__file__).resolve().parents[2] / "profiler"
PLUGIN = PROFILER_DIR / "build" / "hermit_insns.so"
REASON_FILE = PROFILER_DIR / "build" / "UNAVAILABLE"
#: A plugin built elsewhere (another checkout, a package): its path.
PLUGIN_ENV = "HERMIT_PROFILER_PLUGIN"


def plugin_path() -> Path:
    override = os.environ.get(PLUGIN_ENV)
    return Path(override) if override else PLUGIN


def unavailable() -> str | None:
    """Why --hermit-profile cannot work on this host, or None when the plugin is there."""
    path = plugin_path()
    if path.is_file():
        return None
    if os.environ.get(PLUGIN_ENV):
        return f"profiling is unavailable: {PLUGIN_ENV} names {path}, which does not exist"
    why = ""
    try:
        why = REASON_FILE.read_text().strip()
    except OSError:
        pass
    return (
        f"profiling is unavailable: {why or f'the TCG plugin is not built ({path} missing)'}; "
        "build it with `make profiler` (scripts/build-profiler)"
    )


def refusal(env: Environment) -> str | None:
    """Why ``env`` cannot be profiled: the plugin counts what QEMU's TCG translates, on this host."""
    if env.domain_type != "qemu":
        return (
            f"--hermit-profile counts instructions as QEMU's TCG translates them; environment {env.name} "
            f"({env.domain_type}) runs the guest natively: profile it in icount (exact) or qemu"
        )
    host = urlsplit(env.uri).netloc
    if "+" in urlsplit(env.uri).scheme or host not in ("", "localhost"):
        return (
            f"--hermit-profile: environment {env.name} runs on {env.uri}, and the plugin writes its counts on "
            "the host QEMU runs on: profile on a local URI (the default, qemu:///embed)"
        )
    return None


def qemu_args(counts_file: Path) -> tuple[str, ...]:
    """QEMU's command-line words that load the plugin writing to ``counts_file``."""
    if "," in str(counts_file) or "," in str(plugin_path()):
        raise ConfigError(f"QEMU's -plugin option cannot take a path with a comma: {counts_file}, {plugin_path()}")
    return ("-plugin", f"{plugin_path()},out={counts_file}")


@dataclass(frozen=True)
class SymbolSource:
    """Where a guest's symbols come from, and why that file."""

    path: Path


def symbols_for(kernel: Path, given: Path | None) -> SymbolSource:
    """The file to symbolize ``kernel``'s addresses with: ``given``, else the kernel when it is an ELF,
    else a ``System.map`` beside it (``System.map-VERSION`` for ``vmlinuz-VERSION``, as in /boot)."""
    if given is not None:
        return SymbolSource(given)
    try:
        with kernel.open("rb") as f:
            if f.read(4) == b"\x7fELF":
                return SymbolSource(kernel)
    except OSError as exc:
        raise ConfigError(f"--hermit-profile: cannot read the guest kernel {kernel}: {exc.strerror}") from None
    candidates = [kernel.parent / "System.map"]
    if kernel.name.startswith("vmlinuz-"):
        candidates.insert(0, kernel.parent / ("System.map-" + kernel.name.removeprefix("vmlinuz-")))
    for candidate in candidates:
        if candidate.is_file():
            return SymbolSource(candidate)
    raise ConfigError(
        f"--hermit-profile: {kernel} is not an ELF file and no System.map lies beside it "
        f"({', '.join(str(c) for c in candidates)}): name the guest's System.map or ELF vmlinux with "
        "--hermit-profile-symbols"
    )


@functools.lru_cache(maxsize=8)
def _symbols(path: Path, mtime_ns: int) -> SymbolTable:
    return load_symbols(path)


def symbol_table(source: SymbolSource) -> SymbolTable:
    """The symbols of ``source``, read once per file version."""
    try:
        return _symbols(source.path, source.path.stat().st_mtime_ns)
    except (OSError, SymbolsError) as exc:
        raise ConfigError(f"--hermit-profile: {exc}") from None


def read_counts(counts_file: Path, env: str, transcript: Path) -> dict[tuple[int, int], int]:
    """What the plugin wrote for one boot (the file is removed: the measurement keeps the sums)."""
    try:
        text = counts_file.read_text()
    except FileNotFoundError:
        raise RunError(
            f"the profiling plugin wrote no counts to {counts_file}: QEMU did not exit normally "
            "(killed, or the plugin could not write there)",
            env=env,
            transcript=transcript,
        ) from None
    try:
        return parse_counts(text, counts_file)
    except CountsError as exc:
        raise RunError(str(exc), env=env, transcript=transcript) from None
    finally:
        counts_file.unlink(missing_ok=True)
