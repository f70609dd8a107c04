"""Overlapping windows over a blob too large to match in one piece, and the line index
that turns offsets inside a window into lines and columns of the whole blob.

Each window repeats the last `overlap` bytes of the one before, so a match no longer than
the overlap is wholly inside some window; a match found in two windows has the same blob
offset in both and is reported once. A window carries how many lines precede it and where
the line it begins in starts, so positions need no pass over the bytes before it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

OVERLAP = 64 * 1024  # longer than any rule's longest match (max_length)


@dataclass(frozen=True, slots=True)
class Window:
    base: int  # blob offset of data[0]
    data: bytes
    lines_before: int = 0  # newlines in the blob before `base`
    line_start: int = 0  # blob offset where the line holding `base` begins


def windows(pieces: Iterable[bytes], overlap: int = OVERLAP) -> Iterator[Window]:
    """Windows over consecutive `pieces` of a blob: each is the previous window's last
    `overlap` bytes followed by the next piece."""
    base = lines_before = line_start = 0
    tail = b""
    for piece in pieces:
        data = tail + piece if tail else piece
        yield Window(base, data, lines_before, line_start)
        cut = max(0, len(data) - overlap)
        newlines = data.count(b"\n", 0, cut)
        if newlines:
            line_start = base + data.rfind(b"\n", 0, cut) + 1
            lines_before += newlines
        base += cut
        tail = data[cut:]


class LineIndex:
    """Newline offsets of one window, built on first use, giving 1-based blob lines and
    columns for blob offsets inside the window."""

    def __init__(self, data: bytes, base: int = 0, lines_before: int = 0, line_start: int = 0) -> None:
        self._data = data
        self._base = base
        self._lines_before = lines_before
        self._line_start = line_start
        self._nl: list[int] | None = None

    @classmethod
    def of(cls, w: Window) -> LineIndex:
        return cls(w.data, w.base, w.lines_before, w.line_start)

    def position(self, offset: int) -> tuple[int, int]:
        if self._nl is None:
            self._nl = [m.start() for m in re.finditer(rb"\n", self._data)]
        local = offset - self._base
        i = bisect.bisect_left(self._nl, local)
        start = self._base + self._nl[i - 1] + 1 if i else self._line_start
        return self._lines_before + i + 1, offset - start + 1
