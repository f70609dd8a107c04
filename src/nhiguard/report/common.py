"""Helpers every reporter shares: finding order, the JSON shape of a finding and of a
location, and the last line of defence that keeps raw secrets and unprintable text out
of reports."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from nhiguard.model import Finding, Location, ScanError, Severity
from nhiguard.report.results import ScanResults

REDACTED = "[redacted]"

# A raw secret shorter than this is not scrubbed from other strings: replacing a 3-byte
# "secret" everywhere would mangle paths and names while protecting nothing.
MIN_SCRUB_LENGTH = 6

# C0 controls (tab and newline included), DEL and C1 controls. A file name or commit
# summary holding ESC sequences must not drive the user's terminal or break a table row.
# Unicode's bidirectional controls (ALM, LRM, RLM, the embeddings, overrides and isolates:
# "Trojan Source") and line/paragraph separators would reorder or split what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in report order: most severe first, then by rule and id (deterministic)."""
    return sorted(findings, key=lambda f: (-int(f.severity), f.rule_id, f.id))


def severity_name(severity: Severity) -> str:
    return Severity(severity).name.lower()


def valid_text(s: str) -> str:
    """`s` made encodable as UTF-8: lone surrogates (undecodable file names read with
    surrogateescape) become `\\xNN` escapes instead of crashing the writer."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def printable(s: str) -> str:
    """`s` for a terminal or a spreadsheet cell: valid text with control characters shown
    as escapes (`\\x1b`, `\\u202e`), never interpreted."""
    return _CONTROL.sub(_escape, valid_text(s))


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class Sanitizer:
    """Applied to every string a reporter writes.

    Without `show_secrets`, any raw secret that a finding carries (the engine may keep it
    for verification) is replaced wherever it appears: in a commit summary, a path, an
    error message. With `show_secrets`, strings only get made valid text.
    """

    def __init__(self, results: ScanResults) -> None:
        secrets: set[str] = set()
        if not results.show_secrets:
            for f in results.findings:
                if f.secret and len(f.secret) >= MIN_SCRUB_LENGTH:
                    secrets.add(f.secret)
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted(secrets, key=len, reverse=True)

    def text(self, s: str) -> str:
        s = valid_text(s)
        for secret in self._secrets:
            if secret in s:
                s = s.replace(secret, REDACTED)
        return s

    def tree(self, obj: Any) -> Any:
        """A JSON-like value with every string (keys too) passed through `text`."""
        if not self._secrets and _all_valid(obj):
            return obj  # nothing to replace and nothing to repair: the common case
        return self._tree(obj)

    def _tree(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.text(k) if isinstance(k, str) else k: self._tree(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self._tree(v) for v in obj]
        return obj


def _all_valid(obj: Any) -> bool:
    """Every string in a JSON-like value encodes as UTF-8 (one pass of the C encoder)."""
    import json

    try:
        json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        return False
    return True


def location_dict(loc: Location) -> dict[str, Any]:
    """A location as reported: every Location field, with `path` always present (null when
    unknown, e.g. an unreachable git blob) and, for git, `commit` always present too."""
    fields = loc.as_dict()
    source = fields.pop("source", "file")
    # Common fields first, in a fixed order, then what the source adds, then the blob id.
    d: dict[str, Any] = {
        "source": source,
        "path": fields.pop("path", None),
        "line": fields.pop("line"),
        "column": fields.pop("column"),
    }
    if source == "git":
        d["commit"] = fields.pop("commit", None)
    blob = fields.pop("blob_id")
    d.update(fields)
    d["blob_id"] = blob
    return d


def finding_dict(f: Finding, show_secrets: bool) -> dict[str, Any]:
    """The JSON object of one finding (the `json` report's `findings[]`, a `jsonl` line)."""
    d: dict[str, Any] = {
        "id": f.id,
        "rule_id": f.rule_id,
        "rule_name": f.rule_name,
        "kind": f.kind,
        "provider": f.provider,
        "severity": severity_name(f.severity),
        "confidence": f.confidence,
        "status": f.status,
        "fingerprint": f.fingerprint,
        "preview": f.preview,
    }
    if show_secrets:
        d["secret"] = f.secret
    d["paired_with"] = list(f.paired_with)
    d["first_seen"] = f.first_seen
    if f.verification is not None:
        d["verification"] = dict(f.verification)
    d["locations"] = [location_dict(loc) for loc in f.locations]
    return d


def error_dict(e: ScanError) -> dict[str, Any]:
    return {"path": e.path, "message": e.message, "kind": e.kind}
