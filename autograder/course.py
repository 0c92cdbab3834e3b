"""Where the course's nbgrader material lives and how nbgrader is configured for it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
#: Instructor-only files beside a solution notebook: hidden checks, the spec table, notes.
INSTRUCTOR_FILES = ["checks.py", "SPEC.md", "NOTES.md"]
SOLUTIONS = REPO / "solutions"      # nbgrader "source": solutions, visible and hidden tests
EXERCISES = REPO / "exercises"      # nbgrader "release": generated, never edited by hand

def assignments() -> list[str]:
    """Names of the assignments: the folders of ``solutions/`` holding a notebook."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def nbgrader_config(root: Path, db_url: str, *, source: Path = SOLUTIONS, release: str = "release",
                    cell_timeout: int = 120) -> Config:
    """A traitlets ``Config`` for nbgrader with the course's layout.

    Args:
        root: the nbgrader course directory (submitted/, autograded/, feedback/ go below it).
        db_url: SQLAlchemy URL of the gradebook.
        source: the folder of instructor notebooks (absolute, so it can live outside ``root``).
        release: where student versions are written, relative to ``root`` or absolute.
        cell_timeout: seconds a single cell may run while grading.
    """
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = str(source)
    c.CourseDirectory.release_directory = str(release)
    c.CourseDirectory.db_url = db_url
    c.CourseDirectory.course_id = "dgm-medical-imaging"
    # Hidden tests live beside the instructor notebook (checks.py) and must never be copied into a
    # release, an autograded folder or feedback.
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", *INSTRUCTOR_FILES]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    from autograder.feedback import HideHiddenTests

    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    c.ExecutePreprocessor.timeout = cell_timeout
    c.Execute.timeout = cell_timeout
    c.Execute.interrupt_on_timeout = True
    return c


def run_converter(converter_class, config: Config, **attrs) -> None:
    """Run one nbgrader converter (GenerateAssignment, Autograde, ...) and raise on failure."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    for key in ("assignment_id", "student_id"):
        if key in attrs:
            setattr(coursedir, key, attrs.pop(key))
    converter = converter_class(coursedir=coursedir, config=config)
    for key, value in attrs.items():
        setattr(converter, key, value)
    converter.log.setLevel(logging.WARNING)
    converter.start()


def _normalise(path: Path) -> None:
    """Write a notebook back with sorted keys and a trailing newline, so diffs stay small."""
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def generate_release(assignment: str, target: Path = EXERCISES) -> Path:
    """Generate the student version of ``assignment`` from ``solutions/`` into ``target/<assignment>``.

    Uses nbgrader's GenerateAssignment (solutions replaced by stubs, hidden tests removed, cells
    locked and checksummed) with a throw-away gradebook.
    """
    from nbgrader.converters import GenerateAssignment

    with tempfile.TemporaryDirectory() as tmp:
        config = nbgrader_config(Path(tmp), f"sqlite:///{tmp}/gradebook.db", release=str(Path(tmp) / "release"))
        run_converter(GenerateAssignment, config, assignment_id=assignment, force=True, create_assignment=True)
        produced = Path(tmp) / "release" / assignment
        out = target / assignment
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(produced, out)
    for notebook in out.glob("*.ipynb"):
        _normalise(notebook)
    return out


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for kernels started by nbgrader: the repository importable, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


@contextlib.contextmanager
def patched_environ(env: dict[str, str]):
    """Temporarily replace ``os.environ`` (nbgrader starts kernels with the current environment)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
