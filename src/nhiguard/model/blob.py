"""Blobs: the unit of content the engine scans, identified by content alone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def blob_id(data: bytes | memoryview) -> str:
    """Git's blob SHA-1 of `data`, so files on disk and git history dedupe together."""
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes to scan plus their content id (git blob SHA-1 hex)."""

    id: str
    data: bytes

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls(blob_id(data), data)
