"""Fingerprints and previews: the only forms of a secret that leave the engine by default."""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_KEY = b"nhiguard-default-fingerprint-key-v1"


def fingerprint(secret: bytes, key: bytes = DEFAULT_KEY) -> str:
    """Keyed hash of the secret (HMAC-SHA256, hex, 32 chars): stable, not reversible without the key."""
    return hmac.new(key, secret, hashlib.sha256).hexdigest()[:32]


def preview(secret: str) -> str:
    """A redacted preview: enough to recognise the secret, never enough to use it."""
    s = secret.replace("\n", " ").replace("\r", " ")
    n = len(s)
    if n <= 6:
        return "*" * n
    if n <= 16:
        return s[:2] + "*" * 6
    return s[:4] + "*" * 8 + s[-2:]
