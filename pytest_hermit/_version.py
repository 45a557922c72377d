"""The plugin's version (a leaf module: the pure layers read it without importing the package)."""

__version__ = "0.1.0"
