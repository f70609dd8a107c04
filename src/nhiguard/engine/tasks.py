"""The work items that cross to worker processes and back: plain picklable data, so the
pipeline can batch them without importing the matcher (a rescan with nothing new to read
never builds one)."""

from __future__ import annotations

from dataclasses import dataclass

from nhiguard.model import Match
from nhiguard.sources.base import BlobLoader


@dataclass(frozen=True, slots=True)
class BlobTask:
    token: int  # lets the caller find the provenance(s) again
    loader: BlobLoader
    blob_id: str | None

    def __reduce__(self):
        # tasks and results cross the process boundary by the ten thousand: a plain
        # constructor call pickles several times faster than the dataclass state protocol
        return (BlobTask, (self.token, self.loader, self.blob_id))


@dataclass(frozen=True, slots=True)
class BlobResult:
    token: int
    blob_id: str | None
    size: int
    matches: tuple[Match, ...] = ()
    error: str | None = None  # the blob could not be read
    skipped: str | None = None  # left out by policy (binary, too large)
    problems: tuple[str, ...] = ()  # parts inside the blob that could not be decoded

    def __reduce__(self):
        return (BlobResult, (self.token, self.blob_id, self.size, self.matches, self.error,
                             self.skipped, self.problems))
