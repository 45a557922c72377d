"""pytest-hermit: performance regression testing of guest OS ports in real VMs.

The names below are the public Python API (see the README's "Python API"):
what ``hermit_run`` returns, what the fixtures hand to a test, the gate's
verdicts and comparisons, and the errors a user may catch. Everything else
(``pytest_hermit.vm``, ``results``, ``gate``, ``report``, ``cli``) is internal
and may move; docs/design.md describes it.
"""

from pytest_hermit._version import __version__
from pytest_hermit.errors import (
    BootTimeout,
    ConfigError,
    EnvironmentUnavailable,
    GuestCrashed,
    HermitDeprecationWarning,
    HermitError,
    NotComparable,
    OutputError,
    RunError,
)
from pytest_hermit.gate.judge import Regression
from pytest_hermit.gate.stats import Comparison, ConfidenceInterval, Verdict
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Direction, Samples
from pytest_hermit.vm.environments import Environment
from pytest_hermit.vm.guest import GuestImage

__all__ = [
    "BootTimeout",
    "Comparison",
    "ConfidenceInterval",
    "ConfigError",
    "Direction",
    "Environment",
    "EnvironmentUnavailable",
    "GuestCrashed",
    "GuestImage",
    "HermitDeprecationWarning",
    "HermitError",
    "Measurement",
    "NotComparable",
    "OutputError",
    "Regression",
    "RunError",
    "Samples",
    "Verdict",
    "__version__",
]
