"""Root pytest configuration.

nbval runs every chapter and instructor notebook (see ``testpaths`` in pyproject.toml). The
segmentation instructor notebook is left out here: its hidden test trains the network at full
settings (about two minutes), and tests/test_autograding.py already executes that notebook, hidden
tests included, through real nbgrader.
"""

collect_ignore = ["solutions/segmentation/segmentation.ipynb"]
