"""Submissions exported by a learning management system, and class rosters.

``unpack`` turns the zip that Canvas ("Download Submissions") or Moodle ("Download all
submissions") produces into nbgrader's layout ``<student>/<assignment>/<file>``, mapping the LMS's
names to the course's student ids with a roster, and reporting every file it could not map.

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

import csv
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

CANVAS = re.compile(r"^(?P<key>[a-z0-9]+?)(?:_(?P<late>late))?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$", re.I)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_[a-z]+_/?(?P<file>.*)$", re.I)
_RENAMED = re.compile(r"^(?P<stem>.+?)-\d+(?P<ext>\.[^.]+)$")
MAX_FILE_MB = 200          # larger members are not extracted (reported as unmapped)


@dataclass
class Imported:
    """The result of :func:`unpack`."""

    folder: Path
    students: dict[str, list[str]] = field(default_factory=dict)   # student id -> files extracted
    unmapped: list[str] = field(default_factory=list)              # zip members not extracted, with why
    late: set[str] = field(default_factory=set)                    # student ids the LMS marked late


def read_roster(path: Path) -> list[dict[str, str]]:
    """Rows of a roster CSV (see the module docstring); raises ValueError without an ``id`` column."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(handle)]
    if rows and "id" not in rows[0]:
        raise ValueError(f"{path}: a roster needs a column named 'id' (the student id)")
    return [row for row in rows if row.get("id")]


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
