"""The ``pytest-hermit`` command, one module per subcommand; imports gate, report, results, argtypes, not the plugin."""

from pytest_hermit.cli.main import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, EXIT_REGRESSION, main

__all__ = ["EXIT_BROKEN", "EXIT_OK", "EXIT_REFUSED", "EXIT_REGRESSION", "main"]
