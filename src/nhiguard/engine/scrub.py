"""Secrets in the text *about* a blob: file names, author names and e-mails, ref names,
error messages. A key committed as a file name, or pasted into `user.name`, would otherwise
reach the store and every report in full, because only blob contents are matched.

The same rules as for contents find them; each secret becomes `[redacted]` before the text
is recorded. The matcher is built on first use, so scans that record nothing pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nhiguard.model import ScanError

REDACTED = "[redacted]"
# Location fields that carry free text; ids, dates and flags are left alone.
TEXT_FIELDS = ("path", "author", "author_email", "ref", "repo")


class Scrubber:
    def __init__(self, make_matcher: Callable[[], Any]) -> None:
        self._make = make_matcher
        self._matcher: Any = None
        self._done: dict[str, str] = {}

    def text(self, s: str) -> str:
        hit = self._done.get(s)
        if hit is not None:
            return hit
        if self._matcher is None:
            self._matcher = self._make()
        data = s.encode("utf-8", "surrogateescape")
        spans = sorted({(m.start, m.end) for m in self._matcher.scan("", data)}, reverse=True)
        out = data
        last = len(data) + 1
        for start, end in spans:  # from the end, so earlier offsets stay valid
            if end <= last:
                out = out[:start] + REDACTED.encode() + out[end:]
                last = start
        clean = out.decode("utf-8", "surrogateescape") if spans else s
        if len(self._done) < 100_000:
            self._done[s] = clean
        return clean

    def fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = dict(fields)
        for k in TEXT_FIELDS:
            v = out.get(k)
            if isinstance(v, str) and v:
                out[k] = self.text(v)
        return out

    def error(self, e: ScanError) -> ScanError:
        path, message = self.text(e.path), self.text(e.message)
        if path == e.path and message == e.message:
            return e
        return ScanError(path, message, kind=e.kind)
