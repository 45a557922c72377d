"""pytest-hermit: performance regression testing of guest OS ports in real VMs."""

__version__ = "0.1.0"
