"""Scan bookkeeping: what was read and what went wrong."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ScanError:
    """A part of the input that could not be read; the scan carried on without it."""

    path: str
    message: str
    kind: str = "error"  # "error" (input broken) or "skipped" (by policy: binary, too large)


@dataclass(slots=True)
class ScanStats:
    targets: list[str] = field(default_factory=list)
    bytes_scanned: int = 0
    blobs_scanned: int = 0
    blobs_seen: int = 0  # distinct blobs, scanned now or earlier (incremental)
    blobs_reused: int = 0  # distinct blobs whose results came from the store
    errors: list[ScanError] = field(default_factory=list)
    skipped: list[ScanError] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    engine: str = ""
