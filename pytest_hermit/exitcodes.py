"""Exit statuses, shared by the pytest plugin and the ``pytest-hermit`` command.

CI acts differently on each: a regression blames the change; a broken run
(VM, libvirt, guest crash, timeout, unparsable output) blames the
infrastructure and may be retried. Codes stay clear of pytest's own 0-5.
"""

EXIT_OK = 0
#: At least one regression (pytest's own "tests failed").
EXIT_REGRESSION = 1
#: ``pytest-hermit`` only: a comparison was refused, a baseline is missing or corrupt, or bad usage.
EXIT_REFUSED = 3
#: Only broken runs failed, no regression and no other failure.
EXIT_BROKEN = 6
