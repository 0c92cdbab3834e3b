"""Root pytest configuration: nbval collects the chapters in book/ (see ``testpaths`` in
pyproject.toml); the instructor notebooks are executed by tests/test_autograding.py through real
nbgrader, hidden checks included."""
