"""Baseline files: the findings a team has accepted, so a CI gate reports only new ones.

A baseline is keyed by finding identity (rule id + keyed fingerprint of the secret), never
by line numbers, timestamps or absolute paths, so it survives line drift, CRLF checkouts
and other operating systems, and a different secret on the same line is new. It holds no
raw secret. Entries are sorted so the file diffs cleanly in review.

A baseline also records its scope: the targets it was made from (relative to the baseline
file's folder) and the options that decide what a scan sees. `baseline update` prunes the
entries its scan no longer finds, so it must see at least that scope: a narrower scan (a
subfolder, --no-history, a lower --decode-depth) would prune entries it could not see.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from nhiguard.model import Finding

FORMAT_VERSION = 1
DEFAULT_PATH = ".nhiguard-baseline.json"


class BaselineError(ValueError):
    """The baseline file cannot be used; the message says why."""


def key_id(fingerprint_key: bytes) -> str:
    """Names the fingerprint key without revealing it, so mismatched keys are detected."""
    return hashlib.sha256(b"nhiguard-key-id\0" + fingerprint_key).hexdigest()[:12]


def normalise_path(path: str) -> str:
    p = path.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return str(PurePosixPath(p)) if p else p


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    rule_id: str
    fingerprint: str
    preview: str
    paths: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"id": self.id, "rule_id": self.rule_id, "fingerprint": self.fingerprint,
                "preview": self.preview, "paths": list(self.paths)}


_UNPATHED = ("-", "docker-archive:", "oci:", "registry:")  # stdin and images: kept as given


def normalise_target(target: str, base_dir: Path) -> str:
    """A scan target as a baseline records it: relative to the baseline file's folder (so
    the record holds no absolute path and means the same from any working directory)."""
    if target.startswith(_UNPATHED):
        return target
    rel = os.path.relpath(os.path.realpath(target), os.path.realpath(base_dir))
    return rel.replace(os.sep, "/")


@dataclass(frozen=True, slots=True)
class Scope:
    """What the scan that made a baseline could see."""

    targets: tuple[str, ...]
    no_history: bool = False
    all_objects: bool = False
    respect_gitignore: bool = False
    decode_depth: int = 3

    @classmethod
    def of(cls, targets: Iterable[str], baseline_path: Path, *, no_history: bool, all_objects: bool,
           respect_gitignore: bool, decode_depth: int) -> Scope:
        base_dir = baseline_path.parent
        return cls(tuple(sorted({normalise_target(t, base_dir) for t in targets})), no_history,
                   all_objects, respect_gitignore, decode_depth)

    def as_dict(self) -> dict:
        return {"targets": list(self.targets), "no_history": self.no_history,
                "all_objects": self.all_objects, "respect_gitignore": self.respect_gitignore,
                "decode_depth": self.decode_depth}

    def unseen_by(self, scan: Scope) -> list[str]:
        """What of this scope `scan` would not see; empty when it sees all of it."""
        out = []
        missing = [t for t in self.targets if t not in scan.targets]
        if missing:
            out.append(f"target(s) {', '.join(missing)} not scanned")
        if scan.no_history and not self.no_history:
            out.append("--no-history (the baseline covers git history)")
        if self.all_objects and not scan.all_objects:
            out.append("no --all-objects (the baseline covers unreachable git objects)")
        if scan.respect_gitignore and not self.respect_gitignore:
            out.append("--respect-gitignore (the baseline covers ignored files)")
        if scan.decode_depth < self.decode_depth:
            out.append(f"--decode-depth {scan.decode_depth} (the baseline's is {self.decode_depth})")
        return out


@dataclass(frozen=True, slots=True)
class Baseline:
    key_id: str
    entries: tuple[Entry, ...]
    scope: Scope | None = None  # None: made by a version that did not record it

    def with_scope(self, scope: Scope | None) -> Baseline:
        return replace(self, scope=scope)

    @property
    def identities(self) -> frozenset[tuple[str, str]]:
        return frozenset((e.rule_id, e.fingerprint) for e in self.entries)

    def contains(self, f: Finding) -> bool:
        return (f.rule_id, f.fingerprint) in self.identities

    def new_findings(self, findings: Iterable[Finding]) -> list[Finding]:
        ids = self.identities
        return [f for f in findings if (f.rule_id, f.fingerprint) not in ids]

    def pruned(
        self,
        findings: Iterable[Finding],
        active_rules: Iterable[str] | None = None,
        unseen_paths: Iterable[str] = (),
    ) -> Baseline:
        """The entries still found (for `baseline update`), and those the scan could not have
        found: of a rule not in effect (`--disable-rule`), or seen at a path this scan
        skipped (too large, binary)."""
        present = {(f.rule_id, f.fingerprint) for f in findings}
        rules = None if active_rules is None else set(active_rules)
        unseen = {normalise_path(p) for p in unseen_paths}

        def keep(e: Entry) -> bool:
            if (e.rule_id, e.fingerprint) in present:
                return True
            if rules is not None and e.rule_id not in rules:
                return True
            return any(p in unseen for p in e.paths)

        return Baseline(self.key_id, tuple(e for e in self.entries if keep(e)), self.scope)


def from_findings(findings: Iterable[Finding], fingerprint_key: bytes, scope: Scope | None = None) -> Baseline:
    entries = []
    for f in findings:
        paths = sorted({normalise_path(str(loc.fields.get("path") or "")) for loc in f.locations} - {""})
        entries.append(Entry(f.id, f.rule_id, f.fingerprint, f.preview, tuple(paths)))
    entries.sort(key=lambda e: (e.rule_id, e.fingerprint))
    return Baseline(key_id(fingerprint_key), tuple(entries), scope)


def dumps(b: Baseline) -> str:
    doc = {"version": FORMAT_VERSION, "tool": "nhiguard", "fingerprint_key_id": b.key_id,
           "findings": [e.as_dict() for e in b.entries]}
    if b.scope is not None:
        doc["scope"] = b.scope.as_dict()
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def write(b: Baseline, path: Path) -> None:
    path.write_text(dumps(b), encoding="utf-8", newline="\n")


def read(path: Path, fingerprint_key: bytes) -> Baseline:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: not a baseline file (invalid JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION or not isinstance(doc.get("findings"), list):
        raise BaselineError(f"{path}: not a nhiguard baseline (version {FORMAT_VERSION})")
    if not isinstance(doc.get("fingerprint_key_id"), str) or not doc["fingerprint_key_id"]:
        raise BaselineError(f"{path}: the baseline does not say which fingerprint key made it "
                            "(fingerprint_key_id is missing); create it again with `baseline create`")
    if doc.get("fingerprint_key_id") != key_id(fingerprint_key):
        raise BaselineError(
            f"{path}: made with a different fingerprint key; set the same NHIGUARD_FINGERPRINT_KEY "
            "as when the baseline was created"
        )
    entries = []
    for i, e in enumerate(doc["findings"]):
        try:
            entries.append(Entry(str(e["id"]), str(e["rule_id"]), str(e["fingerprint"]),
                                 str(e.get("preview", "")), tuple(map(str, e.get("paths", [])))))
        except (KeyError, TypeError):
            raise BaselineError(f"{path}: entry {i} lacks rule_id/fingerprint") from None
    return Baseline(str(doc["fingerprint_key_id"]), tuple(entries), _read_scope(path, doc.get("scope")))


def _read_scope(path: Path, raw: object) -> Scope | None:
    if raw is None:
        return None
    bad = BaselineError(f"{path}: its scope is damaged (targets: a list of strings; no_history, "
                        "all_objects, respect_gitignore: true or false; decode_depth: a number); "
                        "create the baseline again")
    if not isinstance(raw, dict):
        raise bad
    targets = raw.get("targets")
    flags = [raw.get(k, False) for k in ("no_history", "all_objects", "respect_gitignore")]
    depth = raw.get("decode_depth", 3)
    if (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)
            or not all(isinstance(f, bool) for f in flags)
            or not isinstance(depth, int) or isinstance(depth, bool)):
        raise bad
    return Scope(tuple(targets), *flags, depth)
