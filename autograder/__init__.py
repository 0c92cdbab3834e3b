"""Grading tools of the course: release generation, batch autograding and the student check.

Everything here drives real nbgrader (``nbgrader.converters``) with a configuration built in
:mod:`autograder.course`; the command line is ``python -m autograder --help``.
"""

import os as _os
import sys as _sys

# nbgrader runs `alembic` (its gradebook migrations) as a subprocess: make this interpreter's
# scripts folder findable even when the virtual environment is not activated.
_bin = _os.path.dirname(_sys.executable)
if _bin not in _os.environ.get("PATH", "").split(_os.pathsep):
    _os.environ["PATH"] = _os.pathsep.join(filter(None, [_bin, _os.environ.get("PATH")]))
