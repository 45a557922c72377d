"""``python -m pytest_hermit.cli``: the same as the ``pytest-hermit`` command."""

import sys

from pytest_hermit.cli.main import main

sys.exit(main())
