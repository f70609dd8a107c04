"""The issues one configuration file gives: where they are (its path) and how they are made."""

from __future__ import annotations

from typing import Any

from nhiguard.model.issue import Check, Issue, IssueLocation
from nhiguard.model.severity import Severity


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
