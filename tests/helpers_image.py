"""Container images built in code for the tests: layers as tarballs (whiteouts included),
configs, manifests, image indexes, written as `docker save` archives or OCI layouts, or
pushed to a real registry server (Debian's docker-registry) started on loopback."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Hardlink:
    target: str


def layer_tar(entries: list[tuple[str, bytes | str | Hardlink | None]]) -> bytes:
    """A layer: (name, content) files; content None makes a directory, `str` a symlink,
    `Hardlink` a hard link to an earlier member."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif isinstance(data, str):
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tf.addfile(info)
            elif isinstance(data, Hardlink):
                info.type = tarfile.LNKTYPE
                info.linkname = data.target
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass
class Img:
    """An image: uncompressed layer tars, history steps (one per layer unless given), env."""

    layers: list[bytes]
    created_by: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/bin"])
    labels: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=lambda: ["/app/run"])
    extra_history: list[dict] = field(default_factory=list)  # empty-layer steps (ARG, ENV)
    os: str = "linux"
    architecture: str = "amd64"
    gzip_layers: bool = True

    def config(self) -> dict:
        steps = self.created_by or [f"RUN step {i}" for i in range(len(self.layers))]
        return {
            "architecture": self.architecture,
            "os": self.os,
            "config": {"Env": self.env, "Labels": self.labels, "Cmd": self.cmd},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer) for layer in self.layers]},
            "history": self.extra_history + [{"created_by": s} for s in steps],
        }

    def config_bytes(self) -> bytes:
        return json.dumps(self.config()).encode()

    def blobs(self) -> list[bytes]:
        return [gz(layer) if self.gzip_layers else layer for layer in self.layers]

    def manifest(self) -> dict:
        cfg = self.config_bytes()
        return {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest(cfg), "size": len(cfg)},
            "layers": [{"mediaType": OCI_LAYER_GZ if self.gzip_layers else OCI_LAYER,
                        "digest": digest(b), "size": len(b)} for b in self.blobs()],
        }


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write_docker_archive(path: Path, images: list[tuple[list[str], Img]]) -> Path:
    """What `docker save` writes: manifest.json, one config per image, `<id>/layer.tar`."""
    with tarfile.open(path, "w") as tf:
        manifest, written = [], set()
        for tags, img in images:
            cfg = img.config_bytes()
            cfg_name = digest(cfg)[7:] + ".json"
            if cfg_name not in written:
                _add(tf, cfg_name, cfg)
                written.add(cfg_name)
            names = []
            for layer in img.layers:
                name = digest(layer)[7:19] + "/layer.tar"
                if name not in written:
                    _add(tf, name, layer)
                    written.add(name)
                names.append(name)
            manifest.append({"Config": cfg_name, "RepoTags": tags, "Layers": names})
        _add(tf, "manifest.json", json.dumps(manifest).encode())
    return path


def write_oci_layout(root: Path, images: list[tuple[str, Img]], as_index: bool = False) -> Path:
    """An OCI layout; with `as_index`, one index.json entry: an image index of all images
    (one per platform), else one entry per image, named by its ref."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        d = digest(data)
        (blobs / d[7:]).write_bytes(data)
        return d

    entries = []
    for ref, img in images:
        put(img.config_bytes())
        for b in img.blobs():
            put(b)
        m = json.dumps(img.manifest()).encode()
        entries.append({"mediaType": OCI_MANIFEST, "digest": put(m), "size": len(m),
                        "annotations": {"org.opencontainers.image.ref.name": ref},
                        "platform": {"os": img.os, "architecture": img.architecture}})
    if as_index:
        idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
        entries = [{"mediaType": OCI_INDEX, "digest": put(idx), "size": len(idx),
                    "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    return root


def tar_directory(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as tf:
        for p in sorted(src.rglob("*")):
            tf.add(p, arcname=str(p.relative_to(src)), recursive=False)
    return dest


# --------------------------------------------------------------------------- registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A real OCI registry (distribution) on 127.0.0.1, optionally with htpasswd auth."""

    def __init__(self, workdir: Path, user: str | None = None, password: str | None = None) -> None:
        exe = shutil.which("docker-registry")
        if exe is None:
            raise RuntimeError("docker-registry is not installed (tests/run.sh installs it)")
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = (user, password) if user else None
        workdir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if user:
            pw_file = workdir / "htpasswd"
            out = subprocess.run(["htpasswd", "-Bbn", user, password or ""], capture_output=True,
                                 text=True, check=True)
            pw_file.write_text(out.stdout)
            auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {pw_file}\n"
        cfg = workdir / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {workdir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n{auth}"
        )
        self.proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=open(workdir / "registry.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("/v2/"), timeout=1)
                break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"the registry did not start: {(workdir / 'registry.log').read_text()[-500:]}")

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def _call(self, method: str, url: str, data: bytes | None = None,
              headers: dict[str, str] | None = None) -> urllib.response.addinfourl:
        h = dict(headers or {})
        if self.auth:
            h["Authorization"] = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        req = urllib.request.Request(url, data=data, headers=h, method=method)
        return urllib.request.urlopen(req, timeout=30)

    def push_blob(self, repo: str, data: bytes) -> str:
        d = digest(data)
        with self._call("POST", self.url(f"/v2/{repo}/blobs/uploads/")) as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = self.url(location)
        sep = "&" if "?" in location else "?"
        with self._call("PUT", f"{location}{sep}digest={d}", data,
                        {"Content-Type": "application/octet-stream"}):
            pass
        return d

    def push_manifest(self, repo: str, ref: str, doc: dict, media: str) -> str:
        body = json.dumps(doc).encode()
        with self._call("PUT", self.url(f"/v2/{repo}/manifests/{ref}"), body, {"Content-Type": media}):
            pass
        return digest(body)

    def push(self, repo: str, tag: str, img: Img) -> str:
        self.push_blob(repo, img.config_bytes())
        for b in img.blobs():
            self.push_blob(repo, b)
        return self.push_manifest(repo, tag, img.manifest(), OCI_MANIFEST)

    def push_index(self, repo: str, tag: str, imgs: list[Img]) -> str:
        entries = []
        for img in imgs:
            d = self.push(repo, digest(img.config_bytes())[7:19], img)
            body = json.dumps(img.manifest()).encode()
            entries.append({"mediaType": OCI_MANIFEST, "digest": d, "size": len(body),
                            "platform": {"os": img.os, "architecture": img.architecture}})
        return self.push_manifest(repo, tag, {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                              "manifests": entries}, OCI_INDEX)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def docker_config(home: Path, host: str, user: str, password: str) -> Path:
    """A ~/.docker/config.json with an `auths` entry, as `docker login` writes it."""
    d = home / ".docker"
    d.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (d / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    os.chmod(d / "config.json", 0o600)
    return d


class BearerFront:
    """A token-authenticated front for a Registry, as Docker Hub and most cloud registries
    work: `/v2/` calls without a valid bearer token get 401 with a `Bearer realm=...,
    service=..., scope=...` challenge; the realm gives a token for the right Basic
    credentials (anonymous pulls: `anonymous=True`); valid calls pass to the registry."""

    def __init__(self, backend: Registry, user: str, password: str, anonymous: bool = False) -> None:
        import http.server
        import secrets as _secrets
        import threading

        self.backend = backend
        self.token = _secrets.token_hex(16)
        self.scopes: list[str] = []
        front = self
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802 - the http.server protocol
                if self.path.startswith("/token"):
                    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                    front.scopes.append(query.get("scope", ""))
                    if self.headers.get("Authorization") != expected and not anonymous:
                        self.send_response(401)
                        self.end_headers()
                        return
                    body = json.dumps({"token": front.token}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.headers.get("Authorization") != f"Bearer {front.token}":
                    repo = self.path.split("/")[2] if self.path.count("/") > 2 else ""
                    self.send_response(401)
                    self.send_header("WWW-Authenticate",
                                     f'Bearer realm="http://{front.host}/token",service="test",'
                                     f'scope="repository:{repo}:pull"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                req = urllib.request.Request(backend.url(self.path),
                                             headers={"Accept": self.headers.get("Accept", "*/*")})
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        body = resp.read()
                        status, ctype = resp.status, resp.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    body, status, ctype = exc.read(), exc.code, exc.headers.get("Content-Type", "")
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
