"""A posture issue: something wrong with how a non-human identity is set up or used, found
by a named check (CI/CD configuration audit today; identity posture later), tagged with the
OWASP Non-Human Identities Top 10 (2025) risks it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nhiguard.model.severity import Severity


@dataclass(frozen=True, slots=True)
class Check:
    """What a check looks for, once: its id, title, risks, default severity and advice."""

    id: str  # e.g. "ci.static-cloud-credentials"
    title: str
    owasp: tuple[str, ...]  # e.g. ("NHI7:2025",)
    severity: Severity
    advice: str  # what to do instead, one or two sentences
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IssueLocation:
    path: str
    line: int = 1
    column: int = 1
    context: dict[str, Any] = field(default_factory=dict)  # e.g. {"job": "deploy", "step": "Configure AWS"}


@dataclass(frozen=True)
class Issue:
    check: Check
    message: str  # what was seen, here
    locations: tuple[IssueLocation, ...]
    evidence: dict[str, Any] = field(default_factory=dict)  # names, never secret values
    severity: Severity | None = None  # when this instance is worse or milder than the check's

    @property
    def level(self) -> Severity:
        return self.severity if self.severity is not None else self.check.severity


@dataclass(frozen=True)
class IdentityIssue:
    """A posture issue about one non-human identity (`nhiguard posture`)."""

    check: Check
    identity: str  # the identity's id
    kind: str
    name: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)  # names, days, thresholds; never secrets
    severity: Severity | None = None

    @property
    def level(self) -> Severity:
        return self.severity if self.severity is not None else self.check.severity
