"""One pass over a tar stream: each member's name, kind, data offset, size and git blob id.

Container layers hold tens of thousands of files. `tarfile` builds an object per member and
recomputes checksums in Python; this reader takes what a scan needs from each 512-byte
header (ustar, GNU long names, pax `path`/`size`/`linkpath` records), hashes each file's
data as it streams past, and can copy the stream to a file on the way (a compressed layer is
unpacked and listed in the same pass). It runs in a helper process (sources/image.py).

A damaged stream (bad header checksum, cut short) stops the pass: the members before the
damage are returned with the reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

BLOCK = 512
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    kind: str  # "file", "dir", "link" (hard or symbolic), "other" (devices, fifos)
    offset: int  # of the member's data in the uncompressed tar
    size: int  # bytes of data present (less than the header says if the stream was cut)
    blob_id: str | None = None  # files: git blob id of the data present
    link: str | None = None  # hard links: the member whose content this one shares


class _Damaged(Exception):
    pass


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for large values
        n = int.from_bytes(field, "big") & ((1 << (8 * len(field) - 1)) - 1)
        return n
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _Damaged("invalid number in a tar header") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0:
            break
        record = data[space + 1 : pos + length - 1]  # without the trailing newline
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


class _Reader:
    """Reads a stream exactly, counting the offset, copying to `sink` if given."""

    def __init__(self, stream: IO[bytes], sink: IO[bytes] | None) -> None:
        self.stream = stream
        self.sink = sink
        self.offset = 0

    def read(self, n: int) -> bytes:
        parts, have = [], 0
        while have < n:
            b = self.stream.read(n - have)
            if not b:
                break
            parts.append(b)
            have += len(b)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if self.sink is not None and data:
            self.sink.write(data)
        self.offset += len(data)
        return data

    def data(self, size: int, hasher: hashlib._Hash | None) -> int:
        """Pass `size` bytes of member data (hashing them); returns how many were there."""
        left = size
        while left > 0:
            b = self.read(min(left, _CHUNK))
            if not b:
                break
            if hasher is not None:
                hasher.update(b)
            left -= len(b)
        return size - left


def scan_tar(stream: IO[bytes], sink: IO[bytes] | None = None) -> tuple[list[Member], str | None]:
    """The members of a tar stream and what stopped the pass early (None: a clean end)."""
    r = _Reader(stream, sink)
    members: list[Member] = []
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    global_pax: dict[str, str] = {}
    try:
        while True:
            header = r.read(BLOCK)
            if not header:
                return members, None  # no end-of-archive blocks: tolerated, as tar does
            if len(header) < BLOCK:
                return members, "the archive ends inside a header"
            if header.count(0) == BLOCK:
                return members, None  # end of archive
            stored = _octal(header[148:156])
            if stored != sum(header) - sum(header[148:156]) + 8 * 32:
                return members, "bad header checksum"
            name = _text(header[0:100])
            if header[257:262] == b"ustar":
                prefix = _text(header[345:500])
                if prefix:
                    name = f"{prefix}/{name}"
            size = _octal(header[124:136])
            kind = header[156:157]
            if kind in (b"x", b"g", b"L", b"K"):  # metadata for the next member
                data = r.read(size)
                if len(data) < size:
                    return members, "the archive ends inside a header"
                r.read(-size % BLOCK)
                if kind == b"x":
                    pax = _pax(data)
                elif kind == b"g":
                    global_pax.update(_pax(data))
                elif kind == b"L":
                    long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                else:
                    long_link = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                continue
            attrs = {**global_pax, **pax}
            name = attrs.get("path") or long_name or name
            linkname = attrs.get("linkpath") or long_link or _text(header[157:257])
            if "size" in attrs:
                try:
                    size = int(attrs["size"])
                except ValueError:
                    return members, "invalid size in a pax header"
            pax, long_name, long_link = {}, None, None
            offset = r.offset
            if kind in (b"0", b"\0", b"7"):
                hasher = hashlib.sha1(b"blob %d\x00" % size)  # noqa: S324 - git's content id
                got = r.data(size, hasher)
                if got < size:
                    # what is there is still read (its id is computed by whoever reads it)
                    members.append(Member(name, "file", offset, got, None))
                    return members, f"the archive ends inside {name}"
                members.append(Member(name, "file", offset, size, hasher.hexdigest()))
            else:
                got = r.data(size, None) if size else 0  # directories and links carry none
                kinds = {b"5": "dir", b"1": "hardlink", b"2": "link"}
                members.append(Member(name, kinds.get(kind, "other"), offset, 0,
                                      link=linkname if kind == b"1" else None))
                if got < size:
                    return members, f"the archive ends inside {name}"
            r.read(-size % BLOCK)  # padding; a stream cut here ends at the next header read
    except _Damaged as exc:
        return members, str(exc)
