"""Submissions exported by a learning management system, and class rosters.

:func:`parse_lms_name` reads the file names Canvas and Moodle give submissions; the intake stage
(:func:`autograder.intake.open_batch`) uses it. ``unpack`` and ``read_roster`` are the older
interface, kept until the grading command switches to the intake stage: ``unpack`` turns the zip
that Canvas ("Download Submissions") or Moodle ("Download all submissions") produces into
nbgrader's layout ``<student>/<assignment>/<file>``, mapping the LMS's names to the course's
student ids with a roster, and reporting every file it could not map (a student's two files:
the last one wins there; :func:`autograder.intake.open_batch` grades the latest and flags it).

File names understood::

    Canvas   doejane_12345_6789012_gan_theory.ipynb        (name key, user id, submission id, file)
             doejane_LATE_12345_6789012_gan_theory-1.ipynb (late; "-1": Canvas renamed a re-upload)
    Moodle   Jane Doe_12345_assignsubmission_file_/gan_theory.ipynb   (one folder per participant)
             Jane Doe_12345_assignsubmission_file_gan_theory.ipynb    (without folders)

A roster is a CSV with a column ``id`` (the student id used in the gradebook) and optionally
``first_name``, ``last_name``, ``email`` (nbgrader's own student import format) and ``lms_id``
(the Canvas user id or Moodle participant id). A submission maps to the roster row with its
``lms_id``, else to the row whose names match; without a roster the LMS user id is the student id.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

CANVAS = re.compile(r"^(?P<key>[a-z0-9]+?)(?:_(?P<late>late))?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$", re.I)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_[a-z]+_/?(?P<file>.*)$", re.I)
_RENAMED = re.compile(r"^(?P<stem>.+?)-\d+(?P<ext>\.[^.]+)$")
MAX_FILE_MB = 200          # larger members are not extracted (reported as unmapped)


@dataclass(frozen=True)
class LmsName:
    """What an LMS file name says about a submitted file."""

    lms: str                  # "canvas" or "moodle"
    uid: str                  # Canvas user id or Moodle participant id
    person: str               # Canvas name key ("doejane") or Moodle full name ("Jane Doe")
    file: str                 # the name the student uploaded (may hold "/" for Moodle sub-folders)
    late: bool = False        # Canvas marked the submission late
    submission_id: int = -1   # Canvas submission (attachment) id: a later upload has a larger one


def parse_lms_name(parts: tuple[str, ...]) -> LmsName | None:
    """Parse a path (split in parts) of an LMS download; None when it is not an LMS name.

    Canvas names are one part; Moodle names are one part, or a participant folder and the file.
    """
    if len(parts) >= 2 and (match := MOODLE.match(parts[0] + "/")) and not match["file"]:
        return LmsName("moodle", match["uid"], match["name"], "/".join(parts[1:]))
    if len(parts) != 1:
        return None
    if (match := MOODLE.match(parts[0])) and match["file"]:
        return LmsName("moodle", match["uid"], match["name"], match["file"])
    if match := CANVAS.match(parts[0]):
        return LmsName("canvas", match["uid"], match["key"], match["file"], bool(match["late"]),
                       int(match["sid"]))
    return None


@dataclass
class Imported:
    """The result of :func:`unpack`."""

    folder: Path
    students: dict[str, list[str]] = field(default_factory=dict)   # student id -> files extracted
    unmapped: list[str] = field(default_factory=list)              # zip members not extracted, with why
    late: set[str] = field(default_factory=set)                    # student ids the LMS marked late


def read_roster(path: Path) -> list[dict[str, str]]:
    """Rows of a roster CSV as dicts (see :func:`autograder.intake.read_roster`, which checks them)."""
    from autograder.intake import read_roster as read_rows

    return [row.as_dict() for row in read_rows(path)]


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def unpack(zip_path: Path, assignment: str, target: Path, roster: list[dict[str, str]] | None = None,
           notebooks: set[str] | None = None) -> Imported:
    """Extract an LMS zip into ``target/<student>/<assignment>/``.

    Args:
        notebooks: the assignment's notebook names: a renamed re-upload (``name-1.ipynb``) is
            given back its name.
    """
    by_lms = {row["lms_id"]: row["id"] for row in roster or [] if row.get("lms_id")}
    by_name = {}
    for row in roster or []:
        first, last = row.get("first_name", ""), row.get("last_name", "")
        for variant in (last + first, first + last):
            if variant:
                by_name[_key(variant)] = row["id"]
    result = Imported(target)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            name = member.filename
            parts = PurePosixPath(name).parts
            if any(part.startswith("__MACOSX") for part in parts) or parts[-1].startswith("."):
                continue
            match = MOODLE.match("/".join(parts[-2:])) or MOODLE.match(parts[-1]) or CANVAS.match(parts[-1])
            if match is None or not match.group("file"):
                result.unmapped.append(f"{name}: not a Canvas or Moodle submission file name")
                continue
            uid = match.group("uid")
            person = match.groupdict().get("name") or match.groupdict().get("key") or ""
            if roster:
                student = by_lms.get(uid) or by_name.get(_key(person))
                if student is None:
                    result.unmapped.append(f"{name}: LMS user {uid} ({person}) is not in the roster")
                    continue
            else:
                student = uid
            if member.file_size > MAX_FILE_MB * 2**20:
                result.unmapped.append(f"{name}: {member.file_size / 2**20:.0f} MB, larger than {MAX_FILE_MB} MB")
                continue
            filename = PurePosixPath(match.group("file")).name      # never a path out of the target
            renamed = _RENAMED.match(filename)
            if renamed and notebooks and renamed["stem"] + renamed["ext"] in notebooks:
                filename = renamed["stem"] + renamed["ext"]
            folder = target / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(folder / filename, "wb") as out:
                shutil.copyfileobj(source, out)
            result.students.setdefault(student, []).append(filename)
            if match.groupdict().get("late"):
                result.late.add(student)
    return result
