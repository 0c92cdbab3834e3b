"""Checks of a submitted notebook against the released one, before any code runs.

nbgrader restores the source of locked cells from its checksummed copy, which silently undoes an
edited test; here every change to what the instructor wrote is *found*, repaired for execution,
and reported, so that the grader can give zero to the test cells that were attacked and flag the
submission. What counts as an attack on a test cell:

* ``deleted``: no cell carries the test's ``grade_id`` (a cell with the same code but without the
  metadata counts as ``retyped``);
* ``edited``: its source differs from the release;
* ``retyped``: same grade_id but a different cell id (deleted and re-created, metadata pasted);
* ``metadata``: its cell type or nbgrader metadata (``grade``, ``solution``, ``locked``, ``points``)
  changed, or it appears twice;

and for the whole notebook ``wrong-assignment``: its graded cells belong to another assignment.
Changes to other locked cells (instructions, imports) are reported as ``locked-edited`` and cost
nothing: nbgrader restores them.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

_KEYS = ("grade", "solution", "locked", "points", "task")


@dataclass(frozen=True)
class Finding:
    kind: str            # deleted, edited, retyped, metadata, locked-edited, wrong-assignment, structure
    cell: str | None     # grade_id concerned
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _norm(source) -> str:
    text = "".join(source) if isinstance(source, list) else str(source)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def is_test_cell(cell: NotebookNode) -> bool:
    """A graded code cell that is not an answer: an instructor's test."""
    meta = _meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def grade_ids(nb: NotebookNode) -> set[str]:
    return {m["grade_id"] for c in nb.cells for m in [_meta(c)] if m.get("grade_id")}


def inspect(submitted: NotebookNode, release: NotebookNode,
            others: dict[str, set[str]] | None = None) -> tuple[NotebookNode, list[Finding]]:
    """Compare ``submitted`` with ``release``; return the notebook to execute and the findings.

    The returned notebook keeps everything the student wrote (answers, extra cells) and has every
    instructor cell back as released: edited sources and metadata restored, deleted test cells
    re-inserted where they belong, duplicates stripped of their grading metadata.

    Args:
        others: grade ids of the other assignments, to recognise a notebook handed in for the
            wrong assignment.
    """
    findings: list[Finding] = []
    nb = copy.deepcopy(submitted)
    mine = grade_ids(release)
    theirs = grade_ids(nb)
    for name, ids in (others or {}).items():
        overlap = len(theirs & ids - mine)
        if overlap and overlap > len(theirs & mine):
            return nb, [Finding("wrong-assignment", None, f"this notebook belongs to the assignment '{name}'")]

    released = [c for c in release.cells if _meta(c).get("grade_id")]
    position = {}        # grade_id -> index of its cell in nb
    for index, cell in enumerate(nb.cells):
        gid = _meta(cell).get("grade_id")
        if gid in mine and gid in position:
            findings.append(Finding("metadata", gid, f"the cell '{gid}' appears twice; the copy does not count"))
            cell.metadata.pop("nbgrader", None)
        elif gid in mine:
            position[gid] = index
        elif gid:
            findings.append(Finding("metadata", gid, f"a cell claims the unknown grade id '{gid}'"))
            cell.metadata.pop("nbgrader", None)

    inserted: list[tuple[int, int, NotebookNode]] = []
    for order, original in enumerate(released):
        gid = _meta(original)["grade_id"]
        test = is_test_cell(original)
        if gid not in position:
            if test:
                same = any(_norm(c.source) == _norm(original.source) for c in nb.cells if not _meta(c))
                kind = "retyped" if same else "deleted"
                findings.append(Finding(kind, gid, f"the test cell '{gid}' was {'re-created without its metadata' if same else 'deleted'}; it does not count"))
                anchor = next((position[_meta(p)["grade_id"]] for p in reversed(released[:order])
                               if _meta(p)["grade_id"] in position), -1)
                inserted.append((anchor, order, copy.deepcopy(original)))
            elif _meta(original).get("solution"):
                findings.append(Finding("structure", gid, f"the answer cell '{gid}' is missing"))
            elif _meta(original).get("locked"):
                findings.append(Finding("locked-edited", gid, f"the instruction cell '{gid}' was deleted"))
            continue
        cell = nb.cells[position[gid]]
        changed = [k for k in _KEYS if bool(_meta(cell).get(k)) != bool(_meta(original).get(k))
                   and k != "points" or k == "points" and _meta(cell).get(k) != _meta(original).get(k)]
        if cell.get("cell_type") != original.get("cell_type"):
            changed.append("cell type")
        if test:
            if changed:
                findings.append(Finding("metadata", gid, f"the metadata of the test cell '{gid}' was changed "
                                        f"({', '.join(changed)}); it does not count"))
            elif _norm(cell.source) != _norm(original.source):
                findings.append(Finding("edited", gid, f"the test cell '{gid}' was edited; it does not count"))
            elif original.get("id") and cell.get("id") and cell.get("id") != original.get("id"):
                findings.append(Finding("retyped", gid, f"the test cell '{gid}' was re-created (its cell id "
                                        "changed); it does not count"))
            nb.cells[position[gid]] = _restored(original, cell)
        elif _meta(original).get("solution"):
            if changed:
                findings.append(Finding("metadata", gid, f"the metadata of the answer cell '{gid}' was changed "
                                        f"({', '.join(changed)}); restored"))
                restored = _restored(original, cell)
                restored.source = cell.source
                nb.cells[position[gid]] = restored
        elif _norm(cell.source) != _norm(original.source) or changed:
            findings.append(Finding("locked-edited", gid, f"the instruction cell '{gid}' was changed; restored"))
            nb.cells[position[gid]] = _restored(original, cell)
    for anchor, _, cell in sorted(inserted, key=lambda item: item[:2], reverse=True):
        nb.cells.insert(anchor + 1, cell)
    return nb, findings


def _restored(original: NotebookNode, submitted: NotebookNode) -> NotebookNode:
    cell = copy.deepcopy(original)
    if "id" in submitted:
        cell["id"] = submitted["id"]      # keep ids unique within the student's notebook
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def attacked_cells(findings: list[Finding]) -> dict[str, str]:
    """grade_id -> reason, for the test cells that must score zero."""
    return {f.cell: f.detail for f in findings if f.cell and f.kind in ("deleted", "edited", "retyped", "metadata")
            and "test cell" in f.detail}


def release_grade_ids(exercises: Path) -> dict[str, set[str]]:
    """grade ids of every released assignment (for wrong-assignment detection)."""
    ids: dict[str, set[str]] = {}
    for path in sorted(exercises.glob("*/*.ipynb")):
        ids.setdefault(path.parent.name, set()).update(grade_ids(nbformat.read(path, as_version=4)))
    return ids
