"""Intake, the first stage of grading: from what the instructor hands the grader (a folder or an
LMS zip, and optionally a roster) to one :class:`Submission` per student, ready to grade.

Stages: intake -> policy -> execution -> verdicts -> export. Intake decides *what* is graded and
lists everything it does not grade, with why; it starts no kernel.

Layouts understood (in a folder or in a zip; the zip's member names are never used as paths)::

    <student>/<assignment>/<notebook>.ipynb   nbgrader's collected layout (plus timestamp.txt)
    <student>/<notebook>.ipynb                flat
    doejane_12345_6789012_gan_theory.ipynb    Canvas "Download Submissions" (see autograder.lms)
    Jane Doe_12345_assignsubmission_file_/gan_theory.ipynb   Moodle "Download all submissions"

Every submission is copied to ``<workdir>/imported/<assignment>/<student>/<assignment>/`` under
the notebook's expected name (nbgrader's layout), so what is graded is exactly what intake
checked: a renamed re-upload (``gan_theory-1.ipynb``) gets its name back, symbolic links and
special files are never followed, and nothing is written outside that folder whatever the names.

Junk (``.ipynb_checkpoints``, ``__MACOSX``, dot files, ``~$`` Office lock files, ``Thumbs.db``)
is ignored in every layout. Two files for one notebook of one student: both are listed, the
latest (by file date; ties by re-upload number, then Canvas submission id) is graded, and the
student gets a ``duplicate`` flag.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from autograder.policy import Limits
from autograder.flags import Flag
from autograder.lms import LmsName, parse_lms_name

#: Skipped.kind values.
JUNK, UNMAPPED, DUPLICATE, OTHER, UNREADABLE, BAD_ID, UNSAFE = (
    "junk", "unmapped", "duplicate", "other", "unreadable", "bad-id", "unsafe")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
_JUNK_NAMES = {".ipynb_checkpoints", "__macosx", "thumbs.db", "desktop.ini", "__pycache__"}
# A re-upload renamed by Canvas ("name-1.ipynb") or by a browser ("name (1).ipynb").
_RENAMED = re.compile(r"^(?P<stem>.+?)(?:-(?P<n>\d+)| \((?P<m>\d+)\))(?P<ext>\.[^.]+)$")
_STAMP = "timestamp.txt"
_MAX_ID_LENGTH = 100


@dataclass(frozen=True)
class RosterRow:
    """One student of the roster (nbgrader's student import columns plus the LMS id)."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_id: str = ""          # Canvas user id or Moodle participant id
    line: int = 0             # line of the roster file

    def as_dict(self) -> dict[str, str]:
        """The row as the older interface (``autograder.lms.read_roster``) gave it."""
        return {"id": self.id, "first_name": self.first_name, "last_name": self.last_name,
                "email": self.email, "lms_id": self.lms_id}


@dataclass(frozen=True)
class Submission:
    """One student's hand-in, ready to grade."""

    student: str
    notebooks: tuple[Path, ...]    # the assignment's notebooks handed in, each under its expected name
    folder: Path                   # the folder holding them (plus nbgrader's timestamp.txt if any)
    late_by_lms: bool = False      # Canvas marked the graded file late
    flags: tuple[Flag, ...] = ()   # for example "duplicate", "missing-notebook", "not-on-roster"


@dataclass(frozen=True)
class Skipped:
    """A file not graded, with why."""

    path: str                      # relative to the source folder, or the zip member's name
    reason: str
    student: str | None = None     # None when the file could not be tied to a student
    kind: str = OTHER              # junk, unmapped, duplicate, other, unreadable, bad-id, unsafe


@dataclass
class Batch:
    """What intake found in one source."""

    assignment: str
    source: Path
    submissions: list[Submission] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)   # student -> why nothing can be graded
    skipped: list[Skipped] = field(default_factory=list)     # every file not graded, with why
    roster: list[RosterRow] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """Students of the roster who handed nothing in (neither graded nor rejected)."""
        present = {s.student for s in self.submissions} | set(self.rejected)
        return [row.id for row in self.roster if row.id not in present]


def validate_student_id(student: str) -> str | None:
    """Why ``student`` cannot be a student id (it names folders of the grading workspace), or None."""
    if not student or not student.strip():
        return "is empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in student):
        return "has control characters"
    if student.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", student):
        return "is an absolute path"
    if "/" in student or "\\" in student:
        return "has a path separator"
    if ".." in student:
        return "has '..'"
    if len(student) > _MAX_ID_LENGTH:
        return f"is longer than {_MAX_ID_LENGTH} characters"
    if not _ID.match(student):
        return "may only have letters, digits and _ . @ - (starting with a letter or digit)"
    return None


def read_roster(path: Path) -> list[RosterRow]:
    """Rows of a roster CSV: a column ``id`` (the gradebook's student id), optionally ``first_name``,
    ``last_name``, ``email`` and ``lms_id``. Blank rows are ignored.

    Raises:
        ValueError: no ``id`` column, or a row whose id is not valid (see
            :func:`validate_student_id`) or repeats another row's id or lms_id; the message names
            the line and the id.
    """
    rows: list[RosterRow] = []
    ids: dict[str, int] = {}
    lms_ids: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            return rows
        reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames]
        if "id" not in reader.fieldnames:
            raise ValueError(f"{path}: a roster needs a column named 'id' (the student id)")
        for record in reader:
            values = {k: v.strip() for k, v in record.items() if k and isinstance(v, str)}
            if not any(values.values()):
                continue
            line, student, lms_id = reader.line_num, values.get("id", ""), values.get("lms_id", "")
            reason = validate_student_id(student)
            if reason:
                raise ValueError(f"{path}, line {line}: student id {student!r} {reason}")
            if student in ids:
                raise ValueError(f"{path}, line {line}: student id {student!r} is also on line {ids[student]}")
            if lms_id and lms_id in lms_ids:
                raise ValueError(f"{path}, line {line}: lms_id {lms_id!r} (student {student!r}) is also "
                                 f"on line {lms_ids[lms_id]}")
            ids[student] = line
            if lms_id:
                lms_ids[lms_id] = line
            rows.append(RosterRow(student, values.get("first_name", ""), values.get("last_name", ""),
                                  values.get("email", ""), lms_id, line))
    return rows


def unreadable_reason(path: Path, max_mb: float = Limits.max_notebook_mb) -> str | None:
    """Why ``path`` is not a notebook nbgrader can grade, in words for the grader; None if it is."""
    import nbformat

    size = path.stat().st_size
    if size > max_mb * 2**20:
        return _too_large(path.name, size, max_mb)
    raw = path.read_bytes()
    if not raw.strip():
        return f"{path.name} is empty"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        return f"{path.name} is not valid notebook JSON{where}: the file is damaged"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return f"{path.name} is JSON but not a Jupyter notebook"
    if data.get("nbformat") != 4:
        return (f"{path.name} is a version {data.get('nbformat')} notebook; the course uses version 4 "
                "(open it in a current Jupyter and save it again)")
    try:
        nbformat.validate(nbformat.reads(raw.decode("utf-8"), as_version=4))
    except Exception as err:  # nbformat raises several types for malformed notebooks
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"{path.name} is not a valid Jupyter notebook: {first[:160]}"
    return None


def open_batch(source: Path, assignment: str, notebook_names: set[str], roster: list[RosterRow] | None,
               workdir: Path, max_notebook_mb: float = Limits.max_notebook_mb) -> Batch:
    """Find every student's submission of ``assignment`` in ``source`` (a folder or a ``.zip``).

    Args:
        notebook_names: the assignment's notebook file names (``{"gan_theory.ipynb"}``).
        roster: maps LMS users to student ids (by ``lms_id``, else by name); without it the LMS
            user id is the student id. Folder students not on it are graded and flagged.
        workdir: the grading workspace; submissions are copied to ``workdir/imported/<assignment>/``
            (emptied first) and nothing is written anywhere else.
        max_notebook_mb: larger notebooks are rejected (and never extracted whole).

    Raises:
        ValueError: ``source`` is neither a folder nor a readable zip, a name is not a plain file
            name, or ``workdir`` and ``source`` overlap.
    """
    for name in [assignment, *notebook_names]:
        if validate_student_id(name) or name in {".", ".."}:
            raise ValueError(f"{name!r} is not a plain file name")
    if not notebook_names:
        raise ValueError(f"no notebook names given for {assignment}")
    workdir = Path(workdir).resolve()
    staging = workdir / "imported" / assignment
    origin = Path(source).resolve()
    if workdir.is_relative_to(origin) or origin.is_relative_to(staging):
        raise ValueError(f"the grading workspace {workdir} and the submissions {origin} overlap")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    intake = _Intake(Batch(assignment, Path(source), roster=list(roster or [])), set(notebook_names),
                     roster is not None, staging, max_notebook_mb)
    if origin.is_dir():
        intake.run(_folder_entries(origin, intake.batch.skipped))
    elif zipfile.is_zipfile(origin):
        with zipfile.ZipFile(origin) as archive:
            intake.run(_zip_entries(archive, intake.batch.skipped))
    else:
        raise ValueError(f"{source}: neither a folder nor a zip file")
    intake.batch.skipped.sort(key=lambda s: (s.student or "", s.path, s.kind))
    return intake.batch


# --- reading the source ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    """One file of the source."""

    path: str                       # as shown to the instructor
    parts: tuple[str, ...]
    when: datetime                  # file date (zip: the member's date_time)
    size: int
    read: Callable[[int], bytes]    # reads at most n bytes


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p.lower() in _JUNK_NAMES or p.startswith((".", "~$")) for p in parts)


def _folder_entries(root: Path, skipped: list[Skipped]) -> Iterator[_Entry]:
    """The regular files under ``root``; links and special files are listed as skipped, never read."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in sorted(dirs):
            if (here / name).is_symlink():
                rel = (here / name).relative_to(root)
                skipped.append(Skipped(rel.as_posix(), "a symbolic link to a folder: not followed",
                                       rel.parts[0] if len(rel.parts) > 1 else None, UNSAFE))
        dirs.sort()
        for name in sorted(files):
            path = here / name
            rel = path.relative_to(root)
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                skipped.append(Skipped(rel.as_posix(), "a symbolic link or special file: not read",
                                       rel.parts[0] if len(rel.parts) > 1 else None, UNSAFE))
                continue
            yield _Entry(rel.as_posix(), rel.parts, datetime.fromtimestamp(info.st_mtime), info.st_size,
                         lambda n, path=path: _read_file(path, n))


def _read_file(path: Path, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit)


def _zip_entries(archive: zipfile.ZipFile, skipped: list[Skipped]) -> Iterator[_Entry]:
    """The files of ``archive``; members whose names climb out of it are listed as skipped."""
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = _member_name(info)
        parts = PurePosixPath(name).parts
        if not parts or name.startswith(("/", "\\")) or ".." in parts or "\\" in name or ":" in parts[0]:
            skipped.append(Skipped(name, "a path outside the zip's folder: not extracted", kind=UNSAFE))
            continue
        try:
            when = datetime(*info.date_time)
        except ValueError:
            when = datetime.min
        yield _Entry(name, parts, when, info.file_size, lambda n, info=info: _read_member(archive, info, n))


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name; zips written without the UTF-8 flag (Windows, old tools) often still
    hold UTF-8 names, which zipfile decodes as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as handle:
        return handle.read(limit)


# --- building the batch ---------------------------------------------------------------------------

@dataclass
class _Candidate:
    """A file that may be one of the assignment's notebooks."""

    entry: _Entry
    name: str                        # the expected notebook name it stands for
    reupload: int = 0                # "-1" / " (1)" suffix
    lms: LmsName | None = None

    def order(self) -> tuple:
        return (self.entry.when, self.reupload, self.lms.submission_id if self.lms else -1, self.entry.path)


@dataclass
class _Hand:
    """Everything found for one student."""

    from_folder: bool = False                                       # a folder name, not the roster/LMS
    candidates: dict[str, list[_Candidate]] = field(default_factory=dict)
    stamps: list[_Entry] = field(default_factory=list)              # nbgrader's timestamp.txt
    others: list[tuple[_Entry, str]] = field(default_factory=list)  # files that are not notebooks


class _Intake:
    def __init__(self, batch: Batch, names: set[str], has_roster: bool, staging: Path, max_mb: float):
        self.batch, self.names, self.has_roster = batch, names, has_roster
        self.staging, self.max_mb = staging, max_mb
        self.by_lms = {row.lms_id: row.id for row in batch.roster if row.lms_id}
        self.by_name: dict[str, set[str]] = {}
        for row in batch.roster:
            for variant in {row.last_name + row.first_name, row.first_name + row.last_name}:
                if _key(variant):
                    self.by_name.setdefault(_key(variant), set()).add(row.id)
        self.hands: dict[str, _Hand] = {}

    def run(self, entries: Iterator[_Entry]) -> None:
        for entry in entries:
            self._sort(entry)
        for student in sorted(self.hands):
            self._settle(student, self.hands[student])

    def _skip(self, entry: _Entry, reason: str, kind: str, student: str | None = None) -> None:
        self.batch.skipped.append(Skipped(entry.path, reason, student, kind))

    def _sort(self, entry: _Entry) -> None:
        """File ``entry`` under its student, or list it as skipped."""
        if _is_junk(entry.parts):
            first = entry.parts[0]
            owner = first if len(entry.parts) > 1 and not _is_junk((first,)) and parse_lms_name(entry.parts) is None \
                else None
            self._skip(entry, "ignored: junk (editor checkpoint, macOS metadata, hidden or lock file)", JUNK, owner)
            return
        lms = parse_lms_name(entry.parts)
        if lms is not None:
            student = self._map(lms, entry)
            if student is None:
                return
            hand = self.hands.setdefault(student, _Hand())
            file, trusted_stamp = lms.file, False      # a student could upload a timestamp.txt
        elif len(entry.parts) == 1:
            self._skip(entry, "not in a student folder, and not a Canvas or Moodle file name", UNMAPPED)
            return
        else:
            student, rest = entry.parts[0], entry.parts[1:]
            if len(rest) > 1 and rest[0] != self.batch.assignment:
                self._skip(entry, f"in folder {rest[0]!r}, not this assignment's ({self.batch.assignment})",
                           OTHER, student)
                return
            hand = self.hands.setdefault(student, _Hand())
            hand.from_folder = True
            file, trusted_stamp = "/".join(rest[1:] if len(rest) > 1 else rest), True
        if "/" in file:
            hand.others.append((entry, "in a sub-folder of the submission"))
        elif file == _STAMP and trusted_stamp:
            hand.stamps.append(entry)
        elif file in self.names:
            hand.candidates.setdefault(file, []).append(_Candidate(entry, file, 0, lms))
        elif (renamed := _RENAMED.match(file)) and renamed["stem"] + renamed["ext"] in self.names:
            name = renamed["stem"] + renamed["ext"]
            number = int(renamed["n"] or renamed["m"])
            hand.candidates.setdefault(name, []).append(_Candidate(entry, name, number, lms))
        else:
            hand.others.append((entry, f"not a notebook of this assignment ({', '.join(sorted(self.names))})"))

    def _map(self, lms: LmsName, entry: _Entry) -> str | None:
        """The student id of an LMS file (None, and the file listed, when there is none)."""
        if not self.has_roster:
            return lms.uid
        if lms.uid in self.by_lms:
            return self.by_lms[lms.uid]
        matches = self.by_name.get(_key(lms.person), set())
        if len(matches) == 1:
            return next(iter(matches))
        if matches:
            self._skip(entry, f"LMS user {lms.uid} ({lms.person}) matches several roster students by name "
                              f"({', '.join(sorted(matches))}): give the roster an lms_id column", UNMAPPED)
        else:
            self._skip(entry, f"LMS user {lms.uid} ({lms.person}) is not in the roster", UNMAPPED)
        return None

    def _settle(self, student: str, hand: _Hand) -> None:
        """Choose, copy and check ``student``'s notebooks; a Submission or a rejection."""
        bad_id = validate_student_id(student)
        if bad_id:
            self.batch.rejected[student] = f"student folder name {student!r} cannot be a student id: it {bad_id}"
            files = [c.entry for cands in hand.candidates.values() for c in cands] + hand.stamps
            for entry in files + [entry for entry, _ in hand.others]:
                self._skip(entry, f"student id {student!r} {bad_id}", BAD_ID, student)
            return
        for entry, reason in hand.others:
            self._skip(entry, reason, OTHER, student)
        if not hand.candidates:
            if hand.stamps and not hand.others:    # nbgrader's timestamp alone: nothing handed in
                for entry in hand.stamps:
                    self._skip(entry, "no notebook of this assignment beside it", OTHER, student)
                return
            for entry in hand.stamps:
                self._skip(entry, "no notebook of this assignment beside it", OTHER, student)
            found = sorted(PurePosixPath(e.path).name for e, _ in hand.others)
            self.batch.rejected[student] = (f"no notebook named {', '.join(sorted(self.names))} in the submission"
                                            + (f" (handed in: {', '.join(found)})" if found else ""))
            return
        folder = self.staging / student / self.batch.assignment
        _inside(folder, self.staging)
        folder.mkdir(parents=True)
        flags, winners, problems = [], [], []
        for name in sorted(hand.candidates):
            ordered = sorted(hand.candidates[name], key=_Candidate.order)
            winner = ordered[-1]
            winners.append(winner)
            for loser in ordered[:-1]:
                self._skip(loser.entry, f"superseded duplicate: {winner.entry.path} is later", DUPLICATE, student)
            if len(ordered) > 1:
                listed = ", ".join(f"{c.entry.path} ({c.entry.when:%Y-%m-%d %H:%M:%S})" for c in ordered)
                flags.append(Flag("duplicate", f"{len(ordered)} files for {name}: {listed}; "
                                               f"graded {winner.entry.path} (the latest)"))
            reason = self._copy(winner.entry, folder / name)
            if reason:
                problems.append(reason)
                self._skip(winner.entry, f"unreadable notebook: {reason}", UNREADABLE, student)
        if problems:
            self.batch.rejected[student] = "; ".join(problems)
            for entry in hand.stamps:
                self._skip(entry, "the submission's notebook is unreadable", OTHER, student)
            shutil.rmtree(self.staging / student)
            return
        if hand.stamps:
            stamps = sorted(hand.stamps, key=lambda e: (e.parts[:-1] != winners[0].entry.parts[:-1], e.path))
            self._copy(stamps[0], folder / _STAMP)
            for entry in stamps[1:]:
                self._skip(entry, f"another timestamp.txt ({stamps[0].path}) is used", DUPLICATE, student)
        absent = sorted(self.names - set(hand.candidates))
        if absent:
            flags.append(Flag("missing-notebook", f"not handed in: {', '.join(absent)}"))
        if self.has_roster and hand.from_folder and student not in {row.id for row in self.batch.roster}:
            flags.append(Flag("not-on-roster", f"{student} is not on the roster"))
        self.batch.submissions.append(Submission(
            student, tuple(folder / c.name for c in winners), folder,
            any(c.lms is not None and c.lms.late for c in winners), tuple(flags)))

    def _copy(self, entry: _Entry, target: Path) -> str | None:
        """Copy ``entry`` to ``target`` (a notebook: checked); why it cannot be graded, or None."""
        _inside(target, self.staging)
        limit = int(self.max_mb * 2**20)
        try:
            data = entry.read(limit + 1)
        except (OSError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
            return f"{target.name} could not be read from the submission ({err})"
        if len(data) > limit and target.suffix == ".ipynb":
            return _too_large(target.name, max(entry.size, len(data)), self.max_mb)
        target.write_bytes(data)
        return unreadable_reason(target, self.max_mb) if target.suffix == ".ipynb" else None


def _too_large(name: str, size: int, max_mb: float) -> str:
    return (f"{name} is {size / 2**20:.0f} MB, more than the {max_mb:g} MB a notebook may have "
            "(clear large outputs before submitting)")


def _inside(path: Path, root: Path) -> None:
    """Refuse to write ``path`` unless it lies in ``root`` (a guard: ids and names are checked first)."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"refusing to write {path}: outside {root}")


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())
