"""Fingerprints and previews: the only forms of a secret that leave the engine by default."""

from __future__ import annotations

import base64
import hashlib
import hmac

DEFAULT_KEY = b"nhiguard-default-fingerprint-key-v1"


def fingerprint(secret: bytes, key: bytes = DEFAULT_KEY) -> str:
    """Keyed hash of the secret (HMAC-SHA256, hex, 32 chars): stable, not reversible without the key."""
    return hmac.new(key, secret, hashlib.sha256).hexdigest()[:32]


# Tokens whose audit logs name them by an unkeyed digest: GitHub logs `hashed_token`, the
# base64 SHA-256 of the token, for calls made with PATs, OAuth and GitHub App tokens.
# Recording the same digest lets `nhiguard watch` tie a leaked token to its use. It is no
# copy of the token: these tokens carry 160+ random bits, so the digest cannot be reversed.
_AUDIT_HASHED_KINDS = frozenset({"github_pat", "github_oauth_token", "github_app_user_token",
                                 "github_app_installation_token"})


def audit_token_hash(provider: str, kind: str, secret: str) -> str | None:
    if provider != "github" or kind not in _AUDIT_HASHED_KINDS:
        return None
    return base64.b64encode(hashlib.sha256(secret.encode()).digest()).decode()


def preview(secret: str) -> str:
    """A redacted preview: enough to recognise the secret, never enough to use it."""
    s = secret.replace("\n", " ").replace("\r", " ")
    n = len(s)
    if n <= 6:
        return "*" * n
    if n <= 16:
        return s[:2] + "*" * 6
    return s[:4] + "*" * 8 + s[-2:]
