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
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from nhiguard.model import ImageConfigProvenance, ImageProvenance, ScanError
from nhiguard.sources.base import BytesLoader, LoadError, SourceItem, SourceOutput
from nhiguard.sources.oci import Image, ImageError, Layer, Platform, iter_images, parse_image_target

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, ImageError)


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

    def items(self) -> Iterator[SourceOutput]:
        try:
            images = list(iter_images(self.kind, self.rest, self.platform, self.pull))
        except ImageError as exc:
            yield ScanError(self.target, str(exc))
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
        shadow = _Shadow()
        # from the top down: what a layer holds is hidden or not by the layers above it
        for layer in reversed(image.layers):
            entries = self._layers.get(layer.digest)
            keyed = False
            if entries is None:
                entries = self._indexed(layer.digest)
                keyed = entries is not None
            if entries is None:
                entries = []
                complete = yield from self._read_layer(image, layer, shadow, entries)
                self._layers[layer.digest] = entries
                self.layers_read += 1
                if complete and self.index is not None:
                    self._record(layer.digest, entries)
            else:
                yield from self._known_layer(image, layer, shadow, entries, keyed)
            shadow.add(entries)

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
                    entries: list[_Entry]) -> Generator[SourceOutput, None, bool]:
        """Yields the layer's files; returns whether the whole layer was read."""
        where = f"{image.name} layer {layer.digest[:19]}"
        try:
            if not layer.verified:
                _verify(layer)  # first: nothing of a corrupt or tampered layer is reported
            raw = layer.opener()
        except ImageError as exc:
            yield ScanError(where, str(exc))
            return False
        except OSError as exc:
            yield ScanError(where, f"cannot read ({exc.strerror or exc})")
            return False
        read = 0
        try:
            with _decompressed(raw, layer.media_type) as stream, \
                    tarfile.open(fileobj=stream, mode="r|") as tf:
                for m in tf:
                    path = _normal(m.name)
                    if not path:
                        continue
                    base = posixpath.basename(path)
                    parent = posixpath.dirname(path)
                    if base == OPAQUE:
                        entries.append(_Entry(parent, "opaque"))
                        continue
                    if base.startswith(WHITEOUT):
                        entries.append(_Entry(posixpath.join(parent, base[len(WHITEOUT):]), "whiteout"))
                        continue
                    if m.isdir():
                        entries.append(_Entry(path, "dir"))
                        continue
                    if not m.isreg():
                        entries.append(_Entry(path, "other"))  # links, devices: no content of their own
                        continue
                    visible = not shadow.hides(path)
                    prov = ImageProvenance(image.name, layer.digest, path, visible, layer.instruction)
                    if m.size > self.max_file_size:
                        entries.append(_Entry(path, "other"))
                        yield ScanError(f"{image.name}:{path}", f"larger than --max-file-size "
                                        f"({m.size} > {self.max_file_size} bytes)", kind="skipped")
                        continue
                    fh = tf.extractfile(m)
                    data = fh.read() if fh is not None else b""
                    bid = git_blob_id(data)
                    entries.append(_Entry(path, "file", bid, len(data)))
                    read += 1
                    # a file cut short by a truncated layer: what of it is there is read too
                    yield SourceItem(prov, BytesLoader(data), blob_id=bid, size=len(data))
                    if len(data) < m.size:
                        raise EOFError(f"the layer ends inside {path}")
        except _TAR_ERRORS as exc:
            yield ScanError(where, f"truncated or corrupt layer ({_why(exc)}); the {read} file(s) "
                                   "before the damage were read")
            return False
        return True


def _verify(layer: Layer) -> None:
    with layer.open() as fh:
        while fh.read(1 << 20):
            pass


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
