"""Standard input (`nhiguard scan -`): one blob, however large.

Input that fits the in-memory limit is held as bytes. Larger input cannot be held (a
multi-GB log piped in) nor re-read (a pipe is read once), so it is spooled to a private
temporary file (mode 0600, removed when the scan ends) and then read in pieces like any
large file. The spool is the user's own input on the user's own disk, never a store,
report or log.
"""

from __future__ import annotations

import os
import tempfile
from typing import BinaryIO

from nhiguard.model import ScanError, StdinProvenance
from nhiguard.sources.base import BytesLoader, SourceItem, SourceOutput
from nhiguard.sources.filesystem import FileLoader

CHUNK = 1 << 20


class StdinSource:
    """Reads `stream` once, when items() runs; call close() after the scan."""

    def __init__(self, stream: BinaryIO, in_memory_limit: int) -> None:
        self._stream = stream
        self._limit = in_memory_limit
        self.spool: str | None = None

    def items(self) -> list[SourceOutput]:
        parts: list[bytes] = []
        have = 0
        try:
            while have <= self._limit:
                b = self._stream.read(CHUNK)
                if not b:
                    data = b"".join(parts)
                    return [SourceItem(StdinProvenance(), BytesLoader(data), size=len(data))]
                parts.append(b)
                have += len(b)
            return [self._spooled(parts)]
        except OSError as exc:
            return [ScanError("-", f"cannot read standard input: {exc.strerror or type(exc).__name__}")]

    def _spooled(self, head: list[bytes]) -> SourceOutput:
        fd, path = tempfile.mkstemp(prefix="nhiguard-stdin-")  # 0600, in $TMPDIR
        self.spool = path
        size = 0
        with os.fdopen(fd, "wb") as out:
            for b in head:
                out.write(b)
                size += len(b)
            head.clear()
            while b := self._stream.read(CHUNK):
                out.write(b)
                size += len(b)
        # no size cap: standard input is what the user asked to scan, whatever its size
        return SourceItem(StdinProvenance(), FileLoader(path, max_size=size), size=size)

    def close(self) -> None:
        if self.spool is not None:
            try:
                os.unlink(self.spool)
            except OSError:
                pass
            self.spool = None
