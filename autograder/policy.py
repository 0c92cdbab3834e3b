"""Policy, the second stage of grading: one object saying how a batch is graded.

Stages: intake -> policy -> execution -> verdicts -> export. A :class:`Policy` holds the limits of
every kernel and the settings of the batch; ``grade`` and ``check`` both build theirs with
:func:`policy_for`, so a student's check runs under the same rules as the grader.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Limits:
    """What one submission may use while it is graded (see ``python -m autograder grade --help``)."""

    cell_seconds: int = 120           # one cell (and one check); it is interrupted, the notebook goes on
    notebook_seconds: int = 900       # the whole notebook; cells not reached score zero
    memory_mb: int = 4096             # everything the kernel holds: its processes, shared memory, files in memory
    max_procs: int = 64               # processes the kernel may start
    max_output_bytes: int = 1_000_000  # output kept per cell
    max_file_mb: int = 512            # largest file the kernel may write (scratch folder only)
    max_notebook_mb: int = 25         # largest submitted notebook accepted


#: Assignments that need more: segmentation trains the student's network (a budget of 60 CPU seconds
#: on one thread, measured from outside the kernel, so that a busy machine stretches only the wall time
#: these limits bound).
ASSIGNMENT_LIMITS = {"segmentation": Limits(cell_seconds=600, notebook_seconds=1500)}
#: Data files an assignment's kernels see in another version, made by the grader for the batch:
#: segmentation's kernels get the Sunnybrook file without the 6 held-out patients, whose masks
#: only the grader may hold (its checks send the held-out images, never their masks).
KERNEL_DATA_VIEWS = {"segmentation": {"scd_lvsegs.npz": "coursekit.data:write_sunnybrook_training_only"}}
#: Assignments graded one student at a time (none since budgets are CPU seconds, not wall seconds).
SERIAL_ASSIGNMENTS: set[str] = set()


@dataclass(frozen=True)
class Policy:
    """How one batch of one assignment is graded."""

    assignment: str
    limits: Limits = field(default_factory=Limits)
    workers: int = 1                  # students graded at once (worker processes)
    feedback: bool = True             # write a feedback HTML per student
    sandbox: bool = True              # kernels in namespaces (no network, allow-listed files) where possible
    force: bool = False               # regrade students whose files did not change
    due: str | None = None            # deadline (ISO 8601) for nbgrader's late marks

    def digest(self) -> str:
        """What a cached grade depends on besides the files: a change regrades everyone."""
        settings = {k: v for k, v in asdict(self).items() if k not in ("workers", "force")}
        return hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()


def policy_for(assignment: str, *, limits: Limits | None = None, workers: int | None = None, feedback: bool = True,
               sandbox: bool = True, force: bool = False, due: str | None = None, **limit_overrides) -> Policy:
    """The policy for ``assignment``: its limits (with ``limit_overrides`` such as ``cell_seconds``;
    None values ignored) and one worker per CPU core unless ``workers`` says otherwise."""
    base = limits or ASSIGNMENT_LIMITS.get(assignment, Limits())
    base = replace(base, **{k: v for k, v in limit_overrides.items() if v is not None})
    default_workers = 1 if assignment in SERIAL_ASSIGNMENTS else max(1, os.cpu_count() or 1)
    return Policy(assignment, base, workers or default_workers, feedback, sandbox, force, due)
