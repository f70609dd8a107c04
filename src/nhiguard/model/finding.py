"""Matches (one hit in one blob) and findings (one secret under one rule, many locations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nhiguard.model.severity import Severity


@dataclass(frozen=True, slots=True)
class Match:
    """One confirmed hit inside one blob. Carries no raw secret unless opted in."""

    rule_id: str
    blob_id: str
    fingerprint: str  # keyed hash of the secret (hex)
    preview: str  # redacted preview, safe to store and print
    start: int  # byte offsets of the secret in the blob
    end: int
    line: int  # 1-based, display only
    column: int  # 1-based, display only
    secret: str | None = None  # only when the user asked to see secrets
    pair_fingerprints: tuple[str, ...] = ()  # fingerprints of paired parts in the same blob
    decoded: str | None = None  # the decode route, e.g. "base64" (later issues)
    step: str | None = None  # CI logs: the step of the job that printed the line
    # the whole matched text (a URI around a password), only where `secret` is kept: for
    # verifiers that need more than the secret; never stored
    context: str | None = None
    # GitHub tokens: base64 SHA-256 of the token, which GitHub's audit log records as
    # hashed_token for every call made with it (see redact.audit_token_hash)
    token_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """A match placed at one provenance of its blob, ready for a report."""

    fields: dict[str, Any]  # provenance fields (source, path, commit, ...)
    line: int
    column: int
    blob_id: str

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.fields)
        d["line"] = self.line
        d["column"] = self.column
        d["blob_id"] = self.blob_id
        return d


@dataclass(slots=True)
class Finding:
    """One secret under one rule; identified by (rule_id, fingerprint), never by lines."""

    id: str
    rule_id: str
    rule_name: str
    kind: str
    provider: str
    severity: Severity
    fingerprint: str
    preview: str
    locations: list[Location] = field(default_factory=list)
    secret: str | None = None
    paired_with: list[str] = field(default_factory=list)  # finding ids of the other parts
    status: str = "open"
    first_seen: str | None = None
    confidence: str = "high"
    # live verification (scan --verify): {status, provider, identity, message, checked_at}
    verification: dict[str, Any] | None = None
