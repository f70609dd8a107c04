"""Audit-log records out of files as the services deliver them, streamed: JSON Lines
(one record per line), JSON arrays of any size, CloudTrail's `{"Records": [...]}` files,
Kubernetes `EventList`s, concatenated documents, each plain or gzip-compressed.

A record that is not JSON is counted and reported with its place; reading goes on with the
next. Memory stays flat: lines and array elements are decoded one at a time, and a whole
document is only held when it is one pretty-printed object (CloudTrail's delivery files,
a few MB each), up to `MAX_DOCUMENT` bytes."""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

try:  # several times faster than json on log lines; the `watch` extra brings it
    import orjson

    _loads = orjson.loads
    _DecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover - exercised where orjson is missing
    _loads = json.loads
    _DecodeError = (ValueError, UnicodeDecodeError)

MAX_DOCUMENT = 512 * 1024 * 1024
_CHUNK = 1 << 20
_WRAPPERS = ("Records", "records", "items", "events", "entries", "logs")
_WRAPPER_KEYS = frozenset(_WRAPPERS)


@dataclass
class ReadProblems:
    """What could not be read: malformed records (counted, the first few kept with their
    place) and whole inputs that failed (missing, unreadable, truncated)."""

    malformed: int = 0
    examples: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)

    def bad(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.examples) < 20:
            self.examples.append(f"{where}: {why}")


def log_files(paths: Iterable[str], problems: ReadProblems) -> Iterator[str]:
    """Files to read: each path, or every file under a folder in name order (CloudTrail
    names its files by time, so name order is time order within a folder)."""
    for path in paths:
        if path == "-":
            yield path
        elif os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found += [os.path.join(root, f) for f in files if not f.startswith(".")]
            yield from sorted(found)
        elif os.path.exists(path):
            yield path
        else:
            problems.inputs.append(f"{path}: no such file or folder")


def records(stream: BinaryIO, name: str, problems: ReadProblems,
            first_line: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """(place, record) for every JSON object in the stream; `place` is "name:line" for JSON
    Lines and "name#index" for elements of a document. `first_line` numbers the stream's
    first line (a file read on from where an earlier run stopped)."""
    head = stream.read(2)
    if head == b"\x1f\x8b":
        stream = _GzipTail(io.BufferedReader(_Prepend(head, stream)), name, problems)  # type: ignore[arg-type]
    else:
        stream = _Prepend(head, stream)  # type: ignore[assignment]
    buffered = io.BufferedReader(stream, _CHUNK) if not isinstance(stream, io.BufferedReader) else stream
    first, blank_lines = _first_byte(buffered)
    if first is None:
        return
    if first == b"[":
        yield from _array(buffered, name, problems)
        return
    if first != b"{":  # not a JSON log at all (a README, a YAML file, a binary): one problem, not one per line
        problems.inputs.append(f"{name}: not a JSON or JSON Lines log; skipped")
        return
    yield from _lines(buffered, name, problems, first_line + blank_lines)


def _expand(doc: Any, place: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(doc, dict):
        for key in _WRAPPERS:
            inner = doc.get(key)
            if isinstance(inner, list) and (key != "items" or doc.get("kind") in ("EventList", None)):
                for i, rec in enumerate(inner):
                    if isinstance(rec, dict):
                        yield f"{place}#{i}", rec
                return
        yield place, doc
    elif isinstance(doc, list):
        for i, rec in enumerate(doc):
            if isinstance(rec, dict):
                yield f"{place}#{i}", rec


def _lines(stream: io.BufferedReader, name: str, problems: ReadProblems,
           first_line: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """JSON Lines; a line that opens a document without closing it starts a multi-line
    document (pretty-printed CloudTrail files), read until a closing line completes it. If
    the closing line comes and the document is still not JSON, only its first line is
    reported bad and the lines after it are read again as lines."""
    pushback: deque[tuple[int, bytes]] = deque()
    numbered = enumerate(stream, first_line)
    pending: list[tuple[int, bytes]] = []
    pending_size = 0
    while True:
        if pushback:
            lineno, line = pushback.popleft()
        else:
            nxt = next(numbered, None)
            if nxt is None:
                break
            lineno, line = nxt
        if pending:
            pending.append((lineno, line))
            pending_size += len(line)
            if pending_size > MAX_DOCUMENT:
                problems.bad(f"{name}:{pending[0][0]}", f"a document over {MAX_DOCUMENT >> 20} MB; skipped")
                pending, pending_size = [], 0
                continue
            if line[:1] in (b"}", b"]"):  # a closing bracket at the margin closes the top level
                start = pending[0][0]
                try:
                    doc = _loads(b"".join(x for _, x in pending))
                except _DecodeError:
                    problems.bad(f"{name}:{start}", _why(pending[0][1].strip()))
                    pushback.extendleft(reversed(pending[1:]))
                    pending, pending_size = [], 0
                    continue
                pending, pending_size = [], 0
                yield from _expand(doc, f"{name}:{start}")
            continue
        stripped = line.strip()
        if not stripped:
            continue
        try:
            doc = _loads(stripped)
        except _DecodeError:
            if stripped in (b"{", b"[") or line[:1] in (b"{", b"[") and line.rstrip()[-1:] in (b",", b"{", b"["):
                pending, pending_size = [(lineno, line)], len(line)
                continue
            if _WRAPPER_START.match(stripped):  # a one-line CloudTrail file cut short or damaged part-way
                yield from _salvage(stripped, f"{name}:{lineno}", problems)
                continue
            joined = _concatenated(stripped) if b"}" in stripped and stripped[:1] == b"{" else None
            if joined is not None:  # {...}{...}: objects written back to back (Kinesis Firehose)
                for i, one in enumerate(joined):
                    yield from _expand(one, f"{name}:{lineno}#{i}")
                continue
            problems.bad(f"{name}:{lineno}", _why(stripped))
            continue
        if isinstance(doc, dict) and _WRAPPER_KEYS.isdisjoint(doc):
            yield f"{name}:{lineno}", doc
        elif not isinstance(doc, dict | list):  # a number or a string: JSON, but no record
            problems.bad(f"{name}:{lineno}", f"a JSON {type(doc).__name__}, not an object")
        else:
            yield from _expand(doc, f"{name}:{lineno}")
    if pending:
        whole = b"".join(x for _, x in pending)
        if _WRAPPER_START.match(pending[0][1]):  # a one-line file: its records before the cut still count
            yield from _salvage(pending[0][1], f"{name}:{pending[0][0]}", problems)
        elif _WRAPPER_START.match(whole[:4096]):  # a pretty-printed one: the same
            yield from _salvage(whole, f"{name}:{pending[0][0]}", problems)
            return
        else:
            problems.bad(f"{name}:{pending[0][0]}", "a document that never ends (truncated?)")
        pending_lines = pending[1:]
        if pending_lines:  # what followed the unfinished start may still be good lines
            yield from _lines(io.BufferedReader(io.BytesIO(b"".join(x for _, x in pending_lines))), name, problems,
                              pending_lines[0][0])


def _array(stream: io.BufferedReader, name: str, problems: ReadProblems) -> Iterator[tuple[str, dict[str, Any]]]:
    """Elements of a top-level JSON array, one at a time, whatever its size."""
    decoder = json.JSONDecoder()
    text = _Text(stream)
    buf = text.more()
    pos = buf.index("[") + 1
    index = 0
    while True:
        while True:  # skip whitespace and commas, topping the buffer up as it runs out
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf):
                break
            chunk = text.more()
            if not chunk:
                problems.bad(f"{name}#{index}", "the array never ends (truncated?)")
                return
            buf, pos = buf[pos:] + chunk, 0
        if buf[pos] == "]":
            return
        while True:
            try:
                doc, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                chunk = text.more()
                if not chunk:
                    problems.bad(f"{name}#{index}", f"not JSON ({exc.msg}); the rest of the array is lost")
                    return
                buf, pos = buf[pos:] + chunk, 0
                if len(buf) > MAX_DOCUMENT:
                    problems.bad(f"{name}#{index}", f"an element over {MAX_DOCUMENT >> 20} MB; the rest is lost")
                    return
        if isinstance(doc, dict):
            yield f"{name}#{index}", doc
        else:
            problems.bad(f"{name}#{index}", f"a JSON {type(doc).__name__}, not an object")
        index += 1
        pos = end
        if pos > _CHUNK:
            buf, pos = buf[pos:], 0


_WRAPPER_START = re.compile(rb'\s*\{\s*"(?:%s)"\s*:\s*\[' % "|".join(_WRAPPERS).encode())


def _salvage(line: bytes, place: str, problems: ReadProblems) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records of a one-line `{"Records": [...]}` document that is not JSON as a whole
    (cut short, as a truncated download or gzip leaves it, or damaged part-way): each
    record before the damage, then the damage reported once."""
    start = _WRAPPER_START.match(line)
    pos = start.end() if start else 0  # an ASCII prefix: the same offset in the text
    text = line.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    index = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            problems.bad(f"{place}#{index}", "the document is cut short (truncated?); the records before were read")
            return
        if text[pos] == "]":
            problems.bad(place, "not JSON after its records")
            return
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problems.bad(f"{place}#{index}", f"not JSON ({exc.msg}); the rest of the document is lost")
            return
        if isinstance(doc, dict):
            yield f"{place}#{index}", doc
        index += 1


def _concatenated(line: bytes) -> list[Any] | None:
    """The objects of a line that holds several back to back, or None if it is not that."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = json.JSONDecoder()
    out, pos = [], 0
    while pos < len(text):
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        out.append(doc)
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
    return out if len(out) > 1 else None


def _why(line: bytes) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start})"
    return "not JSON"


def _first_byte(stream: io.BufferedReader) -> tuple[bytes | None, int]:
    """The first byte that is not white space, and how many lines went by before it (read
    and dropped, so the line numbers after them stay true)."""
    if stream.peek(3)[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte-order mark, which some exporters write
        stream.read(3)
    lines = 0
    while True:
        peek = stream.peek(_CHUNK)
        if not peek:
            return None, lines
        stripped = peek.lstrip()
        if stripped:
            return stripped[:1], lines
        lines += peek.count(b"\n")
        stream.read(len(peek))


class _Text:
    """Decoded text of a byte stream in chunks; bytes that are not UTF-8 become U+FFFD
    (a record with them still parses, and the value is only compared, never executed)."""

    def __init__(self, stream: io.BufferedReader) -> None:
        self.stream = stream
        self.dec = codecs.getincrementaldecoder("utf-8-sig")("replace")

    def more(self) -> str:
        while True:
            chunk = self.stream.read(_CHUNK)
            text = self.dec.decode(chunk or b"", final=not chunk)
            if text or not chunk:
                return text


class _Prepend(io.RawIOBase):
    """A stream with bytes already read put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = 0
        if self.head:  # the head and what follows it in one read, so a peek sees more than the head
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            if self.head or n == len(b):
                return n
        data = self.stream.read(len(b) - n)
        b[n:n + len(data)] = data
        return n + len(data)


class _GzipTail(io.RawIOBase):
    """A gzip stream (members concatenated, as log shippers write them) whose damage
    (truncation, corruption) ends the input with a reported problem instead of an
    exception, keeping every byte that decompressed before it."""

    def __init__(self, raw: io.BufferedReader, name: str, problems: ReadProblems) -> None:
        self.raw = raw
        self.name = name
        self.problems = problems
        self.z = zlib.decompressobj(wbits=31)
        self.out = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self.out and not self.done:
            data = self.raw.read(1 << 16)
            try:
                if not data:
                    if self._started:
                        self.problems.inputs.append(f"{self.name}: the gzip stream ends early (truncated); "
                                                    "records before that were read")
                    self.done = True
                    return
                self._started = True
                self.out = self.z.decompress(data)
                while self.z.eof and self.z.unused_data:  # the next member
                    rest = self.z.unused_data
                    self.z = zlib.decompressobj(wbits=31)
                    self.out += self.z.decompress(rest)
                if self.z.eof and not self.z.unused_data:
                    self._started = False  # a member ended cleanly; more data starts another
                    self.z = zlib.decompressobj(wbits=31)
            except zlib.error as exc:
                self.problems.inputs.append(f"{self.name}: damaged gzip stream ({exc}); records before it were read")
                self.done = True

    _started = False

    def readinto(self, b: Any) -> int:
        self._fill()
        n = min(len(b), len(self.out))
        b[:n] = self.out[:n]
        self.out = self.out[n:]
        return n
