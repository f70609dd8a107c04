"""Loose git objects that libgit2 must never be asked to read.

The libgit2 that pygit2 bundles (1.9) loops forever inflating a loose object whose zlib
stream is cut short (libgit2 issue 7342, fixed after that release). A scanner meets such
repositories: interrupted writes, damaged disks, half-copied `.git` folders. So before any
object is read, every loose object's stream is checked here, in Python, where zlib says
whether the stream reached its end; when some are broken, the repository is given an object
database in which they do not exist. libgit2 then reports them as missing, which every
reader handles, instead of hanging, and GitSource reports each one by name.

Intact objects are remembered in the user cache by name and size (a loose object never
changes in place), so a rescan checks only objects it has not seen.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterator

import pygit2

from nhiguard import cache

_HEX = frozenset("0123456789abcdef")
_PIECE = 1 << 20
_LOOSE_PRIORITY, _PACKED_PRIORITY = 1, 2  # libgit2's own: packs are asked first


def objects_dir(repo: pygit2.Repository) -> str:
    """The repository's own object store: in the common git dir for a linked work tree."""
    git_dir = repo.path
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
            common = fh.read().strip()
        if common:
            git_dir = os.path.normpath(os.path.join(git_dir, common))
    except OSError:
        pass
    return os.path.join(git_dir, "objects")


def object_dirs(repo: pygit2.Repository) -> list[str]:
    """The object store and, in order, every store its alternates name (recursively, as git
    reads them, at most five deep), each once."""
    out: list[str] = []
    todo = [(objects_dir(repo), 0)]
    while todo:
        d, depth = todo.pop(0)
        real = os.path.realpath(d)
        if real in out or not os.path.isdir(real):
            continue
        out.append(real)
        if depth >= 5:
            continue
        try:
            with open(os.path.join(real, "info", "alternates"), encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for line in lines:
            alt = line.strip()
            if alt and not alt.startswith("#"):
                todo.append((alt if os.path.isabs(alt) else os.path.join(real, alt), depth + 1))
    return out


def _loose_files(objdir: str) -> Iterator[tuple[str, str, int]]:
    """(object id, file path, size) of every loose object."""
    try:
        fans = [e for e in os.scandir(objdir) if len(e.name) == 2 and set(e.name) <= _HEX]
    except OSError:
        return
    for fan in fans:
        try:
            entries = list(os.scandir(fan.path))
        except OSError:
            continue
        for e in entries:
            if len(e.name) >= 38 and set(e.name) <= _HEX:
                try:
                    yield fan.name + e.name, e.path, e.stat(follow_symlinks=False).st_size
                except OSError:
                    continue


def stream_problem(path: str) -> str | None:
    """Why libgit2 must not read the loose object at `path`, or None.

    Only a stream that ends early hangs libgit2; bytes that are not zlib at all, or a
    stream that fails its checksum, libgit2 reports itself with its own message."""
    d = zlib.decompressobj()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_PIECE):
                d.decompress(chunk, _PIECE)
                while d.unconsumed_tail and not d.eof:
                    d.decompress(d.unconsumed_tail, _PIECE)
                if d.eof:
                    break
    except zlib.error:
        return None
    except OSError as exc:
        return f"cannot read: {exc.strerror or type(exc).__name__}"
    return None if d.eof else "truncated (its zlib stream ends early)"


def broken_loose_objects(repo: pygit2.Repository) -> dict[str, str]:
    """Object id -> what is wrong, for every loose object libgit2 must not read, in the
    repository's store and in those of its alternates."""
    broken: dict[str, str] = {}
    for objdir in object_dirs(repo):
        broken.update(_broken_in(objdir))
    return broken


def _broken_in(objdir: str) -> dict[str, str]:
    name = f"git-loose/{hashlib.sha256(objdir.encode()).hexdigest()[:24]}.pickle"
    known = cache.load(name)
    known = known if isinstance(known, dict) else {}
    intact: dict[str, int] = {}
    broken: dict[str, str] = {}
    for oid, path, size in _loose_files(objdir):
        if known.get(oid) == size:
            intact[oid] = size
            continue
        problem = stream_problem(path)
        if problem is None:
            intact[oid] = size
        else:
            broken[oid] = problem
    if intact != known:
        cache.store(name, intact)
    return broken


class _LooseWithout(pygit2.OdbBackend):
    """libgit2's loose-object backend with some objects taken out."""

    def __init__(self, objdir: str, hidden: frozenset[str]) -> None:
        super().__init__()
        self._loose = pygit2.OdbBackendLoose(objdir, 0, False)
        self._hidden = hidden

    def _check(self, oid: pygit2.Oid) -> None:
        if str(oid) in self._hidden:
            raise KeyError(str(oid))

    def read_cb(self, oid):
        self._check(oid)
        return self._loose.read(oid)

    def read_header_cb(self, oid):
        self._check(oid)
        return self._loose.read_header(oid)

    def read_prefix_cb(self, oid):
        # libgit2 falls back to a prefix read after a failed read: resolve the name from the
        # file names first, so that a hidden object is never inflated on this path either
        full = self._loose.exists_prefix(oid)
        self._check(full)
        kind, data = self._loose.read(full)
        return kind, data, full

    def exists_cb(self, oid):
        return str(oid) not in self._hidden and self._loose.exists(oid)

    def exists_prefix_cb(self, oid):
        found = self._loose.exists_prefix(oid)
        self._check(found)
        return found

    def refresh_cb(self):
        self._loose.refresh()

    def __iter__(self):
        for oid in self._loose:
            if str(oid) not in self._hidden:
                yield oid


def hide(repo: pygit2.Repository, broken: dict[str, str]) -> None:
    """Give `repo` an object database without the `broken` loose objects: for its own store
    and each alternate, packs as before and loose objects through the filter."""
    hidden = frozenset(broken)
    odb = pygit2.Odb()
    # libgit2 asks backends by priority; the repository's own store comes before alternates
    for i, objdir in enumerate(object_dirs(repo)):
        base = 10 * (len(object_dirs(repo)) - i)
        odb.add_backend(pygit2.OdbBackendPack(objdir), base + _PACKED_PRIORITY)
        odb.add_backend(_LooseWithout(objdir, hidden), base + _LOOSE_PRIORITY)
    repo.set_odb(odb)
