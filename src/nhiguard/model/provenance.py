"""Where a blob was seen: a tagged union, one dataclass per source kind.

Every provenance has `source` (the tag used in reports) and `as_location()`,
the JSON-ready fields of a report location except line/column (which come
from the match inside the blob).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FileProvenance:
    path: str  # relative to `target` for a directory; the target itself for a single file
    source: str = "file"
    # the directory or work tree as the user named it, so that a.txt of two targets differ
    target: str | None = None

    def as_location(self) -> dict[str, Any]:
        out = {"source": self.source, "path": self.path}
        if self.target is not None:
            out["target"] = self.target
        return out


@dataclass(frozen=True, slots=True)
class StdinProvenance:
    path: str = "-"
    source: str = "stdin"

    def as_location(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path}


@dataclass(frozen=True, slots=True)
class GitProvenance:
    """A blob seen in git history.

    `commit` is the commit that introduced the blob at `path` (None for a
    staged blob, or a blob found with --all-objects outside any commit; blobs
    of unreachable commits keep their commit with `reachable=False`). `repo`
    is the repository's path as given by the user.
    """

    repo: str
    path: str | None
    commit: str | None
    author: str | None = None
    author_email: str | None = None
    date: str | None = None  # ISO 8601, UTC
    summary: str | None = None
    reachable: bool = True
    source: str = "git"
    # Added after `source` so positional construction of the fields above is unchanged.
    # `staged`: the blob is in the index (staged, not committed yet); `commit` is None.
    staged: bool = False
    # `ref`: the ref that reaches the blob without a commit (a tag of a tree or a blob).
    ref: str | None = None

    def as_location(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if not self.staged:
            del out["staged"]
        # a commit message can quote a secret and is not scanned: keep it out of the
        # store and reports
        out.pop("summary", None)
        return out


@dataclass(frozen=True, slots=True)
class ImageProvenance:
    """A file in one layer of a container image.

    `visible` is False when a later layer deletes (whiteout) or replaces the file: it is
    not in the running container's filesystem, but anyone who pulls the image has it."""

    image: str  # the image as named by the user (`registry:host/repo:tag`, ...)
    layer: str  # the layer's digest
    path: str  # inside the image's filesystem, without a leading slash
    visible: bool
    instruction: str | None = None  # the layer's `created_by` (a Dockerfile step)
    source: str = "image"

    def as_location(self) -> dict[str, Any]:
        out = {"source": self.source, "path": self.path, "image": self.image, "layer": self.layer,
               "visible": self.visible}
        if self.instruction is not None:
            out["instruction"] = self.instruction
        return out


@dataclass(frozen=True, slots=True)
class ImageConfigProvenance:
    """A field of an image's configuration: `Env`, `Labels`, `Cmd`, `Entrypoint`, or a build
    step baked into the history (`history[3].created_by`: ARG and ENV values end up there)."""

    image: str
    field: str
    source: str = "image-config"

    def as_location(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.field, "image": self.image, "field": self.field}


Provenance = FileProvenance | StdinProvenance | GitProvenance | ImageProvenance | ImageConfigProvenance
