"""Flags: something about a submission the instructor should look at, carried from stage to stage
(intake, integrity, execution) to the grades CSV and the batch summary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    """One finding about a student's submission.

    ``kind`` is a short plain string naming the finding (for example ``"duplicate"``,
    ``"not-on-roster"``, ``"missing-notebook"``); ``detail`` says it in words for the instructor;
    ``cell`` is the grade id of the cell concerned, if any.
    """

    kind: str
    detail: str
    cell: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The flag as the JSON reports and summaries store it."""
        return {"kind": self.kind, "detail": self.detail, "cell": self.cell}
