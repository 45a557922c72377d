"""Exit statuses, shared by the pytest plugin and the ``pytest-hermit`` command.

CI acts differently on each: a regression blames the change; a broken run
(VM, libvirt, guest crash, timeout, unparsable output) blames the
infrastructure and may be retried. Codes stay clear of pytest's own 0-5.
A failed report or baseline write never hides the tests' status.
"""

EXIT_OK = 0
#: At least one regression (pytest's own "tests failed").
EXIT_REGRESSION = 1
#: Interrupted (Ctrl-C, SIGTERM) after the VMs were destroyed: pytest's own
#: status, which ``pytest-hermit bisect`` returns too once its worktrees are gone.
EXIT_INTERRUPTED = 2
#: A configuration error (missing kernel, bad option, ini value or [tool.hermit] table):
#: pytest's own usage error, found before any boot wherever it can be.
EXIT_USAGE = 4
#: Only broken runs failed, no regression and no other failure: a guest crashed, timed out or
#: printed garbage, or the host, its libvirt or a required environment is unusable: retry elsewhere.
EXIT_BROKEN = 6
#: Numbers were refused, not compared (another host, emulation versus KVM, no
#: baseline entry for a test, another environment definition, guest command
#: line or number of repetitions, samples the statistics cannot use), a baseline
#: file is missing or corrupt, or (``pytest-hermit``) bad usage: fix the
#: baseline or the setup; retrying changes nothing.
EXIT_REFUSED = 7
#: Every test passed, but the baseline could not be saved, or a report or the
#: history record could not be written (the error is in the terminal summary).
#: When tests failed, their own status (1, 6, 7) is kept and the error is only
#: printed.
EXIT_OUTPUT = 8
