"""Files and directories: walk, honour .gitignore on request, cap sizes, report what was skipped.

Symlinks to files are followed only when they stay inside the scanned directory, and
symlinked directories are never descended, so symlink loops cannot recurse. Files are
read in the worker (see FileLoader).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nhiguard.model import FileProvenance, ScanError
from nhiguard.sources.base import LoadError, Skipped, SourceItem, SourceOutput

ALWAYS_SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".nhiguard"})


@dataclass(frozen=True, slots=True)
class FileLoader:
    path: str
    max_size: int

    def __reduce__(self):  # cheap pickling: one per file crosses to a worker
        return (FileLoader, (self.path, self.max_size))

    def load(self) -> bytes:
        return self.load_sniffed(0, None)

    def load_sniffed(
        self, sniff: int, reject: Callable[[bytes], str | None] | None, stream_above: int | None = None
    ) -> bytes | FileStream:
        """The file's bytes, opened once: `reject` sees the first `sniff` bytes and may
        refuse the file (Skipped with its reason) before the rest is read, so binaries
        cost one small read. A file larger than `stream_above` is not read here: a
        FileStream that owns the open file is returned, to be read piece by piece."""
        try:
            # O_NONBLOCK: opening a FIFO (say, behind a symlink) must not wait for a writer;
            # it changes nothing for regular files
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            handed_over = False
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise Skipped("not a regular file")
                if st.st_size > self.max_size:
                    raise Skipped(f"larger than --max-file-size ({st.st_size} > {self.max_size} bytes)")
                if reject is None and (stream_above is None or st.st_size <= stream_above):
                    return _read_all(fd, st.st_size, self.max_size)
                head = os.read(fd, sniff)
                reason = reject(head) if reject is not None else None
                if reason is not None:
                    raise Skipped(reason)
                if len(head) < sniff:
                    return head
                if stream_above is not None and st.st_size > stream_above:
                    handed_over = True
                    return FileStream(fd, st.st_size, head)
                return head + _read_all(fd, st.st_size - len(head), self.max_size - len(head))
            finally:
                if not handed_over:
                    os.close(fd)
        except Skipped:
            raise
        except OSError as exc:
            raise LoadError(exc.strerror or type(exc).__name__) from None


class FileStream:
    """An open file too large to hold in memory at once, read in pieces of a fixed size.

    `size` is the file's size when it was opened; exactly that many bytes are read (a file
    that grows meanwhile is read to that size, one that shrinks is a LoadError), so the
    content id computed from the pieces is that of `size` bytes. The first `head` bytes
    were read already, for sniffing, and come first.
    """

    def __init__(self, fd: int, size: int, head: bytes) -> None:
        self._fd = fd
        self.size = size
        self.head = head

    def pieces(self, piece: int) -> Iterator[bytes]:
        try:
            left = self.size - len(self.head)
            parts, have = ([self.head], len(self.head)) if self.head else ([], 0)
            while left > 0:
                if have < piece:
                    b = os.read(self._fd, min(piece - have, left))
                    if not b:
                        raise LoadError("the file shrank while it was read")
                    parts.append(b)
                    have += len(b)
                    left -= len(b)
                if have >= piece:
                    yield b"".join(parts)
                    parts, have = [], 0
            if parts:
                yield b"".join(parts)
        except OSError as exc:
            raise LoadError(exc.strerror or type(exc).__name__) from None
        finally:
            self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # a stream dropped unread must not leak its descriptor
        self.close()


def _read_all(fd: int, expected: int, limit: int) -> bytes:
    """Read to the end with raw reads (no file object per file); a file that grows while
    it is read is read on, never past `limit`."""
    chunks = []
    want = min(max(expected, 0), limit) + 1
    got = 0
    while got < limit + 1:
        b = os.read(fd, max(want - got, 64 * 1024))
        if not b:
            break
        chunks.append(b)
        got += len(b)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return data if len(data) <= limit else data[:limit]


def _display(path: Path) -> str:
    return path.as_posix()


class FilesystemSource:
    """A file or a directory tree."""

    def __init__(
        self,
        target: str,
        *,
        max_file_size: int,
        respect_gitignore: bool = False,
        skip_dirs: frozenset[str] = ALWAYS_SKIP_DIRS,
        display_root: str | None = None,
    ) -> None:
        self.target = Path(target)
        self.max_file_size = max_file_size
        self.respect_gitignore = respect_gitignore
        self.skip_dirs = skip_dirs
        self.display_root = display_root
        # a directory's files name it as their target; a single file is its own path
        self.shown_target: str | None = self.target.as_posix() if self.target.is_dir() else None

    def items(self) -> Iterator[SourceOutput]:
        root = self.target
        try:
            st = root.lstat()
        except OSError as exc:
            yield ScanError(str(root), f"cannot read: {exc.strerror}")
            return
        if stat.S_ISLNK(st.st_mode):
            try:
                st = root.stat()
            except OSError:
                yield ScanError(str(root), "broken symbolic link")
                return
        if stat.S_ISDIR(st.st_mode):
            yield from self._walk(root)
        elif stat.S_ISREG(st.st_mode):
            yield self._item(root, root.name if self.display_root else str(root), st.st_size)
        else:
            yield ScanError(str(root), "not a regular file or directory", kind="skipped")

    def _item(self, path: Path, shown: str, size: int) -> SourceItem:
        return SourceItem(
            provenance=FileProvenance(path=shown, target=self.shown_target),
            loader=FileLoader(str(path), self.max_file_size),
            size=size,
        )

    def _walk(self, root: Path) -> Iterator[SourceOutput]:
        # plain strings and os.scandir: pathlib costs more than the scan on trees of
        # many small files
        ignore = _GitIgnore(root) if self.respect_gitignore else None
        real_root = os.path.realpath(root)
        prefix = "" if self.display_root is None else self.display_root + "/"
        stack: list[tuple[str, str]] = [(str(root), "")]  # (path, path relative to root)
        while stack:
            d, drel = stack.pop()
            try:
                with os.scandir(d) as it:
                    entries = list(it)  # directory order: reports sort, and sorting costs
            except OSError as exc:
                yield ScanError(prefix + drel if drel else str(d), f"cannot list directory: {exc.strerror}")
                continue
            if ignore is not None:
                ignore.load_dir(Path(d))
            subdirs = []
            for e in entries:
                rel = f"{drel}/{e.name}" if drel else e.name
                shown = prefix + rel
                try:
                    if e.is_symlink():
                        yield from self._symlink(Path(e.path), rel, shown, real_root, ignore)
                        continue
                    if e.is_dir(follow_symlinks=False):
                        if e.name in self.skip_dirs:
                            continue
                        if ignore is not None and ignore.ignored(rel, is_dir=True):
                            continue
                        subdirs.append((e.path, rel))
                    elif e.is_file(follow_symlinks=False):
                        if ignore is not None and ignore.ignored(rel, is_dir=False):
                            continue
                        # no stat here: the worker stats when it reads, off the main process
                        yield SourceItem(
                            provenance=FileProvenance(path=shown, target=self.shown_target),
                            loader=FileLoader(e.path, self.max_file_size),
                        )
                    else:  # FIFOs, sockets, devices: reading could block or never end
                        yield ScanError(shown, "not a regular file", kind="skipped")
                except OSError as exc:
                    yield ScanError(shown, f"cannot read: {exc.strerror}")
            stack.extend(reversed(subdirs))

    def _symlink(self, p: Path, rel: str, shown: str, real_root: str, ignore) -> Iterator[SourceOutput]:
        try:
            target = os.path.realpath(p, strict=True)
        except OSError as exc:
            msg = "symbolic link loop" if "loop" in str(exc).lower() or exc.errno == 40 else "broken symbolic link"
            yield ScanError(shown, msg)
            return
        if os.path.isdir(target):
            if os.path.commonpath([real_root, target]) != real_root:
                yield ScanError(shown, "symbolic link to a directory outside the scanned tree", kind="skipped")
            return  # never descend symlinked directories: loops and double counting
        if not os.path.isfile(target):
            yield ScanError(shown, "symbolic link to something that is not a regular file", kind="skipped")
            return
        if os.path.commonpath([real_root, target]) != real_root:
            yield ScanError(shown, "symbolic link points outside the scanned directory", kind="skipped")
            return
        if ignore is not None and ignore.ignored(rel, is_dir=False):
            return
        yield self._item(Path(target), shown, os.path.getsize(target))


class _GitIgnore:
    """.gitignore files of a tree, applied with gitignore semantics (pathspec)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.specs: list[tuple[str, object]] = []

    def load_dir(self, d: Path) -> None:
        import pathspec

        f = d / ".gitignore"
        if f.is_file():
            try:
                lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                return
            base = d.relative_to(self.root).as_posix()
            prefix = "" if base == "." else base + "/"
            self.specs.append((prefix, pathspec.GitIgnoreSpec.from_lines(lines)))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for prefix, spec in self.specs:
            if prefix and not rel.startswith(prefix):
                continue
            sub = rel[len(prefix):] + ("/" if is_dir else "")
            r = spec.check_file(sub)  # type: ignore[attr-defined]
            if r.include is not None:
                result = r.include
        return result
