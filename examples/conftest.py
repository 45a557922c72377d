"""`pytest examples` runs the reference study (test_study.py).

Each folder here is a project of its own, with its guest profile in its own
pyproject.toml: run pytest inside it (or name the folder: `pytest
examples/memtest86`), as `make demo` does. Collected from here, under this
repository's configuration, they would boot the reference guest instead.
"""

collect_ignore = ["memtest86", "debian-kernel"]
