"""Git repositories: every blob that history introduced, plus the index and the work tree.

Owns reading a repository with libgit2 (pygit2): which commits to walk (every ref, the
stash and its reflog, minus what an earlier scan already walked), what each commit
introduced (a tree diff against its first parent, so blob contents are never read here),
the staged index for pre-commit use, uncommitted work-tree files, and with
`all_objects` the object database itself (deleted branches, amended commits, dangling
blobs). Blobs are read later, in a worker process, by `GitBlobLoader`.

Why tree diffs and not `git log -p`: a blob is identified by its object id, so the
pipeline can skip a blob it already scanned without reading it; and a patch shows lines,
while a secret must be matched in the whole file (multi-line keys, pairs of parts).

Why our own tree diff (`_TreeDiffer`) and not libgit2's `diff_to_tree`: libgit2 walks
both trees in full even where a subtree is unchanged, so its cost grows with the size of
the repository, not with the change (diffs alone on a 30,000-file tree: libgit2 200
commits/s, `_TreeDiffer` 6,000). Like `git diff-tree`, it descends only into subtrees
whose id changed, and within a directory it splits only the bytes that differ.
"""

from __future__ import annotations

import os
import re
import stat
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import pygit2
from pygit2.enums import DeltaStatus, FileStatus, ObjectType, Option, ReferenceType, SortMode

from nhiguard.model import FileProvenance, GitProvenance, ScanError
from nhiguard.sources import gitguard, gitstatus
from nhiguard.sources.base import LoadError, Skipped, SourceItem, SourceOutput
from nhiguard.sources.filesystem import FileLoader, FilesystemSource

_READ_ERRORS = (KeyError, ValueError, pygit2.GitError, OSError)

_TYPE_MASK = 0o170000
_TREE = 0o040000
_GITLINK = 0o160000  # a submodule entry: a commit id of another repository, not a blob

_WORKTREE_CHANGED = (
    FileStatus.WT_NEW
    | FileStatus.WT_MODIFIED
    | FileStatus.WT_TYPECHANGE
    | FileStatus.WT_RENAMED
    | FileStatus.INDEX_NEW
    | FileStatus.INDEX_MODIFIED
    | FileStatus.INDEX_RENAMED
    | FileStatus.INDEX_TYPECHANGE
)
_INDEX_CHANGED = (
    FileStatus.INDEX_NEW
    | FileStatus.INDEX_MODIFIED
    | FileStatus.INDEX_RENAMED
    | FileStatus.INDEX_TYPECHANGE
)
_WORKTREE_DIFFERS = FileStatus.WT_MODIFIED | FileStatus.WT_DELETED | FileStatus.WT_TYPECHANGE

_libgit2_configured = False
_OWN_DIRS = frozenset({".nhiguard"})


def _configure_libgit2() -> None:
    """Process-wide libgit2 settings, applied once.

    Owner validation is turned off: we only read (libgit2 runs no hooks and no external
    filters), and scanners routinely read checkouts owned by another user (CI mounts,
    containers), which libgit2 would otherwise refuse as "not owned by current user".
    """
    global _libgit2_configured
    if _libgit2_configured:
        return
    try:
        pygit2.option(Option.SET_OWNER_VALIDATION, 0)
    except (pygit2.GitError, ValueError):  # pragma: no cover - older libgit2
        pass
    # Every blob is read once, so libgit2's object cache only costs memory, and its default
    # pack mapping (8 GB of windows) makes resident memory grow with the repository size.
    try:
        pygit2.settings.cache_max_size(32 * 1024 * 1024)
        pygit2.settings.mwindow_size = 32 * 1024 * 1024
        pygit2.settings.mwindow_mapped_limit = 128 * 1024 * 1024
    except (AttributeError, ValueError, pygit2.GitError):  # pragma: no cover - older pygit2
        pass
    _libgit2_configured = True


def _open_repository(path: str) -> pygit2.Repository:
    """Open exactly `path` (work tree, `.git` folder or bare repository); never search upward."""
    _configure_libgit2()
    return pygit2.Repository(path, pygit2.enums.RepositoryOpenFlag.NO_SEARCH)


def is_git_repository(target: str) -> bool:
    """True when `target` is a work tree root, its `.git` folder, or a bare repository."""
    if not os.path.isdir(target):
        return False
    try:
        _open_repository(target)
    except _READ_ERRORS:
        return False
    return True


def looks_like_git(target: str) -> bool:
    """A work tree (holding `.git`), a `.git` folder or a bare repository, by its layout
    alone: what should be scanned as a repository even when libgit2 cannot open it."""
    if not os.path.isdir(target):
        return False
    if os.path.exists(os.path.join(target, ".git")):
        return True
    return all(os.path.exists(os.path.join(target, n)) for n in ("HEAD", "objects", "refs"))


def open_problem(target: str) -> str:
    """Why libgit2 cannot open the repository at `target`."""
    try:
        _open_repository(target)
    except _READ_ERRORS as exc:
        return _reason(exc)
    return "unknown error"


def _name_of(ref: Any) -> str | None:
    try:
        return ref.name
    except _READ_ERRORS:
        return None


def _key_of(repo: pygit2.Repository) -> str:
    return os.path.realpath(repo.path.rstrip("/\\"))


def repository_key(target: str) -> str:
    """The stable key of the repository at `target`: the resolved path of its git dir.

    The same value as `GitSource(target).repo_key`, for looking up `seen_commits` first.
    """
    try:
        return _key_of(_open_repository(target))
    except _READ_ERRORS as exc:
        raise ValueError(f"{target}: not a git repository ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# --- blob loading (runs in worker processes) ---------------------------------------------

_REPO_CACHE: OrderedDict[str, pygit2.Repository] = OrderedDict()
_REPO_CACHE_PID = os.getpid()
_REPO_CACHE_SIZE = 16  # open repositories kept per process (each holds pack maps and fds)


def _cached_repository(path: str) -> pygit2.Repository:
    """An open Repository per process, so loading thousands of blobs opens it once.

    Keyed by process id too: a handle inherited through fork() is not reused, because
    libgit2 state (pack windows, file offsets) is not meant to be shared across processes.
    """
    global _REPO_CACHE_PID
    if _REPO_CACHE_PID != os.getpid():
        _REPO_CACHE.clear()
        _REPO_CACHE_PID = os.getpid()
    repo = _REPO_CACHE.get(path)
    if repo is None:
        repo = _open_repository(path)
        _REPO_CACHE[path] = repo
        while len(_REPO_CACHE) > _REPO_CACHE_SIZE:
            _REPO_CACHE.popitem(last=False)
    else:
        _REPO_CACHE.move_to_end(path)
    return repo


@dataclass(frozen=True, slots=True)
class GitBlobLoader:
    """Reads one blob from a repository's object database (loose or packed)."""

    repo_path: str  # the git dir (GitSource.repo_key), opened without searching
    oid: str  # blob id, hex
    max_size: int

    def load(self) -> bytes:
        try:
            repo = _cached_repository(self.repo_path)
        except _READ_ERRORS as exc:
            raise LoadError(f"cannot open git repository: {_reason(exc)}") from None
        try:
            oid = pygit2.Oid(hex=self.oid)
            kind, size = repo.odb.read_header(oid)
            if kind != ObjectType.BLOB:
                raise LoadError(f"git object {self.oid} is not a blob")
            if size > self.max_size:
                raise Skipped(f"larger than --max-file-size ({size} > {self.max_size} bytes)")
            kind, data = repo.odb.read(oid)
        except (LoadError, Skipped):
            raise
        except KeyError:
            raise LoadError(f"git object {self.oid} is missing") from None
        except _READ_ERRORS as exc:
            raise LoadError(f"cannot read git object {self.oid}: {_reason(exc)}") from None
        return bytes(data)


# --- tree diffs ---------------------------------------------------------------------------

# One tree entry as stored: "<octal mode> <name>\0<20-byte id>". Matched back to back, so
# the entries' lengths add up to the object's length exactly when the tree is well formed.
_ENTRY = re.compile(rb"[0-7]+ [^\0]*\0.{20}", re.S)


def _split(entry: bytes) -> tuple[int, bytes, bytes]:
    space = entry.index(b" ")
    return int(entry[:space], 8), entry[space + 1 : -21], entry[-20:]


def _parse(raw: bytes, start: int = 0, end: int | None = None) -> list[bytes] | None:
    """The entries of raw[start:end], or None when they do not tile it exactly."""
    end = len(raw) if end is None else end
    found = _ENTRY.findall(raw, start, end)
    return found if sum(map(len, found)) == end - start else None


def _parse_all(raw: bytes, tree_id: bytes) -> list[bytes]:
    entries = _parse(raw)
    if entries is None:
        raise ValueError(f"tree {tree_id.hex()} is malformed")
    return entries


_SMALL_TREE = 2048  # bytes (about 50 entries): below this, bisecting costs more than it saves


def _common_prefix(a: bytes, b: bytes, limit: int) -> int:
    """Length of the common prefix of a and b, at most `limit` (bisection over memcmp)."""
    lo, hi = 0, limit
    if a[:hi] == b[:hi]:
        return hi
    while hi - lo > 32:  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    while lo < hi and a[lo] == b[lo]:
        lo += 1
    return lo


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """Length of the common suffix of a and b, at most `limit`."""
    la, lb = len(a), len(b)
    lo, hi = 0, limit
    if a[la - hi :] == b[lb - hi :]:
        return hi
    while hi - lo > 32:
        mid = (lo + hi) // 2
        if a[la - mid : la - lo] == b[lb - mid : lb - lo]:
            lo = mid
        else:
            hi = mid
    while lo < hi and a[la - lo - 1] == b[lb - lo - 1]:
        lo += 1
    return lo


class _Tree:
    """A tree object: its raw bytes and its entries in stored order."""

    __slots__ = ("raw", "entries", "_ends")

    def __init__(self, raw: bytes, entries: list[bytes]) -> None:
        self.raw = raw
        self.entries = entries
        self._ends: list[int] | None = None

    @property
    def ends(self) -> list[int]:
        """Offset just past each entry."""
        if self._ends is None:
            self._ends = list(accumulate(map(len, self.entries)))
        return self._ends


class _TreeDiffer:
    """What one tree adds over another, descending only into subtrees that changed.

    Trees are read raw from the object database. Two versions of a directory are mostly
    identical bytes, so the changed middle is found with byte comparisons (common prefix
    and suffix, snapped to entry boundaries of the already parsed version) and only that
    middle is split into entries; a 1,000-entry directory with one changed file costs
    a few memcmp calls, not 1,000 Python objects. Parsed trees stay in a bounded cache:
    walking history child to parent, a commit's trees are the next commit's parent trees.
    """

    def __init__(self, odb: pygit2.Odb, budget: int = 32 << 20) -> None:
        self._odb = odb
        self._cache: OrderedDict[bytes, _Tree] = OrderedDict()
        self._cached_bytes = 0
        self._budget = budget  # raw tree bytes kept (entries take about as much again)

    def _read(self, tree_id: bytes) -> bytes:
        kind, raw = self._odb.read(pygit2.Oid(raw=tree_id))
        if kind != ObjectType.TREE:
            raise ValueError(f"object {tree_id.hex()} is not a tree")
        return raw

    def _remember(self, tree_id: bytes, tree: _Tree) -> _Tree:
        self._cache[tree_id] = tree
        self._cached_bytes += len(tree.raw)
        while self._cached_bytes > self._budget and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped.raw)
        return tree

    def tree(self, tree_id: bytes) -> _Tree:
        hit = self._cache.get(tree_id)
        if hit is not None:
            self._cache.move_to_end(tree_id)
            return hit
        raw = self._read(tree_id)
        return self._remember(tree_id, _Tree(raw, _parse_all(raw, tree_id)))

    def _derive(self, ref: _Tree, tree_id: bytes) -> tuple[_Tree, int, int, int, int]:
        """Tree `tree_id`, parsed with the help of `ref`, another version of the directory.

        Returns (tree, i, j, mi, mj): ref.entries[i:j] and tree.entries[mi:mj] are the
        middles that may differ; the entries before and after them are the same in both.
        """
        hit = self._cache.get(tree_id)
        raw = hit.raw if hit is not None else self._read(tree_id)
        a, la, lb, n = ref.raw, len(ref.raw), len(raw), len(ref.entries)
        if la < _SMALL_TREE and lb < _SMALL_TREE:  # cheaper to split whole than to bisect
            tree = (
                hit
                if hit is not None
                else self._remember(tree_id, _Tree(raw, _parse_all(raw, tree_id)))
            )
            return tree, 0, n, 0, len(tree.entries)
        shortest = min(la, lb)
        p = _common_prefix(a, raw, shortest)
        s = _common_suffix(a, raw, shortest - p)
        ends = ref.ends
        # ref.entries[:i] end inside the common prefix, so `start` is an entry boundary in
        # both versions; ref.entries[j:] start inside the common suffix.
        i = bisect_right(ends, p)
        start = ends[i - 1] if i else 0
        j = min(n, max(i, bisect_left(ends, la - s) + 1)) if s else n
        tail = la - (ends[j - 1] if j else 0)
        middle = _parse(raw, start, lb - tail)
        if hit is not None:
            self._cache.move_to_end(tree_id)
        if middle is None:
            # The common suffix did not begin on an entry boundary of this version (it can
            # start inside an entry): compare the whole directories instead.
            tree = (
                hit
                if hit is not None
                else self._remember(tree_id, _Tree(raw, _parse_all(raw, tree_id)))
            )
            return tree, 0, n, 0, len(tree.entries)
        if hit is None:
            hit = self._remember(tree_id, _Tree(raw, ref.entries[:i] + middle + ref.entries[j:]))
            # Its entry offsets too, from ref's: a changed blob id keeps an entry's length,
            # so the offsets after the middle usually need no shift at all.
            middle_ends = [start + end for end in accumulate(map(len, middle))]
            shift = (middle_ends[-1] if middle else start) - (ends[j - 1] if j else 0)
            after = ends[j:] if shift == 0 else [end + shift for end in ends[j:]]
            hit._ends = ends[:i] + middle_ends + after
        return hit, i, j, i, i + len(middle)

    def _changes(self, old_id: bytes | None, new_id: bytes) -> tuple[list[bytes], list[bytes]]:
        """(entries only in new, entries only in old) of two versions of a directory.

        An unreadable old side counts as empty (more is reported, nothing is missed; its
        error belongs to the commit that introduced it). An unreadable new side raises.
        """
        if old_id is None:
            return self.tree(new_id).entries, []
        if old_id == new_id:
            return [], []
        if new_id in self._cache and old_id not in self._cache:
            new = self.tree(new_id)  # usual when walking child to parent: derive the parent
            try:
                old, i, j, mi, mj = self._derive(new, old_id)
            except _READ_ERRORS:
                return new.entries, []
            new_mid, old_mid = new.entries[i:j], old.entries[mi:mj]
        else:
            try:
                old = self.tree(old_id)
            except _READ_ERRORS:
                return self.tree(new_id).entries, []
            new, i, j, mi, mj = self._derive(old, new_id)
            old_mid, new_mid = old.entries[i:j], new.entries[mi:mj]
        if len(old_mid) < 8 and len(new_mid) < 8:
            return [e for e in new_mid if e not in old_mid], [
                e for e in old_mid if e not in new_mid
            ]
        old_set, new_set = set(old_mid), set(new_mid)
        return [e for e in new_mid if e not in old_set], [e for e in old_mid if e not in new_set]

    def added(
        self, old: bytes | None, new: bytes
    ) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, str]]]:
        """(path, blob id) of blobs in tree `new` not at the same path in tree `old`, by
        path; and (directory path, reason) for subtrees of `new` that could not be read.

        Submodule entries are left out; a change of file mode alone is not an addition.
        """
        out: list[tuple[bytes, bytes]] = []
        errors: list[tuple[bytes, str]] = []
        stack: list[tuple[bytes | None, bytes, bytes]] = [(old, new, b"")]
        while stack:
            old_id, new_id, prefix = stack.pop()
            try:
                fresh, gone = self._changes(old_id, new_id)
            except _READ_ERRORS as exc:
                errors.append((prefix, _reason(exc)))
                continue
            if not fresh:
                continue
            removed: dict[bytes, tuple[int, bytes]] = {}
            for entry in gone:
                mode, name, oid = _split(entry)
                removed[name] = (mode, oid)
            for entry in fresh:
                mode, name, oid = _split(entry)
                kind = mode & _TYPE_MASK
                before = removed.get(name)
                if kind == _TREE:
                    was_tree = before is not None and before[0] & _TYPE_MASK == _TREE
                    stack.append((before[1] if was_tree else None, oid, prefix + name + b"/"))  # type: ignore[index]
                elif kind != _GITLINK:
                    if before is not None and before[1] == oid:
                        continue  # only the mode changed
                    out.append((prefix + name, oid))
        out.sort()
        return out, errors


# --- the source -------------------------------------------------------------------------


@dataclass(slots=True)
class _CommitInfo:
    hex: str
    author: str | None
    author_email: str | None
    date: str | None
    summary: str | None


def _decode(raw: bytes, encoding: str | None) -> str:
    try:
        return raw.decode(encoding or "utf-8", "replace")
    except LookupError:  # an unknown encoding header
        return raw.decode("utf-8", "replace")


def _path(raw: bytes) -> str:
    # Like os.fsdecode, so git paths and file paths of the same name compare equal.
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class _Signature:
    raw_name: bytes
    raw_email: bytes
    time: int


@dataclass(frozen=True)
class _RawCommit:
    """A commit parsed from its raw object, where libgit2's parser refuses it: the fields
    the walk needs (tree, parents, author, message), read as leniently as git reads them."""

    id: pygit2.Oid
    tree_id: pygit2.Oid
    parent_ids: list[pygit2.Oid]
    raw_author: bytes
    raw_message: bytes
    message_encoding: str | None = None

    @classmethod
    def read(cls, repo: pygit2.Repository, oid: pygit2.Oid) -> _RawCommit:
        kind, raw = repo.odb.read(oid)
        head, _, message = bytes(raw).partition(b"\n\n")
        fields: dict[bytes, list[bytes]] = {}
        for line in head.split(b"\n"):
            key, _, value = line.partition(b" ")
            fields.setdefault(key, []).append(value)
        if kind != ObjectType.COMMIT or len(fields.get(b"tree", ())) != 1:
            raise ValueError(f"object {oid} is not a readable commit")
        try:
            return cls(oid, pygit2.Oid(hex=fields[b"tree"][0].decode("ascii")),
                       [pygit2.Oid(hex=p.decode("ascii")) for p in fields.get(b"parent", [])],
                       (fields.get(b"author") or [b""])[0], message,
                       (fields.get(b"encoding") or [b""])[0].decode("ascii", "replace") or None)
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"object {oid} is not a readable commit") from None

    @property
    def author(self) -> _Signature:
        # "Name <email> 1700000000 +0000", where name or email may be missing
        m = re.fullmatch(rb"(.*?)\s*(?:<([^>]*)>)?\s*(\d+)\s+[-+]\d{4}", self.raw_author.strip())
        if m is None:
            raise ValueError("malformed author line")
        return _Signature(m.group(1), m.group(2) or b"", int(m.group(3)))


def _commit_info(commit: pygit2.Commit) -> _CommitInfo:
    enc = commit.message_encoding
    name = email = date = None
    try:
        author = commit.author
        name, email = _decode(author.raw_name, enc), _decode(author.raw_email, enc)
        date = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*time.gmtime(author.time)[:6])
    except (ValueError, OverflowError, OSError, pygit2.GitError):
        pass  # a malformed signature: keep the commit, without who and when
    message = _decode(commit.raw_message, enc).strip()
    return _CommitInfo(str(commit.id), name, email, date, message.split("\n", 1)[0].strip())


class GitSource:
    """History (and optionally the work tree, the index, or every object) of one repository.

    `walked_commits` is filled as `items()` runs: the commits walked this time, which the
    caller records so the next scan passes them back as `seen_commits`. Record it only
    for scans without `since`: a `since` walk leaves older commits unwalked, and hiding the
    walked ones next time would hide those older ones too.
    """

    def __init__(
        self,
        target: str,
        *,
        all_objects: bool = False,
        since: str | None = None,
        staged: bool = False,
        seen_commits: frozenset[str] = frozenset(),
        include_worktree: bool = True,
        max_file_size: int = 50 * 1024 * 1024,
        push: list[tuple[str, str]] | None = None,
    ) -> None:
        self.target = target
        self.all_objects = all_objects
        self.since = since
        # pre-push: (local commit, remote commit or None) pairs; only the commits being
        # pushed are walked
        self.push = push
        self.staged = staged
        self.seen_commits = seen_commits
        self.include_worktree = include_worktree
        self.max_file_size = max_file_size
        self.walked_commits: list[str] = []
        self.ref_tips: dict[str, str] = {}  # ref name -> commit id, once items() has run
        try:
            self._repo = _open_repository(target)
        except _READ_ERRORS as exc:
            raise ValueError(f"{target}: not a git repository ({_reason(exc)})") from None
        self.repo_key = _key_of(self._repo)
        # before anything reads an object: libgit2 hangs on some broken loose objects
        self.broken = gitguard.broken_loose_objects(self._repo)
        if self.broken:
            gitguard.hide(self._repo, self.broken)
        if staged and self._repo.is_bare:
            raise ValueError(f"{target}: --staged needs a work tree, and this repository is bare")
        self._since_oid: pygit2.Oid | None = None
        if since is not None:
            try:
                self._since_oid = self._repo.revparse_single(since).peel(pygit2.Commit).id
            except _READ_ERRORS as exc:
                raise ValueError(
                    f"--since {since!r}: not a commit, branch or tag in {target} ({_reason(exc)})"
                ) from None
        self._trees = _TreeDiffer(self._repo.odb)
        self._commits: dict[pygit2.Oid, pygit2.Commit] = {}

    # -- public ---------------------------------------------------------------------------

    def items(self) -> Iterator[SourceOutput]:
        for oid, problem in sorted(self.broken.items()):
            yield ScanError(f"{self.target}@{oid}", f"corrupt loose git object {oid}: {problem}")
        for item in self._items():
            if isinstance(item, SourceItem) and item.blob_id in self.broken:
                # hidden from libgit2 here, but a worker opening the repository would read it
                yield ScanError(getattr(item.provenance, "path", None) or self.target,
                                f"corrupt loose git object {item.blob_id}")
                continue
            yield item

    def lost_history(self, old_tips: dict[str, str], now_tips: dict[str, str] | None = None) -> bool:
        """Whether commits reachable from `old_tips` (an earlier walk's refs) may no longer
        be reachable now: a ref deleted, or moved anywhere but forward. New commits alone
        (fast-forwards, new refs) lose nothing. `now_tips` are this walk's refs under the
        same naming as `old_tips` (ref_tips by default). Call after items()."""
        tips = self.ref_tips if now_tips is None else now_tips
        now = set(tips.values())
        for name, old in old_tips.items():
            new = tips.get(name)
            if new == old or old in now:
                continue
            if new is None:
                return True
            try:
                if not self._repo.descendant_of(pygit2.Oid(hex=new), pygit2.Oid(hex=old)):
                    return True
            except (*_READ_ERRORS, TypeError):
                return True
        return False

    def reachable_commits(self) -> set[str] | None:
        """Every commit reachable from the refs (the commit graph only, no trees); None when
        a broken commit stops the walk, so the caller cannot tell what is unreachable."""
        out: set[str] = set()
        tips = [pygit2.Oid(hex=h) for h in dict.fromkeys(self.ref_tips.values())]
        if not tips:
            return out
        try:
            walker = self._repo.walk(tips[0], SortMode.NONE)
            for t in tips[1:]:
                walker.push(t)
            for commit in walker:
                out.add(str(commit.id))
        except _READ_ERRORS:
            return None
        return out

    def _items(self) -> Iterator[SourceOutput]:
        self.walked_commits = []
        self.ref_tips = {}
        if self.staged:
            yield from self._staged_items()
            return
        # Blob ids (raw) reachable from refs; only kept for all_objects, where they decide
        # what counts as unreachable (a set of every blob of a large history is big).
        reachable_blobs: set[bytes] | None = set() if self.all_objects else None
        walked: set[str] = set()  # the same, as a set; only kept for all_objects
        tips, tag_objects, errors = self._tips()
        yield from errors
        hides: list[pygit2.Oid] | None = [self._since_oid] if self._since_oid is not None else None
        walk_tips = tips
        if self.push is not None:
            tips, hides = self._push_range(tips)
            walk_tips = tips
            tag_objects = []
        elif self._since_oid is not None:
            # REF..HEAD, like a pull request's diff: what HEAD has that REF has not. Other
            # branches are not part of it (they stay reachable for --all-objects).
            walk_tips, head_errors = self._head_tip()
            yield from head_errors
        for commit in self._walk(walk_tips, self.seen_commits, hides):
            if isinstance(commit, ScanError):
                yield commit
                continue
            hex_id = str(commit.id)
            if reachable_blobs is not None:
                walked.add(hex_id)
            self.walked_commits.append(hex_id)
            yield from self._commit_items(commit, reachable_blobs, reachable=True)
        if self._since_oid is None and self.push is None:
            yield from self._tag_object_items(tag_objects, reachable_blobs)
        if reachable_blobs is not None:
            yield from self._unreachable_items(tips, tag_objects, walked, reachable_blobs)
        if self.include_worktree and not self._repo.is_bare and self.push is None:
            yield from self._worktree_items()

    def _head_tip(self) -> tuple[dict[pygit2.Oid, str], list[ScanError]]:
        """The commit HEAD names (detached or on a branch), or why there is none."""
        try:
            if not self._repo.head_is_unborn:
                return {self._repo.head.peel(pygit2.Commit).id: "HEAD"}, []
            reason = "HEAD names a branch with no commit"
        except _READ_ERRORS as exc:
            reason = f"cannot read HEAD: {_reason(exc)}"
        return {}, [ScanError(f"{self.target}@HEAD", f"--since {self.since}: {reason}; "
                              "no commit was scanned (--since scans REF..HEAD)")]

    def _push_range(self, _refs: dict[pygit2.Oid, str]) -> tuple[dict[pygit2.Oid, str], list[pygit2.Oid]]:
        """The commits a push sends: from the pushed commits, hiding what the remote has
        (the remote's commit; for a new branch, every remote-tracking ref)."""
        tips: dict[pygit2.Oid, str] = {}
        hides: list[pygit2.Oid] = []
        assert self.push is not None
        remote_refs = []
        for name in self._repo.references:
            if name.startswith("refs/remotes/"):
                try:
                    remote_refs.append(self._repo.revparse_single(name).peel(pygit2.Commit).id)
                except _READ_ERRORS:
                    continue
        for local, remote in self.push:
            if local == "HEAD" and not remote and self._repo.head_is_unborn:
                continue  # the fallback push (HEAD --not --remotes) of a repository with no commit
            try:
                tips[self._repo.revparse_single(local).peel(pygit2.Commit).id] = "pushed"
            except _READ_ERRORS as exc:
                raise ValueError(f"--pre-push: {local!r} is not a commit here ({_reason(exc)})") from None
            try:
                hides.append(self._repo.revparse_single(remote).peel(pygit2.Commit).id if remote
                              else None)  # type: ignore[arg-type]
            except _READ_ERRORS:
                hides.append(None)  # type: ignore[arg-type]
            if hides[-1] is None:  # a new branch, or a remote commit fetched by nobody here
                hides.pop()
                hides.extend(remote_refs)
        return tips, list(dict.fromkeys(hides))

    # -- refs -----------------------------------------------------------------------------

    def _tips(
        self,
    ) -> tuple[dict[pygit2.Oid, str], list[tuple[str, pygit2.Object]], list[ScanError]]:
        """Commits named by every ref (tags peeled), by HEAD, and by the stash's reflog.

        Returns (commit id -> a name for it, trees and blobs named by refs, errors).
        """
        repo = self._repo
        tips: dict[pygit2.Oid, str] = {}
        others: list[tuple[str, pygit2.Object]] = []
        errors: list[ScanError] = []

        def add(name: str, oid: pygit2.Oid) -> None:
            try:
                obj: Any = repo[oid]
                if obj.type == ObjectType.TAG:
                    obj = obj.peel(None)  # through chains of annotated tags
            except _READ_ERRORS as exc:
                try:  # a commit only libgit2's parser refuses (see _RawCommit)
                    obj = _RawCommit.read(repo, oid)
                except _READ_ERRORS:
                    errors.append(ScanError(f"{self.target}@{name}", f"bad ref: {_reason(exc)}"))
                    return
                tips.setdefault(oid, name)
                self.ref_tips[name] = str(oid)
                return
            if obj.type == ObjectType.COMMIT:
                tips.setdefault(obj.id, name)
                self.ref_tips[name] = str(obj.id)
            elif obj.type in (ObjectType.TREE, ObjectType.BLOB):
                others.append((name, obj))

        try:
            refs = list(repo.references.iterator())
        except _READ_ERRORS as exc:
            errors.append(ScanError(f"{self.target}@refs", f"cannot list refs: {_reason(exc)}"))
            refs = []
        for ref in refs:
            try:
                if ref.type == ReferenceType.SYMBOLIC:
                    continue  # its target is listed on its own
                name, oid = ref.name, ref.target
            except _READ_ERRORS as exc:
                errors.append(ScanError(f"{self.target}@refs", f"bad ref: {_reason(exc)}"))
                continue
            add(name, oid)  # type: ignore[arg-type]
        if not errors or refs:  # when the refs could not be listed at all, that was said
            errors.extend(self._broken_loose_refs({n for n in map(_name_of, refs) if n}))
        try:
            if not repo.head_is_unborn:
                add("HEAD", repo.head.target)  # type: ignore[arg-type]  # detached: on no branch
        except _READ_ERRORS:
            pass  # HEAD naming a branch that does not exist yet: an empty repository
        # Older stashes (stash@{1}, ...) exist only in the stash's reflog.
        try:
            stash = repo.references.get("refs/stash")
            entries = list(stash.log()) if stash is not None else []
        except _READ_ERRORS:
            entries = []
        for i, entry in enumerate(entries):
            if any(entry.oid_new.raw):
                add(f"stash@{{{i}}}", entry.oid_new)
        return tips, others, errors

    def _broken_loose_refs(self, listed: set[str]) -> list[ScanError]:
        """Ref files libgit2 skips without a word (empty after a crash, or garbage): each is
        a branch or tag whose history this scan cannot see, so it is reported."""
        refs_dir = os.path.join(os.path.dirname(gitguard.objects_dir(self._repo)), "refs")
        out = []
        for d, _, names in os.walk(refs_dir):
            for n in names:
                path = os.path.join(d, n)
                name = "refs/" + os.path.relpath(path, refs_dir).replace(os.sep, "/")
                if name in listed or name.endswith(".lock"):
                    continue
                try:
                    with open(path, "rb") as fh:
                        text = fh.read(200).strip()
                except OSError as exc:
                    out.append(ScanError(f"{self.target}@{name}", f"unreadable ref: {exc.strerror}"))
                    continue
                if not re.fullmatch(rb"[0-9a-f]{40}([0-9a-f]{24})?|ref: \S+", text):
                    out.append(ScanError(f"{self.target}@{name}",
                                         "broken ref (empty or not an object id); its history was not scanned"))
        return out

    # -- history walk ---------------------------------------------------------------------

    def _commit(self, oid: pygit2.Oid, *, keep: bool = True) -> pygit2.Commit:
        """A commit, looked up once: a child's diff reads its parent, which the depth-first
        walk visits next."""
        commit = self._commits.pop(oid, None)
        if commit is None:
            try:
                obj = self._repo[oid]
            except pygit2.GitError:
                # libgit2 refuses commits git itself reads (an author with no e-mail, from
                # old imports); refusing would hide every commit before it
                obj = _RawCommit.read(self._repo, oid)
            if not isinstance(obj, pygit2.Commit | _RawCommit):
                raise ValueError(f"object {oid} is not a commit")
            commit = obj
        if keep:
            if len(self._commits) >= 256:
                self._commits.clear()
            self._commits[oid] = commit
        return commit

    def _walk(
        self,
        tips: Iterable[pygit2.Oid],
        seen: frozenset[str] = frozenset(),
        hides: list[pygit2.Oid] | None = None,
    ) -> Iterator[pygit2.Commit | ScanError]:
        """Every commit reachable from `tips`, once, child before parent, except commits in
        `seen`, their ancestors, and ancestors of `hides` (when given, even empty).

        A depth-first walk that stops at seen commits rather than libgit2's walker with
        hide(): hiding tens of thousands of commits makes libgit2 quadratic (a 30,000-commit
        history with one new commit took 10 s; stopping takes milliseconds). Stopping
        equals hiding when `seen` holds every commit earlier full scans walked, which is
        closed under "parent of". A broken commit (missing or corrupt) is reported and the
        walk goes on with everything reachable another way.
        """
        stop: set[pygit2.Oid] = set()
        for hex_id in seen:
            try:
                stop.add(pygit2.Oid(hex=hex_id))
            except ValueError:
                continue
        allowed: set[pygit2.Oid] | None = None
        if hides is not None:
            allowed = self._range(tips, hides, stop)
        visited: set[pygit2.Oid] = set()
        stack = list(tips)
        stack.reverse()
        while stack:
            oid = stack.pop()
            if oid in visited or oid in stop or (allowed is not None and oid not in allowed):
                continue
            visited.add(oid)
            try:
                commit = self._commit(oid, keep=False)
                parents = commit.parent_ids
            except _READ_ERRORS as exc:
                yield ScanError(f"{self.target}@{oid}", f"cannot read commit: {_reason(exc)}")
                continue
            yield commit
            stack.extend(reversed(parents))  # first parent next: its trees are still cached

    def _range(
        self, tips: Iterable[pygit2.Oid], hides: list[pygit2.Oid], stop: set[pygit2.Oid]
    ) -> set[pygit2.Oid] | None:
        """Commits reachable from `tips` and not from any of `hides` (libgit2 hides a few
        commits efficiently). If a broken commit stops libgit2, returns None after adding
        every readable ancestor of `hides` to `stop` instead."""
        try:
            walker = self._repo.walk(None, SortMode.NONE)
            for oid in tips:
                walker.push(oid)
            for oid in hides:
                walker.hide(oid)
            return {commit.id for commit in walker}
        except _READ_ERRORS:
            pass
        todo = list(hides)
        while todo:
            oid = todo.pop()
            if oid in stop:
                continue
            try:
                obj = self._repo[oid]
            except _READ_ERRORS:
                continue
            if not isinstance(obj, pygit2.Commit):
                continue
            parents = obj.parent_ids
            stop.add(oid)
            todo.extend(parents)
        return None

    # -- what a commit introduced ---------------------------------------------------------

    def _introduced(
        self, commit: pygit2.Commit
    ) -> tuple[list[tuple[bytes, bytes]], list[ScanError]]:
        """(path, raw blob id) of each blob the commit added or changed against its first
        parent (the empty tree for a root commit), and what could not be read.

        A merge keeps only what differs from every parent at that path (git's combined
        diff): blobs brought in from the other branch were introduced by that branch's own
        commits, which the walk reports.
        """
        repo = self._repo
        where = f"{self.target}@{commit.id}"
        errors: list[ScanError] = []
        parent_ids = commit.parent_ids
        base: bytes | None = None
        if parent_ids:
            try:
                base = self._commit(parent_ids[0]).tree_id.raw
            except _READ_ERRORS as exc:
                # Then the whole tree counts as introduced here: more than the truth, but
                # nothing is missed.
                errors.append(ScanError(where, f"cannot read the first parent: {_reason(exc)}"))
        try:
            tree_id = commit.tree_id
        except _READ_ERRORS as exc:
            errors.append(ScanError(where, f"cannot read the commit's tree: {_reason(exc)}"))
            return [], errors
        added, broken = self._trees.added(base, tree_id.raw)
        for path, reason in broken:
            shown = _path(path) or "/"
            errors.append(ScanError(where, f"cannot read tree {shown}: {reason}"))
        if added and len(parent_ids) > 1:
            others = []
            for pid in parent_ids[1:]:
                try:
                    others.append(repo[self._commit(pid, keep=False).tree_id])
                except _READ_ERRORS:
                    pass  # then the merge counts the path as its own introduction
            if others:
                added = [a for a in added if not any(_has_blob(t, *a) for t in others)]
        return added, errors

    def _commit_items(
        self,
        commit: pygit2.Commit,
        reachable_blobs: set[bytes] | None,
        *,
        reachable: bool,
        skip: set[bytes] | None = None,
    ) -> Iterator[SourceOutput]:
        added, errors = self._introduced(commit)
        yield from errors
        info: _CommitInfo | None = None
        for path, raw in added:
            if skip is not None and raw in skip:
                continue
            if reachable_blobs is not None:
                reachable_blobs.add(raw)
            if info is None:
                info = _commit_info(commit)
            hex_id = raw.hex()
            yield SourceItem(
                provenance=GitProvenance(
                    repo=self.target,
                    path=_path(path),
                    commit=info.hex,
                    author=info.author,
                    author_email=info.author_email,
                    date=info.date,
                    summary=info.summary,
                    reachable=reachable,
                ),
                loader=GitBlobLoader(self.repo_key, hex_id, self.max_file_size),
                blob_id=hex_id,
                size=self._size(raw),
            )

    def _size(self, raw: bytes) -> int | None:
        try:
            return self._repo.odb.read_header(pygit2.Oid(raw=raw))[1]
        except _READ_ERRORS:
            return None  # a broken object: its loader reports the error, with its location

    def _tag_object_items(
        self, objects: list[tuple[str, pygit2.Object]], reachable_blobs: set[bytes] | None
    ) -> Iterator[SourceOutput]:
        """Trees and blobs that a ref names directly (linux has a tag of a tree)."""
        for name, obj in objects:
            if obj.type == ObjectType.BLOB:
                entries: list[tuple[bytes | None, bytes]] = [(None, obj.id.raw)]
            else:
                added, broken = self._trees.added(None, obj.id.raw)
                for path, reason in broken:
                    yield ScanError(
                        f"{self.target}@{name}", f"cannot read tree {_path(path) or '/'}: {reason}"
                    )
                entries = list(added)  # type: ignore[arg-type]
            for entry_path, raw in entries:
                if reachable_blobs is not None:
                    reachable_blobs.add(raw)
                hex_id = raw.hex()
                yield SourceItem(
                    provenance=GitProvenance(
                        repo=self.target,
                        path=None if entry_path is None else _path(entry_path),
                        commit=None,
                        ref=name,
                    ),
                    loader=GitBlobLoader(self.repo_key, hex_id, self.max_file_size),
                    blob_id=hex_id,
                    size=self._size(raw),
                )

    # -- --all-objects --------------------------------------------------------------------

    def _unreachable_items(
        self,
        tips: dict[pygit2.Oid, str],
        tag_objects: list[tuple[str, pygit2.Object]],
        walked: set[str],
        reachable_blobs: set[bytes],
    ) -> Iterator[SourceOutput]:
        """Objects no ref reaches: commits of deleted branches, amended commits, lone blobs.

        Unreachable commits are shown with their commit and path (each against its first
        parent, like history); any other blob that no ref reaches is yielded without a path.
        """
        repo = self._repo
        odb_commits: list[pygit2.Oid] = []
        odb_blobs: list[tuple[pygit2.Oid, int]] = []
        try:
            oids = list(repo.odb)
        except _READ_ERRORS as exc:
            yield ScanError(
                f"{self.target}@objects", f"cannot list the object database: {_reason(exc)}"
            )
            oids = []
        for oid in oids:
            try:
                kind, size = repo.odb.read_header(oid)
            except _READ_ERRORS as exc:
                yield ScanError(f"{self.target}@{oid}", f"cannot read object: {_reason(exc)}")
                continue
            if kind == ObjectType.COMMIT:
                odb_commits.append(oid)
            elif kind == ObjectType.BLOB:
                odb_blobs.append((oid, size))

        # History hidden from this walk (seen_commits, since) is still reachable: collect
        # its blobs so they are not reported as unreachable.
        reachable_commits = set(walked)
        if self.seen_commits or self._since_oid is not None:
            for commit in self._walk(tips):
                if isinstance(commit, ScanError):
                    continue  # the main walk reported it
                hex_id = str(commit.id)
                reachable_commits.add(hex_id)
                if hex_id not in walked:
                    reachable_blobs.update(raw for _, raw in self._introduced(commit)[0])
            for _name, obj in tag_objects:
                if obj.type == ObjectType.BLOB:
                    reachable_blobs.add(obj.id.raw)
                else:
                    reachable_blobs.update(raw for _, raw in self._trees.added(None, obj.id.raw)[0])

        found: set[bytes] = set()
        for oid in sorted(odb_commits, key=str):
            if str(oid) in reachable_commits:
                continue
            try:
                lost = repo[oid]
            except _READ_ERRORS as exc:
                yield ScanError(f"{self.target}@{oid}", f"cannot read commit: {_reason(exc)}")
                continue
            if isinstance(lost, pygit2.Commit):
                yield from self._commit_items(lost, found, reachable=False, skip=reachable_blobs)
        for oid, size in odb_blobs:
            raw = oid.raw
            if raw in reachable_blobs or raw in found:
                continue
            hex_id = str(oid)
            yield SourceItem(
                provenance=GitProvenance(repo=self.target, path=None, commit=None, reachable=False),
                loader=GitBlobLoader(self.repo_key, hex_id, self.max_file_size),
                blob_id=hex_id,
                size=size,
            )

    # -- index and work tree --------------------------------------------------------------

    def _staged_item(self, path: str, oid: pygit2.Oid) -> SourceItem:
        hex_id = str(oid)
        return SourceItem(
            provenance=GitProvenance(repo=self.target, path=path, commit=None, staged=True),
            loader=GitBlobLoader(self.repo_key, hex_id, self.max_file_size),
            blob_id=hex_id,
            size=self._size(oid.raw),
        )

    def _index(self) -> pygit2.Index:
        """The index git would use: `GIT_INDEX_FILE` when set, else the repository's.

        `git commit -a`, `git commit -- PATH` and `git commit --only` build a temporary
        index and run the pre-commit hook with GIT_INDEX_FILE naming it; the repository's
        own index does not hold what is being committed. Like git, a relative path is taken
        from the top of the work tree (where git runs hooks and resolves it), and a file
        that does not exist is an empty index."""
        path = os.environ.get("GIT_INDEX_FILE")
        if not path:
            return self._repo.index
        if not os.path.isabs(path) and self._repo.workdir:
            path = os.path.join(self._repo.workdir, path)
        return pygit2.Index(path)

    def _staged_items(self) -> Iterator[SourceOutput]:
        """Index entries whose blob differs from HEAD's (all of them before the first commit)."""
        repo = self._repo
        try:
            index = self._index()
            if repo.head_is_unborn:
                entries = [(e.path, e.id, e.mode) for e in index]
            else:
                diff = repo.head.peel(pygit2.Tree).diff_to_index(index)
                entries = [
                    (d.new_file.path, d.new_file.id, d.new_file.mode)
                    for d in diff.deltas
                    if d.status != DeltaStatus.DELETED and d.old_file.id != d.new_file.id
                ]
        except _READ_ERRORS as exc:
            yield ScanError(f"{self.target}@index", f"cannot read the index: {_reason(exc)}")
            return
        for path, oid, mode in entries:
            if mode & _TYPE_MASK not in (_GITLINK, _TREE):
                yield self._staged_item(path, oid)

    def _worktree_items(self) -> Iterator[SourceOutput]:
        """Uncommitted files: modified, staged or untracked, and not ignored.

        A file whose staged version differs from both HEAD and the work tree also yields
        the staged blob: that is what the next commit will contain.
        """
        repo = self._repo
        try:
            status = gitstatus.take(repo.workdir) if repo.workdir else None
            if status is None:
                status = repo.status(**gitstatus.STATUS_OPTIONS)
        except _READ_ERRORS as exc:
            # Without a status nothing tells committed from uncommitted files: scan the whole
            # work tree as plain files (ignoring what .gitignore ignores) rather than none.
            yield ScanError(self.target, f"cannot read the work tree status: {_reason(exc)}; "
                            "scanning the work tree as plain files")
            yield from FilesystemSource(repo.workdir, max_file_size=self.max_file_size,
                                        respect_gitignore=True).items()
            return
        workdir = repo.workdir
        real_root = os.path.realpath(workdir)
        index = None
        for path in sorted(status):
            flags = status[path]
            if flags & _INDEX_CHANGED and flags & _WORKTREE_DIFFERS:
                try:
                    if index is None:
                        index = self._index()
                    entry = index[path]
                    if entry.mode & _TYPE_MASK not in (_GITLINK, _TREE):
                        yield self._staged_item(path, entry.id)
                except _READ_ERRORS as exc:
                    yield ScanError(
                        f"{self.target}@index", f"cannot read staged {path}: {_reason(exc)}"
                    )
            if not flags & _WORKTREE_CHANGED or flags & FileStatus.WT_DELETED:
                continue
            if path.split("/", 1)[0] in _OWN_DIRS:
                continue  # nhiguard's own store in the work tree
            yield from self._worktree_file(os.path.join(workdir, path), path.rstrip("/"), real_root)

    def _worktree_file(self, abs_path: str, rel: str, real_root: str) -> Iterator[SourceOutput]:
        try:
            st = os.lstat(abs_path)
            if stat.S_ISLNK(st.st_mode):
                # Followed only to a regular file inside the work tree, like FilesystemSource.
                try:
                    real = os.path.realpath(abs_path, strict=True)
                except OSError:
                    yield ScanError(rel, "broken symbolic link", kind="skipped")
                    return
                if os.path.commonpath([real_root, real]) != real_root:
                    yield ScanError(
                        rel, "symbolic link points outside the work tree", kind="skipped"
                    )
                    return
                abs_path, st = real, os.stat(real)
            if stat.S_ISDIR(st.st_mode):
                return  # a submodule or nested repository: not this repository's content
            if not stat.S_ISREG(st.st_mode):
                yield ScanError(rel, "not a regular file", kind="skipped")
                return
        except OSError as exc:
            yield ScanError(rel, f"cannot read: {exc.strerror}")
            return
        yield SourceItem(
            provenance=FileProvenance(path=rel, target=self.target),
            loader=FileLoader(abs_path, self.max_file_size),
            size=st.st_size,
        )


def _has_blob(tree: pygit2.Tree, path: bytes, blob: bytes) -> bool:
    try:
        return tree[_path(path)].id.raw == blob
    except (*_READ_ERRORS, UnicodeError):
        return False
