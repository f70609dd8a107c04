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
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, ClassVar

from nhiguard.model import ScanError, StdinProvenance
from nhiguard.sources.base import SourceItem, SourceOutput
from nhiguard.sources.filesystem import FileLoader, FileStream

CHUNK = 1 << 20


# Standard input is what the user asked to scan: `explicit` tells the worker to read it even
# when it holds NUL bytes (a log with a stray NUL is still a log), never to skip it as binary.
@dataclass(frozen=True, slots=True)
class StdinBytes:
    data: bytes
    explicit: ClassVar[bool] = True

    def load(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class StdinSpool:
    path: str
    size: int
    explicit: ClassVar[bool] = True

    def load(self) -> bytes:
        return self.load_sniffed(0, None)  # type: ignore[return-value]

    def load_sniffed(self, sniff: int, reject: Callable[[bytes], str | None] | None,
                     stream_above: int | None = None) -> bytes | FileStream:
        # no size cap: standard input is scanned whatever its size
        return FileLoader(self.path, max_size=self.size).load_sniffed(sniff, reject, stream_above)


class StdinSource:
    """Reads `stream` once, when items() runs; call close() after the scan."""

    def __init__(self, stream: BinaryIO | None, in_memory_limit: int) -> None:
        self._stream = stream
        self._limit = in_memory_limit
        self.spool: str | None = None

    def items(self) -> list[SourceOutput]:
        if self._stream is None:  # `nhiguard scan - <&-`: there is no standard input at all
            return [ScanError("-", "standard input is closed")]
        parts: list[bytes] = []
        have = 0
        try:
            while have <= self._limit:
                b = self._stream.read(CHUNK)
                if not b:
                    data = b"".join(parts)
                    return [SourceItem(StdinProvenance(), StdinBytes(data), size=len(data))]
                parts.append(b)
                have += len(b)
            return [self._spooled(parts)]
        except OSError as exc:
            return [ScanError("-", f"cannot read standard input: {exc.strerror or type(exc).__name__}")]

    def _spooled(self, head: list[bytes]) -> SourceOutput:
        fd, path = tempfile.mkstemp(prefix="nhiguard-stdin-")  # 0600, in $TMPDIR
        self.spool = path
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for b in head:
                    out.write(b)
                    size += len(b)
                head.clear()
                while b := self._stream.read(CHUNK):
                    out.write(b)
                    size += len(b)
        except BaseException:  # a full disk, Ctrl-C or SIGTERM while reading: no spool stays
            self.close()
            raise
        return SourceItem(StdinProvenance(), StdinSpool(path, size), size=size)

    def close(self) -> None:
        if self.spool is not None:
            try:
                os.unlink(self.spool)
            except OSError:
                pass
            self.spool = None
