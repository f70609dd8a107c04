"""What every source yields: `SourceItem`s (a blob to scan and where it was seen) and
`ScanError`s (a part of the input that could not be read; the scan goes on).

Blobs are lazy: a source yields a picklable `loader` instead of bytes so that reading
happens in the worker process that scans, and so that a blob whose id is known up
front (git) can be skipped without being read when it was already scanned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from nhiguard.model import Provenance, ScanError


class LoadError(Exception):
    """A blob could not be read; the message is safe to show (never contains content)."""


class Skipped(Exception):
    """A blob was left out by policy (too large, binary); the message says why."""


class BlobLoader(Protocol):
    """Picklable; `load()` returns the blob's bytes or raises LoadError / Skipped."""

    def load(self) -> bytes: ...


class BlobStream(Protocol):
    """A blob too large to hold at once (a loader may return one instead of bytes): its
    size, its first bytes (for sniffing) and its content in pieces, from the start."""

    size: int
    head: bytes

    def pieces(self, piece: int) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BytesLoader:
    data: bytes

    def load(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class SourceItem:
    provenance: Provenance
    loader: BlobLoader
    blob_id: str | None = None  # known without reading (git object id); else computed on load
    size: int | None = None  # when known up front
    keyed: bool = False  # blob_id is already the keyed id (from the store), not the git id


SourceOutput = SourceItem | ScanError


@dataclass(frozen=True, slots=True)
class GitWalkState:
    """Commits already walked for a repository (from the store), so a rescan walks only new ones."""

    repo_key: str
    seen_commits: frozenset[str] = frozenset()
