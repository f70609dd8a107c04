"""Blobs: the unit of content the engine scans, identified by content alone."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


def blob_id(data: bytes | memoryview) -> str:
    """Git's blob SHA-1 of `data`, so files on disk and git history dedupe together."""
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.hexdigest()


def keyed_blob_id(raw: str, key: bytes) -> str:
    """The id under which the store and reports know a blob: a keyed hash of its git blob
    id. A git id is a plain hash of the content, and a small file holding only a short
    password would let anyone who reads a report try guesses against it; keyed, that needs
    the fingerprint key, as for fingerprints. Files and history still dedupe: equal
    content, equal git id, equal keyed id."""
    return hmac.new(key, raw.encode("ascii"), hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes to scan plus their content id (git blob SHA-1 hex)."""

    id: str
    data: bytes

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls(blob_id(data), data)
