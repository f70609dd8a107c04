"""Secrets in the text *about* a blob: file names, author names and e-mails, ref names,
error messages. A key committed as a file name, or pasted into `user.name`, would otherwise
reach the store and every report in full, because only blob contents are matched.

The same rules as for contents find them; each secret becomes `[redacted]` before the text
is recorded. The matcher is built on first use, so scans that record nothing pay nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from typing import Any

from nhiguard.model import ScanError

REDACTED = "[redacted]"
_RANDOM_RUN = re.compile(r"[A-Za-z0-9]{12,}")
# Location fields that carry free text; ids, dates and flags are left alone.
TEXT_FIELDS = ("path", "author", "author_email", "ref", "repo", "target")


def _looks_random(s: str) -> bool:
    return any(any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
               for run in _RANDOM_RUN.findall(s))


class Scrubber:
    def __init__(self, make_matcher: Callable[[], Any], keywords: Iterable[str] = ()) -> None:
        self._make = make_matcher
        self._matcher: Any = None
        self._done: dict[str, str] = {}
        # every match holds one of its rule's keywords: text with none of them is clean, and
        # checking that costs far less than building a matcher (a rescan records no places)
        self._keywords = tuple(sorted({k.lower() for k in keywords if k}))

    def text(self, s: str) -> str:
        hit = self._done.get(s)
        if hit is not None:
            return hit
        if not _looks_random(s):
            # names and messages are words and short parts; a key, token or password worth
            # a finding has a run of a dozen letters and digits, mixed, somewhere
            self._remember(s, s)
            return s
        if self._keywords:
            low = s.lower()
            if not any(k in low for k in self._keywords):
                self._remember(s, s)
                return s
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
        self._remember(s, clean)
        return clean

    def _remember(self, s: str, clean: str) -> None:
        if len(self._done) < 100_000:
            self._done[s] = clean

    def keyed_names(self, names: dict[str, str], key: bytes) -> dict[str, str]:
        """`names` (ref name -> value) with each name replaced by its keyed hash: compared
        across scans, never shown, so a secret in a branch or tag name is not stored."""
        return {hmac.new(key, n.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:32]: v
                for n, v in names.items()}

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
