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
from datetime import UTC, datetime
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
    out = []
    for n, d in enumerate(doc.get("decisions") or []):
        try:
            out.append(Decision(str(d["id"]), str(d["rule_id"]), str(d["fingerprint"]),
                                str(d.get("preview") or ""), str(d["status"]),
                                d.get("by"), str(d["at"]), d.get("reason")))
            parse_time(out[-1].at)
        except (KeyError, TypeError) as exc:
            raise TriageError(f"{path}: decision {n} is missing {exc}") from None
    return out
