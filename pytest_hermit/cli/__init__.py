"""The ``pytest-hermit`` command, one module per subcommand; may import anything below the pytest glue."""

from pytest_hermit.cli.main import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED, EXIT_REGRESSION, main

__all__ = ["EXIT_BROKEN", "EXIT_OK", "EXIT_REFUSED", "EXIT_REGRESSION", "main"]
