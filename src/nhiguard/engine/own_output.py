"""nhiguard's own reports and baselines, recognised so that a scan does not report them.

A baseline or report lists rule ids (`nhiguard.billomat.api-key`) beside keyed fingerprints
(32 hex): exactly what a provider rule anchored on its name looks for, so every committed
baseline would report itself. They hold no secret (fingerprints and redacted previews
only) unless written with --show-secrets; a document that carries `secret` values is
scanned like any other file.
"""

from __future__ import annotations

import json
from typing import Any

_MARK = b"nhiguard"


def is_own_output(data: bytes) -> bool:
    """True for an nhiguard baseline, JSON or JSON Lines report, or SARIF log without raw
    secrets in it."""
    head = data.lstrip()[:1]
    if head not in (b"{", b"[") or (_MARK not in data[:4096] and _MARK not in data[-4096:]):
        return False
    try:
        doc = json.loads(data)
    except ValueError:
        return _own_json_lines(data)
    # one JSON object: a document, or a JSON Lines report of a single finding
    return (isinstance(doc, dict) and (_own_document(doc) or _own_finding(doc))
            and not _has_secret(doc))


def _own_document(doc: dict[str, Any]) -> bool:
    if doc.get("tool") == "nhiguard" and "fingerprint_key_id" in doc:  # a baseline
        return isinstance(doc.get("findings"), list)
    if isinstance(doc.get("scan"), dict) and isinstance(doc.get("findings"), list):  # json report
        return all(_own_finding(f) for f in doc["findings"])
    runs = doc.get("runs")
    if isinstance(runs, list) and runs:  # SARIF
        return all(isinstance(r, dict) and (((r.get("tool") or {}).get("driver") or {}).get("name")
                                            == "nhiguard") for r in runs)
    return False


def _own_finding(f: Any) -> bool:
    return isinstance(f, dict) and str(f.get("rule_id", "")).startswith("nhiguard.") and "fingerprint" in f


def _own_json_lines(data: bytes) -> bool:
    lines = [ln for ln in data.splitlines() if ln.strip()]
    try:
        rows = [json.loads(ln) for ln in lines]
    except ValueError:
        return False
    return bool(rows) and all(_own_finding(r) and not _has_secret(r) for r in rows)


def _has_secret(node: Any) -> bool:
    """Any raw value: a `secret` field (JSON report, baseline) or SARIF's `secret` property."""
    if isinstance(node, dict):
        if node.get("secret"):
            return True
        return any(_has_secret(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_secret(v) for v in node)
    return False
