"""Container images as a source: every file of every layer, and the image config.

Layers are read from the top of the image down, so that whether a file is still in the
running container's filesystem (`visible`) is known when the file is read: a lower file is
hidden by an upper layer that has an entry at the same path, deletes it (`.wh.NAME`
whiteout), makes a parent directory opaque (`.wh..wh..opq`) or replaces a parent directory
with a file. Hidden files are scanned all the same: whoever pulls the image has them.

The config's `Env`, `Labels`, `Cmd`, `Entrypoint`, `OnBuild`, `Healthcheck` and every
history step (`created_by`, where `ARG` and `ENV` values of the build end up) are scanned as
text, each at its own place (`source: image-config`, `field`).

Each file's content id is computed here, as its bytes stream out of the layer, so a file
seen before (in another layer, tag or image, or in a git repository) is matched once. A
layer two images of one run share is read once; its files' ids are kept for the second.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import shutil
import tempfile
import zlib
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nhiguard.model import ImageConfigProvenance, ImageProvenance, ScanError
from nhiguard.sources.base import BytesLoader, LoadError, SourceItem, SourceOutput
from nhiguard.sources.oci import Image, ImageError, Layer, Platform, iter_images, parse_image_target
from nhiguard.sources.tarscan import Member, scan_tar

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True, slots=True)
class _Gone:
    """The loader of a file whose content this run has already read (from a layer it has
    seen in another image): the pipeline knows its id and never asks for it."""

    def load(self) -> bytes:
        raise LoadError("the layer's content was read earlier in this scan")


@dataclass
class _Entry:
    path: str
    kind: str  # "file", "dir", "other" (links, devices), "whiteout", "opaque"
    blob_id: str | None = None  # files: git blob id of the content
    size: int = 0


@dataclass
class LayerIndex:
    """The store's record of layers read in earlier scans, as the pipeline lends it: a layer
    whose files are all known under the scan's ruleset is neither downloaded nor
    decompressed again; its files are yielded by their (keyed) ids."""

    key: bytes  # the fingerprint key, which the ids in the index are keyed with
    key_id: str  # names the key and the content policy the index entries were made under
    get: Callable[[str, str], list[list[Any]] | None]  # (layer digest, key_id) -> entries
    put: Callable[[str, str, list[list[Any]]], None]
    scanned: Callable[[set[str]], set[str]]  # those keyed ids the store has results for


@dataclass
class _Shadow:
    """What the layers above the current one put over the filesystem below them."""

    nondirs: set[str] = field(default_factory=set)  # entries that are not directories
    deleted: set[str] = field(default_factory=set)
    opaque: set[str] = field(default_factory=set)

    def hides(self, path: str) -> bool:
        if path in self.nondirs or path in self.deleted:
            return True
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in self.deleted or prefix in self.opaque or prefix in self.nondirs:
                return True
        return False

    def add(self, entries: list[_Entry]) -> None:
        for e in entries:
            if e.kind == "whiteout":
                self.deleted.add(e.path)
            elif e.kind == "opaque":
                self.opaque.add(e.path)
            elif e.kind != "dir":
                self.nondirs.add(e.path)


def _normal(name: str) -> str:
    """A member name as a path in the image: no leading `./` or `/`, no `..` above the root."""
    path = posixpath.normpath("/" + name.replace("\\", "/")).lstrip("/")
    return "" if path == "." else path


def git_blob_id(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\x00" % len(data))  # noqa: S324 - git's content id, not security
    h.update(data)
    return h.hexdigest()


def _decompressed(raw: IO[bytes], media_type: str) -> IO[bytes]:
    head = raw.read(4)
    stream: IO[bytes] = _Prepend(head, raw)
    if head[:2] == b"\x1f\x8b" or media_type.endswith("+gzip") or media_type.endswith(".gzip"):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head == _ZSTD_MAGIC or media_type.endswith("+zstd"):
        try:
            import zstandard
        except ModuleNotFoundError:
            raise ImageError("zstd-compressed layer: install the zstandard package "
                             "(pip install 'nhiguard[zstd]') to read it") from None
        return zstandard.ZstdDecompressor().stream_reader(stream)
    return stream


class _Prepend(io.RawIOBase):
    """A stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._rest.close()
        finally:
            super().close()


class ImageSource:
    """One image target (`docker-archive:`, `oci:` or `registry:`), maybe several images."""

    def __init__(
        self,
        target: str,
        *,
        max_file_size: int,
        platform: Platform | None = None,
        pull: Callable[[str, Platform | None], Image] | None = None,
        index: LayerIndex | None = None,
    ) -> None:
        parsed = parse_image_target(target)
        if parsed is None:
            raise ValueError(f"{target}: not an image target")
        self.target = target
        self.kind, self.rest = parsed
        self.max_file_size = max_file_size
        self.platform = platform
        self.pull = pull
        self.index = index
        self._layers: dict[str, list[_Entry]] = {}  # layers read in this run, by digest
        self.layers_read = 0  # decompressed in this run (the rest came from memory or the store)
        self._tmp: str | None = None  # private folder of what this scan unpacks
        self._pool: Any = None  # the helper thread that fetches layers ahead
        self._procs: Any = None  # the helper process that unpacks and lists them

    def items(self) -> Iterator[SourceOutput]:
        try:
            images = list(iter_images(self.kind, self.rest, self.platform, self.pull,
                                      workdir=self._workdir() if self.kind == "docker-archive" else None))
        except ImageError as exc:
            message = str(exc)
            for said in (self.target, self.rest.split(":", 1)[0] if self.kind != "registry" else ""):
                if said and message.startswith(said + ": "):
                    message = message[len(said) + 2:]  # the target is said beside the message
            yield ScanError(self.target, message)
            return
        except OSError as exc:
            yield ScanError(self.target, f"cannot read: {exc.strerror or exc}")
            return
        for image in images:
            for problem in image.problems:
                yield ScanError(image.name, problem)
            yield from self._config_items(image)
            yield from self._layer_items(image)

    # ------------------------------------------------------------------ config

    def _config_items(self, image: Image) -> Iterator[SourceOutput]:
        cfg = image.config.get("config") if isinstance(image.config.get("config"), dict) else {}
        fields: list[tuple[str, str]] = []
        env = cfg.get("Env")
        if isinstance(env, list):
            fields.append(("Env", "\n".join(str(e) for e in env)))
        labels = cfg.get("Labels")
        if isinstance(labels, dict):
            fields.append(("Labels", "\n".join(f"{k}={v}" for k, v in labels.items())))
        for name in ("Cmd", "Entrypoint", "OnBuild"):
            value = cfg.get(name)
            if isinstance(value, list):
                fields.append((name, "\n".join(str(v) for v in value) if name == "OnBuild"
                               else " ".join(str(v) for v in value)))
            elif isinstance(value, str):
                fields.append((name, value))
        health = cfg.get("Healthcheck")
        if isinstance(health, dict) and isinstance(health.get("Test"), list):
            fields.append(("Healthcheck", " ".join(str(v) for v in health["Test"])))
        for i, h in enumerate(image.config.get("history") or []):
            if isinstance(h, dict) and isinstance(h.get("created_by"), str):
                fields.append((f"history[{i}].created_by", h["created_by"]))
        for name, text in fields:
            if text:
                data = text.encode("utf-8", "surrogatepass")
                yield SourceItem(ImageConfigProvenance(image.name, name), BytesLoader(data),
                                 blob_id=git_blob_id(data), size=len(data))

    # ------------------------------------------------------------------ layers

    def _layer_items(self, image: Image) -> Iterator[SourceOutput]:
        # what is known already (read earlier in this run, or in the store's index), and the
        # rest, which a helper thread downloads, checks and unpacks ahead of the listing:
        # zlib and hashlib work outside the interpreter lock, so that overlaps the rest
        known: dict[str, tuple[list[_Entry], bool]] = {}
        for layer in image.layers:
            if layer.digest in self._layers:
                known[layer.digest] = (self._layers[layer.digest], False)
            elif (indexed := self._indexed(layer.digest)) is not None:
                known[layer.digest] = (indexed, True)
        ahead: dict[str, Future] = {}
        for layer in reversed(image.layers):  # top first: the order they are listed in
            if layer.digest not in known and layer.digest not in ahead:
                ahead[layer.digest] = self._prefetch(layer)
        try:
            shadow = _Shadow()
            # from the top down: what a layer holds is hidden or not by the layers above it
            for layer in reversed(image.layers):
                if layer.digest in self._layers:
                    entries, keyed = self._layers[layer.digest], False
                elif layer.digest in known:
                    entries, keyed = known[layer.digest]
                else:
                    entries = []
                    complete = yield from self._read_layer(image, layer, shadow, entries,
                                                           ahead[layer.digest])
                    self._layers[layer.digest] = entries
                    self.layers_read += 1
                    if complete and self.index is not None:
                        self._record(layer.digest, entries)
                    shadow.add(entries)
                    continue
                yield from self._known_layer(image, layer, shadow, entries, keyed)
                shadow.add(entries)
        finally:
            for fut in ahead.values():
                fut.cancel()

    def _prefetch(self, layer: Layer) -> Future:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nhiguard-layers")
        return self._pool.submit(self._prepare, layer)

    def _prepare(self, layer: Layer) -> Listing:
        """In the helper thread: the layer's blob made local (a registry download), then
        checked, unpacked and listed by the helper process. Errors come back through the
        future."""
        span = layer.span() if layer.span is not None else None
        if span is None:  # no local file to hand over: unpack it here, list it there
            if not layer.verified:
                _verify(layer)
            span = self._unpack_here(layer)
            return self._lister().submit(list_layer, *span, "", None, self._workdir()).result()
        digest = None if layer.verified else layer.digest
        return self._lister().submit(list_layer, *span, layer.media_type, digest,
                                     self._workdir()).result()

    def _lister(self) -> Any:
        """One helper process, which unpacks and lists layers while this one hands their
        files to the scan: decompression and hashing are most of what a layer costs."""
        if self._procs is None:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            # spawned, not forked: this process runs threads
            self._procs = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                                              initializer=_lister_init)
        return self._procs

    def _indexed(self, digest: str) -> list[_Entry] | None:
        """The layer's entries from the store, if every file in it has results there."""
        if self.index is None:
            return None
        raw = self.index.get(digest, self.index.key_id)
        if raw is None:
            return None
        try:
            entries = [_Entry(str(p), str(k), b if isinstance(b, str) else None, int(n))
                       for p, k, b, n in raw]
        except (TypeError, ValueError):
            return None
        ids = {e.blob_id for e in entries if e.kind == "file" and e.blob_id}
        if any(e.kind == "file" and not e.blob_id for e in entries):
            return None
        if ids and self.index.scanned(ids) != ids:
            return None  # a file not matched under this ruleset: the layer is read again
        return entries

    def _record(self, digest: str, entries: list[_Entry]) -> None:
        from nhiguard.model.blob import keyed_blob_id

        assert self.index is not None
        rows = [[e.path, e.kind, keyed_blob_id(e.blob_id, self.index.key) if e.blob_id else None, e.size]
                for e in entries]
        self.index.put(digest, self.index.key_id, rows)

    def _known_layer(self, image: Image, layer: Layer, shadow: _Shadow,
                     entries: list[_Entry], keyed: bool) -> Iterator[SourceOutput]:
        for e in entries:
            if e.kind == "file" and e.blob_id is not None:
                prov = ImageProvenance(image.name, layer.digest, e.path, not shadow.hides(e.path),
                                       layer.instruction)
                yield SourceItem(prov, _Gone(), blob_id=e.blob_id, size=e.size, keyed=keyed)

    def _read_layer(self, image: Image, layer: Layer, shadow: _Shadow,
                    entries: list[_Entry], prepared: Future) -> Generator[SourceOutput, None, bool]:
        """Yields the layer's files; returns whether the whole layer was read.

        The files are not read here: the helper process lists an uncompressed layer in
        place, or unpacks a compressed one into a private temporary file as it lists it,
        computing each file's content id on the way; each file is handed to a worker as a
        span of that file."""
        where = f"{image.name} layer {layer.digest[:19]}"
        try:
            listing = prepared.result()
        except ImageError as exc:
            yield ScanError(where, str(exc))
            return False
        except OSError as exc:
            yield ScanError(where, f"cannot read ({exc.strerror or exc})")
            return False
        read = 0
        files: dict[str, tuple[_Entry, SpanLoader]] = {}  # this layer's files, for its hard links
        for m in listing.members:
            path = _normal(m.name)
            if not path:
                continue
            if m.kind == "hardlink" and m.link and _normal(m.link) in files:
                # the same content under another name: a file of the layer in its own right,
                # which stays when the name it links to is deleted
                target, loader = files[_normal(m.link)]
                entries.append(_Entry(path, "file", target.blob_id, target.size))
                prov = ImageProvenance(image.name, layer.digest, path, not shadow.hides(path),
                                       layer.instruction)
                yield SourceItem(prov, loader, blob_id=target.blob_id, size=target.size)
                continue
            name = posixpath.basename(path)
            parent = posixpath.dirname(path)
            if name == OPAQUE:
                entries.append(_Entry(parent, "opaque"))
                continue
            if name.startswith(WHITEOUT):
                entries.append(_Entry(posixpath.join(parent, name[len(WHITEOUT):]), "whiteout"))
                continue
            if m.kind != "file":
                entries.append(_Entry(path, m.kind if m.kind == "dir" else "other"))
                continue
            prov = ImageProvenance(image.name, layer.digest, path, not shadow.hides(path), layer.instruction)
            if m.size > self.max_file_size:
                entries.append(_Entry(path, "other"))
                yield ScanError(f"{image.name}:{path}", f"larger than --max-file-size "
                                f"({m.size} > {self.max_file_size} bytes)", kind="skipped")
                continue
            entries.append(_Entry(path, "file", m.blob_id, m.size))
            read += 1
            loader = SpanLoader(listing.path, listing.base + m.offset, m.size)
            files[path] = (entries[-1], loader)
            yield SourceItem(prov, loader, blob_id=m.blob_id, size=m.size)
        if listing.problem is not None:
            yield ScanError(where, f"truncated or corrupt layer ({listing.problem}); the {read} "
                                   "file(s) before the damage were read")
            return False
        return True

    def _unpack_here(self, layer: Layer) -> tuple[str, int, int]:
        """A layer whose blob is no local file (read through its opener), unpacked into a
        private temporary file; damage ends it early, and the listing finds where."""
        fd, tmp = tempfile.mkstemp(prefix="layer-", suffix=".tar", dir=self._workdir())
        with os.fdopen(fd, "wb") as out, layer.opener() as raw:
            try:
                with _decompressed(raw, layer.media_type) as stream:
                    while chunk := stream.read(1 << 20):
                        out.write(chunk)
            except (OSError, EOFError, zlib.error):
                pass
            return tmp, 0, out.tell()

    def _workdir(self) -> str:
        if self._tmp is None:
            _remove_orphans()
            # the pid in the name lets a later scan remove what a killed one left behind
            self._tmp = tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-")  # 0700
        return self._tmp

    def close(self) -> None:
        """Remove what the scan unpacked; called when the scan ends, its tasks all done."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._procs is not None:
            self._procs.shutdown(wait=True, cancel_futures=True)
            self._procs = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


@dataclass(frozen=True)
class Listing:
    """A layer laid out as an uncompressed tar: where, its members, and the damage that
    ended the listing early (None: read to the end)."""

    path: str
    base: int
    length: int
    members: list[Member]
    problem: str | None


def _lister_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the scan stops it; Ctrl-C is for the scan
    from nhiguard.lifetime import die_with_parent

    die_with_parent()


def list_layer(path: str, offset: int, length: int, media_type: str, digest: str | None,
               workdir: str) -> Listing:
    """In the helper process: check the blob at (path, offset, length) against `digest`
    (when given), then list it, unpacking a compressed one into `workdir` on the way."""
    with open(path, "rb") as fh:
        window = _Window(fh, offset, length)
        if digest is not None:
            alg, _, want = digest.partition(":")
            if alg not in ("sha256", "sha512"):
                raise ImageError(f"unsupported digest {digest!r}")
            h = hashlib.new(alg)
            while chunk := window.read(1 << 20):
                h.update(chunk)
            if h.hexdigest() != want.lower():
                raise ImageError(f"blob {digest[:19]}... does not match its digest (corrupt or tampered)")
            window.seek(0)
        head = window.read(4)
        window.seek(0)
        if not (head[:2] == b"\x1f\x8b" or head == _ZSTD_MAGIC or media_type.endswith(("+gzip", "+zstd"))):
            members, problem = scan_tar(io.BufferedReader(window, 1 << 20))
            return Listing(path, offset, length, members, problem)
        fd, tmp = tempfile.mkstemp(prefix="layer-", suffix=".tar", dir=workdir)
        with os.fdopen(fd, "wb") as sink:
            try:
                with _decompressed(io.BufferedReader(window, 1 << 20), media_type) as stream:
                    members, problem = scan_tar(stream, sink)
            except (OSError, EOFError, zlib.error) as exc:
                # the listing stopped inside the damaged stream: list what reached the file
                sink.flush()
                members, problem = _relist(tmp), _why(exc)
            size = sink.tell()
        return Listing(tmp, 0, size, members, problem)


def _relist(path: str) -> list[Member]:
    with open(path, "rb") as fh:
        return scan_tar(fh)[0]


@dataclass(frozen=True, slots=True)
class SpanLoader:
    """A file inside a layer: `size` bytes at `offset` of a local file (a layer blob, an
    archive holding one, or a layer unpacked for this scan). Picklable; read in the worker."""

    path: str
    offset: int
    size: int

    def load(self) -> bytes:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise LoadError(exc.strerror or type(exc).__name__) from None
        try:
            data = os.pread(fd, self.size, self.offset)
            if len(data) < self.size:
                parts, have = [data], len(data)
                while have < self.size:
                    more = os.pread(fd, self.size - have, self.offset + have)
                    if not more:
                        raise LoadError("the layer file shrank while it was read")
                    parts.append(more)
                    have += len(more)
                data = b"".join(parts)
            return data
        except OSError as exc:
            raise LoadError(exc.strerror or type(exc).__name__) from None
        finally:
            os.close(fd)


class _Window(io.RawIOBase):
    """A seekable view of `length` bytes at `base` of an open file (a layer inside an archive)."""

    def __init__(self, fh: IO[bytes], base: int, length: int) -> None:
        self._fh = fh
        self._base = base
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self._length
        self._pos = max(0, offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), self._length - self._pos))
        if n == 0:
            return 0
        data = os.pread(self._fh.fileno(), n, self._base + self._pos)
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _verify(layer: Layer) -> None:
    with layer.open() as fh:
        while fh.read(1 << 20):
            pass


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_WORKDIR_PREFIX = "nhiguard-image-"


def _remove_orphans() -> None:
    """Unpacked layers of scans that died without cleaning up (killed, out of memory)."""
    root = Path(tempfile.gettempdir())
    try:
        mine = [p for p in root.iterdir() if p.name.startswith(_WORKDIR_PREFIX) and p.is_dir()
                and p.stat().st_uid == os.getuid()]
    except OSError:
        return
    for path in mine:
        pid = path.name[len(_WORKDIR_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True
