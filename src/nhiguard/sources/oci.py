"""Container images as data: manifests, indexes, configs, layers, platform selection.

Three places an image can come from, all read without a Docker daemon:
- `docker-archive:PATH`: what `docker save` writes (a tar with `manifest.json`; the layers
  are uncompressed tars named by path, or OCI blobs in newer Docker releases);
- `oci:PATH`: an OCI image layout, as a directory or a tar of one (`oci-layout`,
  `index.json`, `blobs/<alg>/<hex>`);
- `registry:HOST/REPO:TAG` or `...@sha256:...`: pulled over the OCI distribution API
  (see sources/registry.py).

Each gives `Image`s: the config document, and the layers in order with a way to open each
one's blob, whose digest is checked as it is read. Nothing here interprets layer contents
(sources/image.py does).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST})
MANIFEST_TYPES = frozenset({MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST})
MANIFEST_ACCEPT = ", ".join([MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_LIST,
                             MEDIA_DOCKER_MANIFEST])
MAX_DOCUMENT = 16 * 1024 * 1024  # manifests and configs are small; larger is not one


class ImageError(Exception):
    """An image (or a part of it) cannot be read; the message is safe to show."""


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"not a platform: {text!r} (use os/arch or os/arch/variant, e.g. linux/arm64/v8)")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def host(cls) -> Platform:
        machine = platform.machine().lower()
        arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}.get(machine, machine)
        return cls("linux", arch, "v7" if machine == "armv7l" else None)

    def matches(self, p: dict[str, Any]) -> bool:
        if p.get("os") != self.os or p.get("architecture") != self.architecture:
            return False
        return self.variant is None or p.get("variant") in (self.variant, None)

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


@dataclass
class Layer:
    digest: str  # the blob's digest (compressed, as in the manifest), or the diff id of an uncompressed docker-archive layer
    media_type: str
    size: int | None
    opener: Callable[[], IO[bytes]]  # the blob as stored; its digest is checked by `open`
    instruction: str | None = None  # the history entry that made it (`created_by`)
    verified: bool = False  # the blob was checked against its digest already (a registry download)
    # where the blob lies in a local file: (path, offset, length), so that workers can read
    # an uncompressed layer's files in place; None when it cannot be read that way
    span: Callable[[], tuple[str, int, int]] | None = None

    def open(self) -> IO[bytes]:
        """The blob, read through a reader that fails at the end if the digest is wrong."""
        return DigestReader(self.opener(), self.digest)


@dataclass
class Image:
    name: str  # as shown in reports: the reference, or archive path and tag
    config: dict[str, Any]
    layers: list[Layer]
    digest: str | None = None  # the manifest's digest, when known
    problems: list[str] = field(default_factory=list)  # parts that could not be read
    aliases: tuple[str, ...] = ()  # what else names it in its archive or layout: tags, refs, #N


class DigestReader(io.RawIOBase):
    """Reads a blob through, hashing it; at the end of the stream, a blob whose digest is
    not the one expected raises ImageError (so nothing read from it can be trusted)."""

    def __init__(self, raw: IO[bytes], digest: str) -> None:
        alg, _, hexd = digest.partition(":")
        if alg not in ("sha256", "sha512") or not hexd:
            raise ImageError(f"unsupported digest {digest!r}")
        self._raw = raw
        self._want = hexd.lower()
        self._h = hashlib.new(alg)
        self._done = False
        self.digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._raw.readinto(b) if hasattr(self._raw, "readinto") else _readinto(self._raw, b)
        if n:
            self._h.update(memoryview(b)[:n])
        elif not self._done:
            self._done = True
            if self._h.hexdigest() != self._want:
                raise ImageError(f"blob {self.digest[:19]}... does not match its digest "
                                 "(corrupt or tampered)")
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _readinto(raw: IO[bytes], b: Any) -> int:
    data = raw.read(len(b))
    b[: len(data)] = data
    return len(data)


def _json(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_DOCUMENT:
        raise ImageError(f"{what} is larger than {MAX_DOCUMENT} bytes: not a manifest")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{what} is not a JSON object")
    return doc


def select_manifest(index: dict[str, Any], want: Platform | None, where: str) -> dict[str, Any]:
    """The descriptor of the index entry for the platform (the host's by default)."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    if not entries:
        raise ImageError(f"{where}: the image index lists no manifests")
    plat = want or Platform.host()
    for m in entries:
        if isinstance(m.get("platform"), dict) and plat.matches(m["platform"]):
            return m
    if want is None:
        without = [m for m in entries if not isinstance(m.get("platform"), dict)]
        if len(entries) == 1 or without:  # a single-image index, or one without platforms
            return (without or entries)[0]
    offered = sorted({str(Platform(m["platform"].get("os", "?"), m["platform"].get("architecture", "?"),
                                   m["platform"].get("variant")))
                      for m in entries if isinstance(m.get("platform"), dict)})
    raise ImageError(f"{where}: no image for platform {plat} (the index offers "
                     f"{', '.join(offered) or 'none'}); choose one with --platform")


def history_instructions(config: dict[str, Any], n_layers: int) -> list[str | None]:
    """The `created_by` of each layer: history entries that made no layer are skipped."""
    hist = [h for h in config.get("history") or [] if isinstance(h, dict)]
    made = [h for h in hist if not h.get("empty_layer")]
    out: list[str | None] = [h.get("created_by") if isinstance(h.get("created_by"), str) else None
                             for h in made][:n_layers]
    return out + [None] * (n_layers - len(out))


def image_from_manifest(name: str, manifest: dict[str, Any], read_blob: Callable[[str], bytes],
                        open_blob: Callable[[dict[str, Any]], Callable[[], IO[bytes]]],
                        digest: str | None = None,
                        span_blob: Callable[[dict[str, Any]], Callable[[], tuple[str, int, int]]] | None = None,
                        ) -> Image:
    """An Image from a manifest document; `read_blob(digest)` reads the (small) config."""
    cfg_desc = manifest.get("config")
    if not isinstance(cfg_desc, dict) or not isinstance(cfg_desc.get("digest"), str):
        raise ImageError(f"{name}: the manifest names no config")
    raw = read_blob(cfg_desc["digest"])
    _check(raw, cfg_desc["digest"], f"{name}: config")
    config = _json(raw, f"{name}: config")
    descs = [d for d in manifest.get("layers") or [] if isinstance(d, dict) and isinstance(d.get("digest"), str)]
    instructions = history_instructions(config, len(descs))
    layers = [Layer(d["digest"], str(d.get("mediaType", "")), d.get("size"), open_blob(d), instr,
                    span=span_blob(d) if span_blob else None)
              for d, instr in zip(descs, instructions, strict=True)]
    return Image(name, config, layers, digest)


def _check(data: bytes, digest: str, what: str) -> None:
    alg, _, hexd = digest.partition(":")
    if alg not in ("sha256", "sha512") or hashlib.new(alg, data).hexdigest() != hexd.lower():
        raise ImageError(f"{what} does not match its digest {digest[:19]}...")


# --------------------------------------------------------------------------- OCI layout


class _Layout:
    """An OCI image layout in a directory or in a tar file (read members in place)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.spannable = True  # members can be read in place by other processes
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if os.path.isdir(path):
            return
        try:
            self.tar = tarfile.open(path, "r:")  # random access: members are read in place
            for m in self.tar.getmembers():
                self.members[os.path.normpath(m.name).lstrip("./")] = m
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ImageError(f"{path}: not a readable tar archive ({exc})") from None

    def exists(self, name: str) -> bool:
        if self.tar is None:
            return os.path.isfile(os.path.join(self.path, name))
        return name in self.members

    def open(self, name: str) -> IO[bytes]:
        if self.tar is None:
            full = os.path.join(self.path, name)
            if os.path.commonpath([os.path.realpath(full), os.path.realpath(self.path)]) != os.path.realpath(self.path):
                raise ImageError(f"{name}: outside the image layout")
            try:
                return open(full, "rb")  # noqa: SIM115 - handed to the caller
            except OSError as exc:
                raise ImageError(f"{name}: cannot read ({exc.strerror})") from None
        member = self.members.get(name)
        if member is None or not member.isfile():
            raise ImageError(f"{name}: missing from the archive")
        fh = self.tar.extractfile(member)
        if fh is None:
            raise ImageError(f"{name}: missing from the archive")
        return fh

    def span(self, name: str) -> tuple[str, int, int]:
        """(file, offset, length) of a member: where a worker can read it in place."""
        if self.tar is None:
            full = os.path.join(self.path, name)
            return full, 0, os.path.getsize(full)
        member = self.members.get(name)
        if member is None or not member.isfile():
            raise ImageError(f"{name}: missing from the archive")
        return self.path, member.offset_data, member.size

    def read(self, name: str, limit: int = MAX_DOCUMENT) -> bytes:
        with self.open(name) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"{name}: larger than {limit} bytes")
        return data


def _blob_name(digest: str) -> str:
    alg, _, hexd = digest.partition(":")
    if not alg.isalnum() or not hexd.isalnum():
        raise ImageError(f"not a digest: {digest!r}")
    return f"blobs/{alg}/{hexd}"


def read_oci_layout(path: str, want: Platform | None = None) -> list[Image]:
    """Every image the layout's index.json names (an image index picks one platform)."""
    lay = _Layout(path)
    if not lay.exists("index.json"):
        raise ImageError(f"{path}: not an OCI image layout (no index.json)")
    index = _json(lay.read("index.json"), f"{path}: index.json")
    images: list[Image] = []
    for desc in index.get("manifests") or []:
        if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
            continue
        ref = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        name = f"oci:{path}" + (f":{ref}" if ref else f"@{desc['digest']}")
        try:
            image = _layout_image(lay, name, desc, want)
        except ImageError as exc:
            image = Image(name, {}, [], desc.get("digest"), [_without(str(exc), name)])
        image.aliases = tuple(a for a in (ref, desc["digest"], f"#{len(images)}") if a)
        images.append(image)
    if not images:
        raise ImageError(f"{path}: index.json names no image")
    return images


def _layout_image(lay: _Layout, name: str, desc: dict[str, Any], want: Platform | None) -> Image:
    seen = 0
    while True:
        raw = lay.read(_blob_name(desc["digest"]))
        _check(raw, desc["digest"], f"{name}: manifest")
        doc = _json(raw, f"{name}: manifest")
        media = doc.get("mediaType") or desc.get("mediaType")
        if media in INDEX_TYPES or "manifests" in doc:
            seen += 1
            if seen > 4:
                raise ImageError("image indexes nested too deep")
            desc = select_manifest(doc, want, name)
            continue
        return image_from_manifest(
            name, doc,
            lambda d: lay.read(_blob_name(d)),
            lambda d: (lambda: lay.open(_blob_name(d["digest"]))),
            desc["digest"],
            lambda d: (lambda: lay.span(_blob_name(d["digest"]))),
        )


# --------------------------------------------------------------------------- docker save


def read_docker_archive(path: str, workdir: str | None = None) -> list[Image]:
    """The images of a `docker save` tarball (gzip-compressed ones are unpacked first, into
    `workdir` if given, which the caller removes: tar members are read in place)."""
    src = path
    tmp: str | None = None
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror})") from None
    if magic == b"\x1f\x8b":
        fd, tmp = tempfile.mkstemp(prefix="nhiguard-image-", suffix=".tar", dir=workdir)
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as gz:
                while chunk := gz.read(1 << 20):
                    out.write(chunk)
        except (OSError, EOFError) as exc:
            os.unlink(tmp)
            raise ImageError(f"{path}: corrupt gzip stream ({exc})") from None
        src = tmp
    try:
        lay = _Layout(src)
    except ImageError:
        if tmp:
            os.unlink(tmp)
        raise
    if tmp and workdir is None:
        os.unlink(tmp)  # the open tar file keeps it readable; nothing is left behind
        lay.spannable = False
    if not lay.exists("manifest.json"):
        if lay.exists("index.json"):
            return read_oci_layout(src if tmp and workdir else path)
        raise ImageError(f"{path}: not a docker save archive (no manifest.json)")
    raw = lay.read("manifest.json")
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{path}: manifest.json is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, list) or not manifest:
        raise ImageError(f"{path}: manifest.json lists no image")
    images = []
    for n, entry in enumerate(manifest):
        tags = [t for t in (entry.get("RepoTags") or []) if isinstance(t, str)] if isinstance(entry, dict) else []
        name = f"docker-archive:{path}" + (f":{tags[0]}" if tags else (f"#{n}" if len(manifest) > 1 else ""))
        try:
            image = _archive_image(lay, name, entry)
        except ImageError as exc:
            image = Image(name, {}, [], None, [_without(str(exc), name)])
        image.aliases = (*tags, f"#{n}")
        images.append(image)
    return images


def _archive_image(lay: _Layout, name: str, entry: Any) -> Image:
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
        raise ImageError(f"{name}: manifest.json entry without a Config")
    if not isinstance(entry.get("Layers"), list):
        raise ImageError("manifest.json entry without a list of Layers")
    config = _json(lay.read(entry["Config"].lstrip("./")), "config")
    paths = [p for p in entry["Layers"] if isinstance(p, str)]
    diff_count = len((config.get("rootfs") or {}).get("diff_ids") or [])
    problems = [] if diff_count == len(paths) else [
        f"the config lists {diff_count} layer(s), manifest.json {len(paths)}"]
    diff_ids = [d for d in (config.get("rootfs") or {}).get("diff_ids") or [] if isinstance(d, str)]
    instructions = history_instructions(config, len(paths))
    layers = []
    for i, p in enumerate(paths):
        member = os.path.normpath(p).lstrip("./")
        # the layer files of `docker save` are the uncompressed layer tars, whose digest is
        # the diff id in the config; newer releases store them as OCI blobs by digest
        digest = diff_ids[i] if i < len(diff_ids) else "sha256:" + os.path.basename(member)
        if member.startswith("blobs/") and "/" in member[6:]:
            blob_digest = member[6:].replace("/", ":", 1)
            if blob_digest != digest:
                digest = blob_digest  # a compressed blob: its own digest, not the diff id
        layers.append(Layer(digest, "", None, (lambda m=member: lay.open(m)), instructions[i],
                            span=(lambda m=member: lay.span(m)) if lay.spannable else None))
    return Image(name, config, layers, problems=problems)


def parse_image_target(target: str) -> tuple[str, str] | None:
    """(kind, rest) for an image target (`docker-archive:`, `oci:`, `registry:`), else None."""
    for kind in ("docker-archive", "oci", "registry"):
        if target.startswith(kind + ":"):
            return kind, target[len(kind) + 1 :]
    return None


def _path_and_ref(rest: str) -> tuple[str, str | None]:
    """`PATH` or `PATH:REF` (an image of a layout or archive holding several), as skopeo
    names them; a path that exists as given wins."""
    if os.path.exists(rest) or ":" not in rest:
        return rest, None
    at = rest.find(":")
    while at >= 0:  # the ref may hold ':' itself (`app.tar:app:1.0`): the path is what exists
        if at > 0 and os.path.exists(rest[:at]) and rest[at + 1 :]:
            return rest[:at], rest[at + 1 :]
        at = rest.find(":", at + 1)
    return rest, None


def _without(message: str, name: str) -> str:
    """A problem of an image without the image's name in front (it is said beside it)."""
    return message[len(name) + 2:] if message.startswith(name + ": ") else message


def _pick(images: list[Image], ref: str | None, where: str) -> list[Image]:
    """The image `ref` names exactly: a tag (`app` means `app:latest`, as Docker reads it),
    a ref name, a digest, or `#N` for the Nth image."""
    if ref is None:
        return images
    wanted = {ref}
    if not ref.startswith(("#", "sha256:")) and ":" not in ref.rsplit("/", 1)[-1]:
        wanted.add(f"{ref}:latest")
    chosen = [i for i in images if wanted & set(i.aliases)]
    if not chosen:
        names = ", ".join(a for i in images for a in i.aliases if not a.startswith("sha256:"))
        raise ImageError(f"{where}: no image {ref!r} in it (it holds: {names})")
    return chosen


def iter_images(kind: str, rest: str, want: Platform | None,
                registry: Callable[[str, Platform | None], Image] | None = None,
                workdir: str | None = None) -> Iterator[Image]:
    if kind == "docker-archive":
        path, ref = _path_and_ref(rest)
        yield from _pick(read_docker_archive(path, workdir), ref, rest)
    elif kind == "oci":
        path, ref = _path_and_ref(rest)
        yield from _pick(read_oci_layout(path, want), ref, rest)
    elif kind == "registry":
        if registry is None:
            raise ImageError("registry pulls are not available here")
        yield registry(rest, want)
    else:
        raise ImageError(f"unknown image source {kind!r}")
