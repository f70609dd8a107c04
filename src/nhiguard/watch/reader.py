"""Audit-log records out of files as the services deliver them, streamed: JSON Lines
(one record per line), JSON arrays of any size, CloudTrail's `{"Records": [...]}` files,
Kubernetes `EventList`s, concatenated documents, each plain or gzip-compressed.

A record that is not JSON is counted and reported with its place; reading goes on with the
next. Memory stays flat: lines and array elements are decoded one at a time, and a whole
document is only held while it is small (CloudTrail's delivery files, a few MB each): a
`{"Records": [...]}` document, on one line or pretty-printed, over `STREAM_OVER` bytes is
read record by record, and so are documents written back to back on one line
(`zcat a.json.gz b.json.gz`).

A log that is being written ends in a line its writer has not finished: a last line with
no newline after it that is not JSON is *pending*, not malformed. It yields nothing, its
place is kept in `ReadProblems.partial`, and the next run reads it from its start (the
ledger in run.py stops before it). That holds only for a stream that can still grow
(`growing`, a plain file): the last line of a gzip stream or of standard input is complete
whatever it holds, so there it is malformed, and so is a last line over `STREAM_OVER`
bytes, whose records are yielded as they are read."""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import zlib
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

try:  # several times faster than json on log lines; the `watch` extra brings it
    import orjson

    _loads = orjson.loads
    # RecursionError: Python's json (and orjson's own depth limit, a JSONDecodeError) on `[[[[...`
    _DecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, UnicodeDecodeError, RecursionError)
except ImportError:  # pragma: no cover - exercised where orjson is missing
    _loads = json.loads
    _DecodeError = (ValueError, UnicodeDecodeError, RecursionError)

MAX_DOCUMENT = 512 * 1024 * 1024
STREAM_OVER = 8 << 20  # a wrapper document larger than this is read record by record
_CHUNK = 1 << 20
_WRAPPERS = ("Records", "records", "items", "events", "entries", "logs")
_WRAPPER_KEYS = frozenset(_WRAPPERS)


@dataclass
class ReadProblems:
    """What could not be read: malformed records (counted, the first few kept with their
    place), whole inputs that failed (missing, unreadable, truncated), and the places of
    last lines still being written (`partial`: not read yet, and no error)."""

    malformed: int = 0
    examples: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)

    def bad(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.examples) < 20:
            self.examples.append(f"{where}: {why}")


def log_files(paths: Iterable[str], problems: ReadProblems) -> Iterator[str]:
    """Files to read: each path, or every file under a folder in name order (CloudTrail
    names its files by time, so name order is time order within a folder). A folder that
    cannot be listed is an input problem, as a file that cannot be read is."""

    def unlisted(exc: OSError) -> None:
        problems.inputs.append(f"{exc.filename}: cannot list folder: {exc.strerror or exc}")

    for path in paths:
        if path == "-":
            yield path
        elif os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path, onerror=unlisted):
                dirs.sort()
                found += [os.path.join(root, f) for f in files if not f.startswith(".")]
            yield from sorted(found)
        elif os.path.exists(path):
            yield path
        else:
            problems.inputs.append(f"{path}: no such file or folder")


def records(stream: BinaryIO, name: str, problems: ReadProblems, first_line: int = 1,
            growing: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
    """(place, record) for every JSON object in the stream; `place` is "name:line" for JSON
    Lines and "name#index" for elements of a document. `first_line` numbers the stream's
    first line (a file read on from where an earlier run stopped). `growing`: the stream
    may still be written to (a plain file), so its unfinished last line is pending, not
    malformed; give False for standard input. A gzip stream never grows."""
    head = stream.read(2)
    raw: io.RawIOBase = _Prepend(head, stream)
    if head == b"\x1f\x8b":
        raw = _Prepend(b"", _GzipTail(io.BufferedReader(raw), name, problems))
        growing = False
    buffered = io.BufferedReader(raw, _CHUNK)
    first, blank_lines = _first_byte(buffered)
    if first is None:
        return
    if first == b"[":
        yield from _array(buffered, name, problems)
        return
    if first != b"{":  # not a JSON log at all (a README, a YAML file, a binary): one problem, not one per line
        problems.inputs.append(f"{name}: not a JSON or JSON Lines log; skipped")
        return
    yield from _lines(buffered, name, problems, first_line + blank_lines, growing)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expand(doc: Any, place: str, problems: ReadProblems) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records of one decoded document: a wrapper's list, an array's elements, or the
    object itself. What is no object (`{"Records": [1, null]}`) is counted malformed."""
    if isinstance(doc, dict):
        for key in _WRAPPERS:
            inner = doc.get(key)
            if isinstance(inner, list) and (key != "items" or doc.get("kind") in ("EventList", None)):
                yield from _elements(inner, place, problems)
                return
        yield place, doc
    elif isinstance(doc, list):
        yield from _elements(doc, place, problems)
    else:
        problems.bad(place, f"a JSON {_kind(doc)}, not an object")


def _elements(items: list[Any], place: str, problems: ReadProblems) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, rec in enumerate(items):
        if isinstance(rec, dict):
            yield f"{place}#{i}", rec
        else:
            problems.bad(f"{place}#{i}", f"a JSON {_kind(rec)}, not an object")


def _lines(stream: io.BufferedReader, name: str, problems: ReadProblems,
           first_line: int = 1, growing: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """JSON Lines; a line that opens a document without closing it starts a multi-line
    document (pretty-printed CloudTrail files), read until a closing line completes it. If
    the closing line comes and the document is still not JSON, only its first line is
    reported bad and the lines after it are read again as lines. A wrapper document over
    STREAM_OVER bytes, one line or pretty-printed, is read record by record (`_stream`).
    `stream` reads from a `_Prepend`, which takes back what streaming read too far."""
    pushback: deque[tuple[int, bytes]] = deque()
    readline = stream.readline
    lineno = first_line - 1
    pending: list[tuple[int, bytes]] = []
    pending_size = 0
    while True:
        if pushback:
            n, line = pushback.popleft()
        else:
            line = readline(STREAM_OVER)
            if not line:
                break
            lineno += 1
            n = lineno
            if len(line) >= STREAM_OVER and line[-1:] != b"\n":  # a line too big to decode whole
                start, data = (pending[0][0], b"".join(x for _, x in pending) + line) if pending else (n, line)
                if _WRAPPER_START.match(data[:4096]):
                    pending, pending_size = [], 0
                    lineno = yield from _stream(stream, data, f"{name}:{start}", problems, start)
                    continue
                line += readline()  # of another kind: read whole, as before
        if pending:
            pending.append((n, line))
            pending_size += len(line)
            if pending_size > STREAM_OVER >= pending_size - len(line) \
                    and _WRAPPER_START.match(b"".join(x for _, x in pending[:16])[:4096]):
                start = pending[0][0]  # a big pretty-printed document: read on record by record
                data = b"".join(x for _, x in pending) + b"".join(x for _, x in pushback)
                pending, pending_size = [], 0
                pushback.clear()
                lineno = yield from _stream(stream, data, f"{name}:{start}", problems, start)
                continue
            if pending_size > MAX_DOCUMENT:
                problems.bad(f"{name}:{pending[0][0]}", f"a document over {MAX_DOCUMENT >> 20} MB; skipped")
                pending, pending_size = [], 0
                continue
            if line[:1] in (b"}", b"]"):  # a closing bracket at the margin closes the top level
                start = pending[0][0]
                try:
                    doc = _loads(b"".join(x for _, x in pending))
                except _DecodeError as exc:
                    problems.bad(f"{name}:{start}", _why(pending[0][1].strip(), exc))
                    pushback.extendleft(reversed(pending[1:]))
                    pending, pending_size = [], 0
                    continue
                pending, pending_size = [], 0
                yield from _expand(doc, f"{name}:{start}", problems)
            continue
        stripped = line.strip()
        if not stripped:
            continue
        try:
            doc = _loads(stripped)
        except _DecodeError as exc:
            place = f"{name}:{n}"
            # the stream's last line, not ended by a newline: maybe still being written
            unfinished = growing and line[-1:] != b"\n"
            if stripped in (b"{", b"[") or line[:1] in (b"{", b"[") and line.rstrip()[-1:] in (b",", b"{", b"["):
                if unfinished:
                    problems.partial.append(place)
                    continue
                pending, pending_size = [(n, line)], len(line)
                continue
            if _WRAPPER_START.match(stripped):  # a one-line CloudTrail file cut short or damaged part-way,
                if unfinished:  # or several back to back (zcat): their records, once the line is whole
                    held = ReadProblems()
                    got = list(_documents(_Scan(stripped), place, held))
                    if held.malformed:
                        problems.partial.append(place)
                    else:
                        yield from got
                    continue
                yield from _documents(_Scan(stripped), place, problems)
                continue
            joined = _concatenated(stripped) if b"}" in stripped and stripped[:1] == b"{" else None
            if joined is not None:  # {...}{...}: objects written back to back (Kinesis Firehose)
                for i, one in enumerate(joined):
                    yield from _expand(one, f"{place}#{i}", problems)
                continue
            if unfinished:
                problems.partial.append(place)
                continue
            problems.bad(place, _why(stripped, exc))
            continue
        if isinstance(doc, dict) and _WRAPPER_KEYS.isdisjoint(doc):
            yield f"{name}:{n}", doc
        elif not isinstance(doc, dict | list):  # a number or a string: JSON, but no record
            problems.bad(f"{name}:{n}", f"a JSON {_kind(doc)}, not an object")
        else:
            yield from _expand(doc, f"{name}:{n}", problems)
    if pending:
        whole = b"".join(x for _, x in pending)
        place = f"{name}:{pending[0][0]}"
        if _WRAPPER_START.match(pending[0][1]):  # a one-line file: its records before the cut still count
            yield from _documents(_Scan(pending[0][1]), place, problems)
        elif _WRAPPER_START.match(whole[:4096]):  # a pretty-printed one: the same
            yield from _documents(_Scan(whole), place, problems)
            return
        else:
            problems.bad(place, "a document that never ends (truncated?)")
        pending_lines = pending[1:]
        if pending_lines:  # what followed the unfinished start may still be good lines
            rest = io.BufferedReader(_Prepend(b"".join(x for _, x in pending_lines), io.BytesIO()))
            yield from _lines(rest, name, problems, pending_lines[0][0], growing)


def _array(stream: io.BufferedReader, name: str, problems: ReadProblems) -> Iterator[tuple[str, dict[str, Any]]]:
    """Elements of a top-level JSON array, one at a time, whatever its size."""
    decoder = _DECODER
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
            except RecursionError:
                problems.bad(f"{name}#{index}", "nested too deeply to read; the rest of the array is lost")
                return
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
            problems.bad(f"{name}#{index}", f"a JSON {_kind(doc)}, not an object")
        index += 1
        pos = end
        if pos > _CHUNK:
            buf, pos = buf[pos:], 0


_WRAPPER_START = re.compile(rb'\s*\{\s*"(?:%s)"\s*:\s*\[' % "|".join(_WRAPPERS).encode())
_WRAPPER_TEXT = re.compile(_WRAPPER_START.pattern.decode().removeprefix(r"\s*"))  # the same, found in text
_DECODER = json.JSONDecoder()
_SCAN_ERRORS = (ValueError, RecursionError)  # JSONDecodeError and _TooBig are ValueErrors


class _TooBig(ValueError):
    """A record larger than MAX_DOCUMENT."""


class _Scan:
    """JSON text being read through: `buf[pos:]` is what is left of it, topped up from a
    byte stream (if there is one) as reading needs; the text behind `pos` is then dropped,
    so a document of any size is held a record at a time."""

    def __init__(self, data: bytes, stream: Any = None) -> None:
        self.dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.stream = stream
        self.eof = stream is None
        self.buf = self.dec.decode(data, final=self.eof)
        self.pos = 0
        self.began = 0  # where the value `decode` returned began
        self.dropped = 0  # newlines in the text dropped

    def more(self, least: int = _CHUNK) -> bool:
        """Read on; False at the end of the text."""
        if self.eof:
            return False
        chunk = self.stream.read(max(least, _CHUNK))
        if self.pos:
            self.dropped += self.buf.count("\n", 0, self.pos)
            self.buf = self.buf[self.pos:]
            self.pos = 0
        text = self.dec.decode(chunk, final=not chunk)
        self.buf += text
        if not chunk:
            self.eof = True
        return bool(chunk or text)

    def lines(self) -> int:
        """How many newlines the text before `pos` holds."""
        return self.dropped + self.buf.count("\n", 0, self.pos)

    def ahead(self, size: int) -> None:
        while len(self.buf) - self.pos < size and self.more():
            pass

    def peek(self, skip: str) -> str:
        """The next character not in `skip` (`pos` moves to it); "" at the end."""
        while True:
            buf, pos, n = self.buf, self.pos, len(self.buf)
            while pos < n and buf[pos] in skip:
                pos += 1
            self.pos = pos
            if pos < n:
                return buf[pos]
            if not self.more():
                return ""

    def decode(self) -> Any:
        """The JSON value at `pos`, which moves past it; reads on while the value runs past
        the text held. JSONDecodeError where the text is not JSON, RecursionError where it
        nests deeper than Python's json reads, _TooBig past MAX_DOCUMENT."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # an error near the end of the text held, or a string still open, may only be
                # the value running on past it: read on, then decide
                if self.eof or (exc.pos < len(self.buf) - 16 and not exc.msg.startswith("Unterminated string")):
                    raise
                if len(self.buf) - self.pos > MAX_DOCUMENT:
                    raise _TooBig(f"a record over {MAX_DOCUMENT >> 20} MB") from None
                self.more(len(self.buf) - self.pos)
                continue
            self.began, self.pos = self.pos, end
            return value

    def skip_line(self) -> None:
        """On past the next newline (or to the end)."""
        while True:
            nl = self.buf.find("\n", self.pos)
            if nl >= 0:
                self.pos = nl + 1
                return
            self.pos = len(self.buf)
            if not self.more():
                return


def _stream(stream: io.BufferedReader, data: bytes, place: str, problems: ReadProblems,
            start: int) -> Generator[tuple[str, dict[str, Any]], None, int]:
    """The records of a big wrapper document whose first bytes (`data`, from the start of
    line `start`) are read, going on in `stream`, one record at a time. What was read past
    the end of the document(s) goes back in front of the stream's raw `_Prepend` (as UTF-8
    text: bytes that were not UTF-8 come back as U+FFFD). The number of the last line read."""
    raw = stream.raw
    assert isinstance(raw, _Prepend)
    data += stream.read(len(stream.peek(1)))  # what the buffered reader holds comes first
    src = _Scan(data, raw)
    yield from _documents(src, place, problems)
    rest = src.buf[src.pos:].encode() + src.dec.getstate()[0]
    raw.head = rest + raw.head
    return start + src.lines() - 1


def _documents(src: _Scan, place: str, problems: ReadProblems) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records of the wrapper documents (`{"Records": [...]}`) starting at the scan's
    position, and of any others on the same line (`zcat` of delivery files writes them back
    to back), numbered on across them: "place#0", "place#1", ... A document with a newline
    before its first record is pretty-printed and may span lines; otherwise its line's end
    ends it. Damage is reported once, the records before it kept, and reading goes on with
    the next document on the line if there is one (a pretty-printed document is given up to
    its closing line). Stops past the newline that ends the last line read, or at the end."""
    index = 0
    while True:
        c = src.peek(" \t\r")
        if c in ("", "\n"):
            src.pos += len(c)
            return
        src.ahead(4096)
        start = _WRAPPER_TEXT.match(src.buf, src.pos)
        if start is None:  # some other JSON on the line, after a document
            try:
                doc = src.decode()
            except _SCAN_ERRORS:
                problems.bad(place, "not JSON after its records")
                src.skip_line()
                return
            yield from _expand(doc, f"{place}#{index}", problems)
            index += 1
            continue
        src.pos = start.end()
        pretty = "\n" in start.group() or src.peek(" \t\r") == "\n"
        skip = " \t\r\n," if pretty else " \t\r,"
        damaged = False
        while True:
            c = src.peek(skip)
            if c == "]":
                src.pos += 1
                break
            if c in ("", "\n"):  # the text, or the line of a one-line document, ends inside its list
                problems.bad(f"{place}#{index}", "the document is cut short (truncated?); the records before were read")
                src.pos += len(c)
                return
            try:
                rec = src.decode()
            except _SCAN_ERRORS as exc:
                nl = -1 if pretty or not isinstance(exc, json.JSONDecodeError) else src.buf.find("\n", src.pos)
                if nl >= 0 and exc.pos >= nl - 16:  # it failed where its line ends: the line is cut short
                    why = "the document is cut short (truncated?); the records before were read"
                else:
                    why = f"{_not_json(exc)}; the rest of the document is lost"
                problems.bad(f"{place}#{index}", why)
                index += 1
                if pretty:
                    _skip_document(src)
                    return
                if not _next_document(src):
                    return
                damaged = True  # on with the next document on the line
                break
            if not pretty and (nl := src.buf.find("\n", src.began, src.pos)) >= 0:  # its line ended inside it
                problems.bad(f"{place}#{index}", "the document is cut short (truncated?); the records before were read")
                src.pos = nl + 1
                return
            if isinstance(rec, dict):
                yield f"{place}#{index}", rec
            else:
                problems.bad(f"{place}#{index}", f"a JSON {_kind(rec)}, not an object")
            index += 1
        if damaged:
            continue
        if not _close(src, " \t\r\n" if pretty else " \t\r"):
            problems.bad(place, "not JSON after its records")
            src.skip_line()
            return


def _close(src: _Scan, space: str) -> bool:
    """Past the rest of a wrapper object after its list (more members, then "}")."""
    while True:
        c = src.peek(space)
        if c == "}":
            src.pos += 1
            return True
        if c != ",":
            return False
        src.pos += 1
        if src.peek(space) != '"':
            return False
        try:
            src.decode()
            if src.peek(space) != ":":
                return False
            src.pos += 1
            src.peek(space)
            src.decode()
        except _SCAN_ERRORS:
            return False


def _next_document(src: _Scan) -> bool:
    """After damage in a one-line document: on to the next document that starts on the same
    line (True), or past the line's end (False)."""
    src.pos += 1
    while True:
        nl = src.buf.find("\n", src.pos)
        found = _WRAPPER_TEXT.search(src.buf, src.pos, nl if nl >= 0 else len(src.buf))
        if found:
            src.pos = found.start()
            return True
        if nl >= 0:
            src.pos = nl + 1
            return False
        src.pos = max(src.pos, len(src.buf) - 256)
        if not src.more():
            src.pos = len(src.buf)
            return False


def _skip_document(src: _Scan) -> None:
    """After damage in a pretty-printed document: past its closing line (the next that
    starts with "}" at the margin)."""
    while True:
        i = src.buf.find("\n}", src.pos)
        if i >= 0:
            src.pos = i + 1
            src.skip_line()
            return
        src.pos = max(src.pos, len(src.buf) - 1)
        if not src.more():
            src.pos = len(src.buf)
            return


def _not_json(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg})"
    return str(exc)


def _concatenated(line: bytes) -> list[Any] | None:
    """The objects of a line that holds several back to back, or None if it is not that."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = _DECODER
    out, pos = [], 0
    while pos < len(text):
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            return None
        out.append(doc)
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
    return out if len(out) > 1 else None


def _why(line: bytes, exc: BaseException | None = None) -> str:
    if isinstance(exc, RecursionError) or exc is not None and "depth limit" in str(exc)[:80]:
        return "nested too deeply to read"  # [[[[...: orjson stops at 1024 levels, Python's json sooner
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
