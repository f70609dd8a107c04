"""The issues one configuration file gives: where they are (its path) and how they are made."""

from __future__ import annotations

from typing import Any

from nhiguard.model.issue import Check, Issue, IssueLocation
from nhiguard.model.severity import Severity
from nhiguard.posture import checks as C
from nhiguard.posture.shell import SUMMARY, Exposure


class IssueCollector:
    def __init__(self, path: str) -> None:
        self.path = path
        self.issues: list[Issue] = []

    def loc(self, line: int, **context: Any) -> IssueLocation:
        """A place in the file; empty context values (no step, no job) are left out."""
        return IssueLocation(self.path, line, 1, {k: v for k, v in context.items() if v})

    def add(self, check: Check, message: str, locs: list[IssueLocation],
            severity: Severity | None = None, **evidence: Any) -> None:
        self.issues.append(Issue(check, message, tuple(locs), evidence, severity))

    def exposed(self, exp: Exposure, who: str, label: str, loc: IssueLocation, keeps: str | None,
                in_env: str, **evidence: Any) -> None:
        """One secret-printed issue for what a script exposes: `label` names the secret,
        `keeps` says how the job keeps files (artifacts) if it does, `in_env` names the
        secrets its environment holds."""
        if exp.how == "print":
            where = {"": "to its log", SUMMARY: f"to {SUMMARY}"}.get(exp.target, f"to its log and to {exp.target}")
            self.add(C.SECRET_PRINTED, f"{who} prints {label} {where}", [loc], **evidence)
        elif exp.how == "write":
            self.add(C.SECRET_PRINTED, f"{who} writes {label} to {exp.target}"
                     + (f" in a job that {keeps}" if keeps else ""), [loc],
                     None if keeps else Severity.MEDIUM, **evidence)
        elif exp.how == "environment":
            self.add(C.SECRET_PRINTED, f"{who} prints its whole environment, {in_env} included",
                     [loc], **evidence)
        elif exp.how == "trace":
            self.add(C.SECRET_PRINTED, f"{who} traces its commands (set -x) with {in_env} in its "
                     "environment", [loc], Severity.MEDIUM, **evidence)
