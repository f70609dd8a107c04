"""Triage decisions shared as a file: which findings a team marked false positive, accepted
risk, revoked or fixed, by whom, when and why.

Decisions are keyed by finding identity (rule id + keyed fingerprint), like baselines, so
they apply in every store that uses the same fingerprint key, and survive rescans, moved
lines and history rewrites. The file holds no raw secret. Importing keeps, per finding, the
most recent decision: a store's own later decision is not overwritten by an older file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nhiguard.remediate.baseline import key_id

FORMAT_VERSION = 1
DEFAULT_PATH = ".nhiguard-triage.json"
# Status names as users type them -> as stored.
ALIASES = {"false-positive": "false_positive", "fp": "false_positive", "accepted-risk": "accepted",
           "accept": "accepted", "risk-accepted": "accepted", "reopen": "open"}


class TriageError(ValueError):
    """The triage file or a decision cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    rule_id: str
    fingerprint: str
    preview: str
    status: str
    by: str | None
    at: str  # ISO 8601 UTC
    reason: str | None

    def as_dict(self) -> dict:
        return {"id": self.id, "rule_id": self.rule_id, "fingerprint": self.fingerprint,
                "preview": self.preview, "status": self.status, "by": self.by, "at": self.at,
                "reason": self.reason}

    @property
    def when(self) -> datetime:
        return parse_time(self.at)


def parse_time(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TriageError(f"not a time: {text!r}") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def status_name(text: str, allowed: tuple[str, ...]) -> str:
    name = ALIASES.get(text.strip().lower(), text.strip().lower().replace("-", "_"))
    if name not in allowed:
        raise TriageError(f"unknown status {text!r}; use one of {', '.join(allowed)} "
                          "(or false-positive, accepted-risk)")
    return name


def write(decisions: list[Decision], fingerprint_key: bytes, path: Path | None) -> str:
    doc = {"nhiguard_triage": FORMAT_VERSION, "key_id": key_id(fingerprint_key),
           "decisions": [d.as_dict() for d in sorted(decisions, key=lambda d: d.id)]}
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if path is not None:
        path.write_text(text, encoding="utf-8")
    return text


def read(path: Path, fingerprint_key: bytes) -> list[Decision]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TriageError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TriageError(f"{path}: not a triage file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("nhiguard_triage") != FORMAT_VERSION:
        raise TriageError(f"{path}: not an nhiguard triage file (version {FORMAT_VERSION})")
    if doc.get("key_id") != key_id(fingerprint_key):
        raise TriageError(f"{path}: made with another fingerprint key; its fingerprints mean "
                          "nothing here (set the team's NHIGUARD_FINGERPRINT_KEY)")
    decisions = doc.get("decisions", [])
    if not isinstance(decisions, list):
        raise TriageError(f"{path}: `decisions` must be a list")
    now = datetime.now(UTC)
    out = []
    for n, d in enumerate(decisions):
        out.append(_decision(d, f"{path}: decision {n}", now))
    return out


# A decision from a clock a little ahead is still taken; beyond this it is refused: a date
# in the future would win over every later decision until that date.
CLOCK_SKEW = timedelta(minutes=5)
_REQUIRED = ("id", "rule_id", "fingerprint", "status", "at")
_OPTIONAL = ("preview", "by", "reason")


def _decision(d: object, where: str, now: datetime) -> Decision:
    """One decision of a file, every field checked: a wrong type is named, never stored."""
    if not isinstance(d, dict):
        raise TriageError(f"{where}: not an object")
    name = d.get("id")
    where = f"{where} ({name})" if isinstance(name, str) and name.isalnum() and len(name) <= 64 else where
    for k in _REQUIRED:
        if k not in d:
            raise TriageError(f"{where}: `{k}` is missing")
        if not isinstance(d[k], str) or not d[k].strip():
            raise TriageError(f"{where}: `{k}` must be a non-empty string, not {_kind(d[k])}")
    for k in _OPTIONAL:
        if d.get(k) is not None and not isinstance(d[k], str):
            raise TriageError(f"{where}: `{k}` must be a string or null, not {_kind(d[k])}")
    try:
        when = parse_time(d["at"])
    except TriageError:
        raise TriageError(f"{where}: `at` is not an ISO 8601 time") from None
    if when > now + CLOCK_SKEW:
        raise TriageError(f"{where}: `at` ({d['at']}) is in the future")
    return Decision(d["id"], d["rule_id"], d["fingerprint"], d.get("preview") or "", d["status"],
                    d.get("by"), d["at"], d.get("reason"))


def _kind(value: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object",
            type(None): "null"}.get(type(value), type(value).__name__)
