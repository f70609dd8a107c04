"""Stable identifiers derived from content: a finding's id from its rule and fingerprint,
a location's dedup key from where it was seen. Pure functions, shared with the reports."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def finding_id(rule_id: str, fingerprint: str) -> str:
    """A finding's id: first 16 hex of sha256(rule_id + ":" + fingerprint).

    Depends only on the rule and the (keyed) secret fingerprint, never on where or when the
    secret was seen, so triage decisions survive rescans, moves and history rewrites.
    """
    return hashlib.sha256(f"{rule_id}:{fingerprint}".encode()).hexdigest()[:16]


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal text on every backend.

    Raises TypeError if `value` is not JSON-serialisable.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def location_key(target: str, blob_id: str, canonical_fields: str) -> str:
    """Dedup key of one place a blob was seen: 32 hex of sha256 over the target, the blob
    and the place's fields rendered by `canonical_json`."""
    h = hashlib.sha256()
    for part in (target, blob_id, canonical_fields):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:32]
