"""Pulling images over the OCI distribution API, without a Docker daemon.

A reference is `HOST[:PORT]/REPO[:TAG]` or `HOST[:PORT]/REPO@sha256:...` (a name without a
registry host means Docker Hub, `library/` for single names). The manifest (or image index,
from which `--platform` picks one) is fetched first; layer blobs are downloaded into the
user cache (`~/.cache/nhiguard/blobs/`, or the `image_cache` setting) by digest, checked against it while they arrive,
and reused by later scans: a layer two tags share is downloaded once.

Authentication, as registries ask for it (`WWW-Authenticate`): none; HTTP Basic; or a
bearer token from the registry's token service (anonymously or with Basic credentials).
Credentials come from `--registry-username`/`--registry-password` (or NHIGUARD_REGISTRY_*),
else from `~/.docker/config.json` (`auths` entries; credential helpers are not run).

Loopback registries are spoken to over plain HTTP, others over HTTPS (`registry_plain_http`
lists more hosts for plain HTTP). Every call goes through `urllib`, so the endpoint is
whatever the reference names: tests point it at a real registry server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nhiguard import cache
from nhiguard.sources.oci import (
    INDEX_TYPES,
    MANIFEST_ACCEPT,
    MAX_DOCUMENT,
    Image,
    ImageError,
    Platform,
    image_from_manifest,
    select_manifest,
)

DOCKER_HUB = "registry-1.docker.io"
TIMEOUT = 60
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Reference:
    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        ref = text.strip()
        digest = None
        if "@" in ref:
            ref, digest = ref.split("@", 1)
            if not re.fullmatch(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}", digest):
                raise ImageError(f"{text}: not a digest after '@'")
        first, _, rest = ref.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            host, path = first, rest
        else:
            host, path = DOCKER_HUB, ref
            if "/" not in path:
                path = "library/" + path
        tag = None
        if ":" in path.rsplit("/", 1)[-1]:
            path, tag = path.rsplit(":", 1)
        if not path or not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", path):
            raise ImageError(f"{text}: not an image reference (HOST/REPO:TAG or HOST/REPO@sha256:...)")
        if tag is not None and not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
            raise ImageError(f"{text}: not a valid tag")
        if tag is None and digest is None:
            tag = "latest"
        return cls(host, path, tag, digest)

    def __str__(self) -> str:
        host = "" if self.host == DOCKER_HUB else self.host + "/"
        return host + self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


@dataclass
class Credentials:
    username: str | None = None
    password: str | None = None

    @property
    def basic(self) -> str | None:
        if self.username is None:
            return None
        raw = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def docker_config_credentials(host: str, path: Path | None = None) -> Credentials:
    """The `auths` entry of ~/.docker/config.json (or $DOCKER_CONFIG) for a registry host."""
    if path is None:
        base = os.environ.get("DOCKER_CONFIG")
        path = Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Credentials()
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return Credentials()
    hosts = {host} | ({"index.docker.io", "docker.io", "registry-1.docker.io"} if host == DOCKER_HUB else set())
    for key, entry in auths.items():
        # `docker login` writes https://index.docker.io/v1/ or a bare host; others add a path
        name = key.split("://", 1)[-1].split("/", 1)[0] if isinstance(key, str) else ""
        if name not in hosts or not isinstance(entry, dict):
            continue
        if isinstance(entry.get("auth"), str):
            try:
                user, _, pw = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return Credentials(user, pw)
        if isinstance(entry.get("username"), str):
            return Credentials(entry["username"], entry.get("password"))
    return Credentials()


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:].split("]")[0]
    return name in ("localhost", "127.0.0.1", "::1") or name.startswith("127.")


@dataclass
class RegistryClient:
    """One registry host; remembers the bearer token per scope."""

    host: str
    credentials: Credentials = field(default_factory=Credentials)
    plain_http: bool = False
    opener: Callable[..., Any] = urllib.request.urlopen
    blob_dir: Path | None = None  # where downloaded blobs are kept (default: the user cache)
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        scheme = "http" if self.plain_http or _is_loopback(self.host) else "https"
        return f"{scheme}://{self.host}"

    def _request(self, url: str, scope: str, accept: str | None = None) -> Any:
        headers = {"Accept": accept} if accept else {}
        token = self._tokens.get(scope)
        if token:
            headers["Authorization"] = token
        try:
            return self.opener(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            if exc.code != 401 or token is not None and scope in self._tokens and self._tokens[scope] != token:
                raise self._error(exc, url) from None
            challenge = exc.headers.get("WWW-Authenticate", "")
            exc.close()
        self._tokens[scope] = self._authenticate(challenge, scope)
        headers["Authorization"] = self._tokens[scope]
        try:
            return self.opener(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            raise self._error(exc, url) from None

    def _error(self, exc: urllib.error.HTTPError, url: str) -> ImageError:
        path = urllib.parse.urlsplit(url).path
        if exc.code == 401:
            return ImageError(f"{self.host}: authentication failed for {path} (check the registry "
                              "credentials: --registry-username/--registry-password or ~/.docker/config.json)")
        if exc.code == 404:
            return ImageError(f"{self.host}: {path} not found")
        return ImageError(f"{self.host}: HTTP {exc.code} for {path}")

    def _authenticate(self, challenge: str, scope: str) -> str:
        kind, _, params = challenge.partition(" ")
        kind = kind.lower()
        if kind == "basic":
            if self.credentials.basic is None:
                raise ImageError(f"{self.host}: the registry asks for credentials "
                                 "(--registry-username/--registry-password or ~/.docker/config.json)")
            return self.credentials.basic
        if kind != "bearer":
            raise ImageError(f"{self.host}: unsupported authentication scheme {kind or 'none'!r}")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.get("realm")
        if not realm:
            raise ImageError(f"{self.host}: bearer challenge without a realm")
        query = {k: v for k, v in (("service", fields.get("service")),
                                   ("scope", fields.get("scope") or scope)) if v}
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {}
        if self.credentials.basic:
            headers["Authorization"] = self.credentials.basic
        try:
            with self.opener(urllib.request.Request(url, headers=headers), timeout=TIMEOUT) as resp:
                doc = json.loads(resp.read(MAX_DOCUMENT))
        except urllib.error.HTTPError as exc:
            raise ImageError(f"{self.host}: the token service refused the credentials "
                             f"(HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ImageError(f"{self.host}: cannot get a token ({_reason(exc)})") from None
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise ImageError(f"{self.host}: the token service gave no token")
        return "Bearer " + token

    def manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str, str]:
        """(document, media type, digest) of a manifest or image index."""
        url = f"{self.base}/v2/{repository}/manifests/{reference}"
        try:
            with self._request(url, f"repository:{repository}:pull", MANIFEST_ACCEPT) as resp:
                data = resp.read(MAX_DOCUMENT + 1)
                media = resp.headers.get("Content-Type", "").split(";")[0].strip()
        except (urllib.error.URLError, OSError) as exc:
            raise ImageError(f"{self.host}: cannot reach the registry ({_reason(exc)})") from None
        if len(data) > MAX_DOCUMENT:
            raise ImageError(f"{repository}:{reference}: manifest larger than {MAX_DOCUMENT} bytes")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise ImageError(f"{repository}@{reference[:19]}...: the manifest does not match its digest")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise ImageError(f"{repository}:{reference}: the manifest is not JSON") from None
        if not isinstance(doc, dict):
            raise ImageError(f"{repository}:{reference}: the manifest is not a JSON object")
        return doc, str(doc.get("mediaType") or media), digest

    def blob_path(self, repository: str, digest: str) -> Path:
        """The blob in the local cache, downloaded (and checked) if it is not there yet."""
        alg, _, hexd = digest.partition(":")
        if alg != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexd):
            raise ImageError(f"unsupported blob digest {digest[:24]!r}")
        target = (self.blob_dir or cache.cache_dir() / "blobs") / alg / hexd
        if target.is_file():
            if _file_digest(target) == hexd:
                return target
            target.unlink()  # changed or damaged since it was downloaded: fetch it again
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        url = f"{self.base}/v2/{repository}/blobs/{digest}"
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, self._request(url, f"repository:{repository}:pull") as resp:
                while chunk := resp.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != hexd:
                raise ImageError(f"{repository}: blob {digest[:19]}... does not match its digest "
                                 "(corrupt or tampered download); not used")
            os.replace(tmp, target)
        except (urllib.error.URLError, OSError) as exc:
            raise ImageError(f"{self.host}: download of {digest[:19]}... failed ({_reason(exc)})") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def read_blob(self, repository: str, digest: str) -> bytes:
        path = self.blob_path(repository, digest)
        if path.stat().st_size > MAX_DOCUMENT:
            raise ImageError(f"{repository}: blob {digest[:19]}... is too large for a config")
        return path.read_bytes()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    return getattr(exc, "strerror", None) or type(exc).__name__


def pull(reference: str, want: Platform | None, credentials: Credentials | None = None,
         plain_http_hosts: tuple[str, ...] = (), opener: Callable[..., Any] | None = None,
         blob_dir: Path | None = None) -> Image:
    """The Image a reference names; its layers open their cached, checked blobs (downloaded
    when first opened, so a layer the scan can skip is never downloaded)."""
    ref = Reference.parse(reference)
    creds = credentials if credentials and credentials.username else docker_config_credentials(ref.host)
    client = RegistryClient(ref.host, creds, plain_http=ref.host in plain_http_hosts,
                            blob_dir=blob_dir, **({"opener": opener} if opener else {}))
    doc, media, digest = client.manifest(ref.repository, ref.digest or ref.tag or "latest")
    name = f"registry:{ref}"
    for _ in range(4):
        if media not in INDEX_TYPES and "manifests" not in doc:
            break
        chosen = select_manifest(doc, want, name)
        doc, media, digest = client.manifest(ref.repository, chosen["digest"])
    else:
        raise ImageError(f"{name}: image indexes nested too deep")

    def opener_for(desc: dict[str, Any]) -> Callable[[], IO[bytes]]:
        return lambda: open(client.blob_path(ref.repository, desc["digest"]), "rb")

    def span_for(desc: dict[str, Any]) -> Callable[[], tuple[str, int, int]]:
        def span() -> tuple[str, int, int]:
            path = client.blob_path(ref.repository, desc["digest"])
            return str(path), 0, path.stat().st_size
        return span

    image = image_from_manifest(name, doc, lambda d: client.read_blob(ref.repository, d),
                                opener_for, digest, span_for)
    for layer in image.layers:
        layer.verified = True  # blob_path checks each download against its digest
    return image
