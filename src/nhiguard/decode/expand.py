"""Expand a blob into derived blobs (see package docstring): archive members, decompressed
streams, UTF-16 transcoded, JSON string literals unescaped, base64, hex and percent-encoded
text decoded."""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import io
import json
import lzma
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Derived:
    data: bytes
    route: str  # how it was reached from the outer blob, e.g. "zip:a.zip!b.txt" or "base64"
    # (offset in derived data, offset in outer blob) where each decoded piece starts; empty for
    # archive members, whose positions stay in the member's own coordinates
    pieces: tuple[tuple[int, int], ...] = ()

    @property
    def is_member(self) -> bool:
        return not self.pieces

    def outer_offset(self, offset: int) -> int:
        """Best outer position of a derived offset: the start of the piece holding it."""
        best = self.pieces[0][1]
        for dstart, ostart in self.pieces:
            if dstart > offset:
                break
            best = ostart
        return best


@dataclass
class DecodeBudget:
    max_depth: int = 3
    max_total_bytes: int = 256 * 1024 * 1024  # decompressed bytes across one outer blob
    max_members: int = 10_000
    max_ratio: int = 200  # a member expanding more than this is treated as a bomb...
    ratio_floor: int = 1024 * 1024  # ...once it is bigger than this (small ones are harmless)
    used_bytes: int = 0
    used_members: int = 0
    problems: list[str] = field(default_factory=list)

    def take(self, n: int) -> bool:
        if self.used_bytes + n > self.max_total_bytes:
            self.problems.append(f"decompression budget of {self.max_total_bytes} bytes exceeded")
            return False
        self.used_bytes += n
        return True


ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


def is_archive(data: bytes) -> bool:
    return (
        data.startswith((ZIP_MAGIC, GZIP_MAGIC, XZ_MAGIC, b"PK\x05\x06"))
        or (data.startswith(BZ2_MAGIC) and len(data) > 10 and data[3:4].isdigit())
        or _is_tar(data)
    )


def is_utf16(data: bytes) -> bool:
    """UTF-16 text (what Windows PowerShell writes by default): a byte-order mark, or a
    start where every other byte is NUL and the rest is printable ASCII."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return len(data) % 2 == 0 or len(data) > 64
    head = data[:512]
    if len(head) < 16:
        return False
    for zeros, chars in ((head[1::2], head[0::2]), (head[0::2], head[1::2])):
        if zeros.count(0) >= 0.95 * len(zeros) and sum(32 <= c < 127 or c in (9, 10, 13) for c in chars) >= 0.9 * len(chars):
            return True
    return False


def _utf16(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    if data[:2] == b"\xfe\xff":
        codec, body = "utf-16-be", data[2:]
    elif data[:2] == b"\xff\xfe":
        codec, body = "utf-16-le", data[2:]
    else:  # no mark: the side holding the NULs says the byte order
        codec = "utf-16-le" if data[1:512:2].count(0) > data[0:512:2].count(0) else "utf-16-be"
        body = data
    text = body[: len(body) - len(body) % 2].decode(codec, "replace").encode("utf-8")
    if budget.take(len(text)):
        # a transcoding keeps lines: its own line numbers are the file's
        yield Derived(text, _join(route, "utf-16"))


def _is_tar(data: bytes) -> bool:
    return len(data) >= 512 and data[257:262] == b"ustar"


def _safe_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not (name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name))


def expand(data: bytes, budget: DecodeBudget, depth: int = 0, route: str = "") -> Iterator[Derived]:
    """Derived blobs of `data` (not recursive: the caller rescans and expands each)."""
    if depth >= budget.max_depth:
        if is_archive(data) and budget.max_depth > 0:  # 0: decoding was turned off
            budget.problems.append(f"{route or 'archive'}: archive nested more than "
                                   f"{budget.max_depth} levels deep, not opened")
        return
    if data.startswith((ZIP_MAGIC, b"PK\x05\x06")):
        yield from _zip(data, budget, route)
    elif data.startswith(GZIP_MAGIC):
        yield from _stream(data, budget, route, "gzip", gzip.decompress)
    elif data.startswith(BZ2_MAGIC) and len(data) > 10 and data[3:4].isdigit():
        yield from _stream(data, budget, route, "bzip2", bz2.decompress)
    elif data.startswith(XZ_MAGIC):
        yield from _stream(data, budget, route, "xz", lzma.decompress)
    elif _is_tar(data):
        yield from _tar(data, budget, route)
    elif is_utf16(data):
        yield from _utf16(data, budget, route)
    else:
        yield from _json_strings(data, budget, route)
        yield from _base64_runs(data, budget, route)
        yield from _percent_encoded(data, budget, route)
        yield from _without_ansi(data, budget, route)


def _join(route: str, step: str) -> str:
    return f"{route}!{step}" if route else step


def _zip(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        # a truncated zip has lost its central directory, which is written last; the members
        # before the cut are still there behind their local headers
        found = 0
        for member in _zip_local_members(data, budget, route):
            found += 1
            yield member
        budget.problems.append(f"{_join(route, 'zip')}: corrupt zip archive ({exc}); "
                               f"{found} member(s) recovered from local headers")
        return
    for info in infos:
        if info.is_dir():
            continue
        name = info.filename
        where = _join(route, f"zip:{name}")
        if not _safe_member(name):
            budget.problems.append(f"{where}: unsafe member name (path traversal) refused")
            continue
        budget.used_members += 1
        if budget.used_members > budget.max_members:
            budget.problems.append(f"{where}: more than {budget.max_members} archive members; rest skipped")
            return
        if (
            info.file_size > budget.ratio_floor
            and info.file_size / max(info.compress_size, 1) > budget.max_ratio
        ):
            budget.problems.append(f"{where}: compression ratio too high (zip bomb?) refused")
            continue
        if not budget.take(info.file_size):
            return
        member, problem = _read_member(zf, info)
        if problem is not None:
            # damage inside a member: what was read before it is still the member's text
            budget.problems.append(f"{where}: unreadable member ({problem})"
                                   + (f"; its first {len(member)} bytes were read" if member else ""))
        if member:
            yield Derived(member, where)


_MEMBER_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                  RuntimeError, zlib.error, lzma.LZMAError)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[bytes, str | None]:
    """A member's bytes, read in pieces so that damage part-way keeps what came before it;
    the problem (or None) in words."""
    parts: list[bytes] = []
    have = 0
    try:
        with zf.open(info) as fh:
            while have <= info.file_size:
                b = fh.read(min(64 << 10, info.file_size + 1 - have))
                if not b:
                    break
                parts.append(b)
                have += len(b)
    except _MEMBER_ERRORS as exc:
        return b"".join(parts), f"{type(exc).__name__}: {exc}"
    return b"".join(parts), None


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


def _zip_local_members(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    """Members read from their local headers alone (stored or deflated), in order; the
    last one may be cut short, and what of it is there is kept."""
    pos = data.find(ZIP_MAGIC)
    while 0 <= pos and pos + _LOCAL_HEADER.size <= len(data):
        (_, _, flags, method, _, _, _, csize, usize, nlen, xlen) = _LOCAL_HEADER.unpack_from(data, pos)
        start = pos + _LOCAL_HEADER.size + nlen + xlen
        name = data[pos + _LOCAL_HEADER.size : pos + _LOCAL_HEADER.size + nlen].decode(
            "utf-8" if flags & 0x800 else "cp437", "replace")
        where = _join(route, f"zip:{name}")
        sized = not flags & 0x08  # else the sizes follow the data, in a descriptor
        nxt = data.find(ZIP_MAGIC, start + (csize if sized else 0))
        raw = data[start : start + csize] if sized else data[start : nxt if nxt >= 0 else len(data)]
        pos = nxt
        if name.endswith("/"):
            continue
        if not _safe_member(name):
            budget.problems.append(f"{where}: unsafe member name (path traversal) refused")
            continue
        budget.used_members += 1
        if budget.used_members > budget.max_members:
            budget.problems.append(f"{where}: more than {budget.max_members} archive members; rest skipped")
            return
        if method == 0:
            member = raw[:usize] if sized else _without_descriptor(raw)
        elif method == 8:
            # no header to trust for the size: the output is capped at the bomb ratio
            cap = min(max(budget.ratio_floor, len(raw) * budget.max_ratio),
                      max(budget.max_total_bytes - budget.used_bytes, 0))
            d = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                member = d.decompress(raw, cap + 1)
            except zlib.error:
                member = b""  # cut inside a block: nothing usable of this member
            if len(member) > cap:
                budget.problems.append(f"{where}: expands past the size budget or the bomb ratio; refused")
                continue
        else:
            budget.problems.append(f"{where}: compression method {method} not supported when salvaging")
            continue
        if member and budget.take(len(member)):
            yield Derived(member, where)


def _without_descriptor(raw: bytes) -> bytes:
    """A stored member's bytes up to the next local header, less the data descriptor
    (crc and sizes, with or without its signature, 32- or 64-bit sizes) that follows them."""
    for size, sig_at in ((16, -16), (24, -24)):
        if len(raw) >= size and raw[sig_at : sig_at + 4] == b"PK\x07\x08":
            return raw[:-size]
    if len(raw) >= 12 and int.from_bytes(raw[-8:-4], "little") == len(raw) - 12:
        return raw[:-12]
    return raw


def _stream(data: bytes, budget: DecodeBudget, route: str, kind: str, fn) -> Iterator[Derived]:
    where = _join(route, kind)
    limit = min(budget.max_total_bytes - budget.used_bytes, max(len(data) * budget.max_ratio, budget.ratio_floor))
    out, problem = _bounded_decompress(data, kind, limit)
    if out is None:
        budget.problems.append(f"{where}: decompressed size over budget (bomb?) refused")
        return
    if problem is not None:
        budget.problems.append(f"{where}: {problem}")
    if out and _is_tar(out):
        # .tar.gz and friends: one archive, not two levels of nesting
        yield from _tar(out, budget, where)
    elif out and budget.take(len(out)):
        yield Derived(out, where)


_MAGIC = {"gzip": GZIP_MAGIC, "bzip2": BZ2_MAGIC, "xz": XZ_MAGIC}
_FEED = 64 * 1024  # input is fed in pieces, so the output before a damaged spot is kept


def _decompressor(kind: str) -> Any:
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    return bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor()


def _bounded_decompress(data: bytes, kind: str, limit: int) -> tuple[bytes | None, str | None]:
    """Everything `data` decompresses to, every member of a multi-member file (`cat a.gz
    b.gz`, pbzip2, concatenated xz streams), and why decompression stopped early (a
    truncated or damaged stream: what came before is kept), or (None, None) past `limit`."""
    parts: list[bytes] = []
    size = 0
    rest = data
    while rest:
        d = _decompressor(kind)
        pos, n = 0, len(rest)
        try:
            while not d.eof:
                room = limit + 1 - size
                if kind == "gzip":
                    feed = d.unconsumed_tail
                    if not feed:
                        if pos >= n:
                            break
                        feed = rest[pos : pos + _FEED]
                        pos += len(feed)
                    piece = d.decompress(feed, room)
                else:
                    feed = b""
                    if d.needs_input:
                        if pos >= n:
                            break
                        feed = rest[pos : pos + _FEED]
                        pos += len(feed)
                    piece = d.decompress(feed, max_length=room)
                parts.append(piece)
                size += len(piece)
                if size > limit:
                    return None, None
        except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as exc:
            return b"".join(parts), f"corrupt {kind} stream ({exc}); what came before the damage was read"
        if not d.eof:
            return b"".join(parts), f"truncated {kind} stream; what it holds up to the cut was read"
        rest = (d.unused_data + rest[pos:]).lstrip(b"\0")  # padding between members
        if not rest.startswith(_MAGIC[kind]):
            break  # trailing bytes that are not another member, as gzip itself ignores them
    return b"".join(parts), None


def _tar_members(tf: tarfile.TarFile, budget: DecodeBudget, route: str) -> Iterator[tarfile.TarInfo]:
    """Members one by one, so a truncated archive still gives the members before the damage."""
    while True:
        try:
            m = tf.next()
        except (tarfile.TarError, OSError, EOFError) as exc:
            budget.problems.append(f"{_join(route, 'tar')}: corrupt or truncated tar archive: {exc}")
            return
        if m is None:
            return
        yield m


def _tar(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except (tarfile.TarError, OSError, EOFError) as exc:
        budget.problems.append(f"{_join(route, 'tar')}: corrupt tar archive: {exc}")
        return
    for m in _tar_members(tf, budget, route):
        if not m.isfile():
            continue
        where = _join(route, f"tar:{m.name}")
        if not _safe_member(m.name):
            budget.problems.append(f"{where}: unsafe member name (path traversal) refused")
            continue
        budget.used_members += 1
        if budget.used_members > budget.max_members or not budget.take(m.size):
            return
        try:
            fh = tf.extractfile(m)
            member = fh.read() if fh else b""
        except (tarfile.TarError, OSError, EOFError) as exc:
            budget.problems.append(f"{where}: unreadable member: {exc}")
            continue
        if len(member) < m.size:
            budget.problems.append(f"{where}: member cut short (truncated archive)")
        yield Derived(member, where)


# JSON string literals with at least one escape: notebooks, JSON logs, escaped config blobs.
# Written as an unrolled loop (no alternation per character) so it runs in linear time.
_JSON_STRING = re.compile(rb'"([^"\\\n]*(?:\\.[^"\\\n]*)+)"')
_MIN_JSON_STRING = 16


def _escaped_regions(data: bytes) -> Iterator[tuple[int, int]]:
    """Where to look for escaped strings: the lines of a JSON document or JSON-lines log that
    hold a backslash (a JSON string cannot span lines, so nothing is missed, and pretty-printed
    documents are mostly escape-free); in other text only the lines that hold an escaped quote
    (code rarely needs unescaping)."""
    needle = b"\\" if data[:256].lstrip()[:1] in (b"{", b"[") else b'\\"'
    pos = data.find(needle)
    while pos >= 0:
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        yield start, end
        pos = data.find(needle, end)


def _json_strings(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    """Unescape JSON string literals that contain escapes, so `\\"key\\": \\"v\\"` reads as code."""
    pieces: list[bytes] = []
    offsets: list[tuple[int, int]] = []
    size = 0
    for start, end in _escaped_regions(data):
        for m in _JSON_STRING.finditer(data, start, end):
            body = m.group(1)
            if len(body) < _MIN_JSON_STRING:
                continue
            try:
                text = json.loads(b'"' + body + b'"')
            except (ValueError, UnicodeDecodeError):
                continue
            piece = text.encode("utf-8", "surrogatepass")
            offsets.append((size, m.start() + 1))
            pieces.append(piece)
            size += len(piece) + 1
    if pieces:
        out = b"\n".join(pieces)
        if budget.take(len(out)):
            yield Derived(out, _join(route, "json-string"), tuple(offsets))


# The standard alphabet only: with "-" and "_" every long snake_case identifier would be a
# candidate; URL-safe base64 (JWTs and the like) is the business of rules, not this decoder.
_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Every base64 character becomes "A" and everything else a space, so runs are found with
# bytes.find (C speed) instead of a regex stepping through every byte in Python's engine.
_B64_MAP = bytes(65 if i in _B64_CHARS else 32 for i in range(256))
_MIN_RUN = 24
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = b"0123456789"


def _b64_candidates(data: bytes) -> Iterator[tuple[int, bytes]]:
    mapped = data.translate(_B64_MAP)
    needle = b"A" * _MIN_RUN
    pos = mapped.find(needle)
    while pos >= 0:
        end = mapped.find(b" ", pos)
        if end < 0:
            end = len(data)
        pad = end
        while pad < len(data) and pad - end < 2 and data[pad] == 61:  # "=" padding
            pad += 1
        yield pos, data[pos:pad]
        pos = mapped.find(needle, end)


def _printable(b: bytes) -> bool:
    if not b:
        return False
    try:
        text = b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    good = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    return good / len(text) > 0.95


def _base64_runs(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    """Base64 runs that decode to text (docker auths, K8s Secret data), and hex runs that
    do (`xxd -p` of a config): hex digits are base64 characters, so the one search over
    the blob finds both."""
    for start, run in _b64_candidates(data):
        body = run.rstrip(b"=")
        if len(body) >= _MIN_HEX and _HEX.issuperset(body[2:] if body[:2] in (b"0x", b"0X") else body):
            hexed = _hex_text(body, budget, route, start)
            if hexed is not None:
                yield hexed
            continue
        # cheap rejections first: base64 of 18+ bytes of text virtually always mixes upper
        # and lower case letters and digits; identifiers, paths and hex digests do not
        if (
            len(body) % 4 == 1
            or body.upper() == body
            or body.lower() == body
            or len(body.translate(None, _DIGITS)) == len(body)
            or _HEX.issuperset(body)
        ):
            continue
        try:
            raw = base64.b64decode(body + b"=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) < 12 or not _printable(raw) or not budget.take(len(raw)):
            continue
        yield Derived(raw, _join(route, "base64"), ((0, start),))


_MIN_HEX = 32  # 16 bytes of text: shorter hex is an id or a digest, rarely hidden text


def _hex_text(body: bytes, budget: DecodeBudget, route: str, start: int) -> Derived | None:
    """A hex run that decodes to printable text (digests and ids decode to binary junk)."""
    digits = body[2:] if body[:2] in (b"0x", b"0X") else body
    if len(digits) % 2:
        return None
    try:
        raw = bytes.fromhex(digits.decode("ascii"))
    except ValueError:
        return None
    if not _printable(raw) or not budget.take(len(raw)):
        return None
    return Derived(raw, _join(route, "hex"), ((0, start),))


# A percent escape; then the token around it on its line. Escapes are looked for first (a
# literal '%' lets the regex engine skip ahead fast); only lines holding one are tokenised.
_PCT = re.compile(rb"%[0-9A-Fa-f]{2}")
_PCT_TOKEN = re.compile(rb"[^\s\"'<>`]*%[0-9A-Fa-f]{2}[^\s\"'<>`]*")
_MIN_PCT_ESCAPES = 2


def _percent_encoded(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    """URL-encoded text (`password%3Dp%40ss`, an encoded connection string in a query): each
    token holding at least two escapes, decoded, one piece per token like JSON strings."""
    from urllib.parse import unquote_to_bytes

    pieces: list[bytes] = []
    offsets: list[tuple[int, int]] = []
    size = 0
    m = _PCT.search(data)
    while m is not None:
        start = data.rfind(b"\n", 0, m.start()) + 1
        end = data.find(b"\n", m.end())
        if end < 0:
            end = len(data)
        for t in _PCT_TOKEN.finditer(data, start, end):
            token, at = t.group(0), t.start()
            if b"://" in token:
                # a URI's own escapes are its syntax (`user:p%40ss@host`: decoded, the
                # password would end at the '@'); only its query can hold encoded text
                q = token.find(b"?")
                if q < 0:
                    continue
                token, at = token[q + 1 :], at + q + 1
            if len(token) < 16 or len(_PCT.findall(token)) < _MIN_PCT_ESCAPES:
                continue
            text = unquote_to_bytes(token)
            if not _printable(text):
                continue
            offsets.append((size, at))
            pieces.append(text)
            size += len(text) + 1
        m = _PCT.search(data, end)
    if pieces:
        out = b"\n".join(pieces)
        if budget.take(len(out)):
            yield Derived(out, _join(route, "url-encoded"), tuple(offsets))


# Terminal escapes (colours, `ESC[0K`) and the carriage returns of progress output: CI job
# logs are full of them, and `ESC[32mAPI_KEY=...` hides the start of a name from a rule that
# wants no letter before it.
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\r(?!\n)")


def _without_ansi(data: bytes, budget: DecodeBudget, route: str) -> Iterator[Derived]:
    """The lines that hold terminal escapes, without them: one piece per line, placed at
    the line's start. Only those lines are visited (CRLF line ends are not escapes)."""
    if b"\x1b" not in data and b"\r" not in data:  # most text: two memchr passes
        return
    pieces: list[bytes] = []
    offsets: list[tuple[int, int]] = []
    size = 0
    m = _ANSI_TRIGGER.search(data)
    while m is not None:
        start = data.rfind(b"\n", 0, m.start()) + 1
        end = data.find(b"\n", m.end())
        if end < 0:
            end = len(data)
        line = data[start:end]
        clean = _ANSI.sub(b"", line)
        if clean != line and clean.strip(b" \t\r"):
            offsets.append((size, start))
            pieces.append(clean.rstrip(b"\r"))
            size += len(pieces[-1]) + 1
        m = _ANSI_TRIGGER.search(data, end)
    if pieces:
        out = b"\n".join(pieces)
        if budget.take(len(out)):
            yield Derived(out, _join(route, "ansi"), tuple(offsets))


_ANSI_TRIGGER = re.compile(rb"\x1b|\r(?!\n)")
