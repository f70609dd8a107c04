"""`nhiguard ci-audit PATH...`: find the CI/CD configuration under the paths and run every
check on it (GitHub Actions workflows, GitLab CI files, OIDC trust policies in IAM JSON or
Terraform). A file that cannot be read or parsed is reported and the others are audited."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nhiguard.model.issue import Issue, IssueLocation
from nhiguard.posture import checks as C
from nhiguard.posture import ci_github, ci_gitlab, ci_trust

SKIP_DIRS = frozenset({".git", "node_modules", ".terraform", "vendor", ".venv", "venv", "__pycache__"})
MAX_FILE = 4 * 1024 * 1024  # CI configuration is small; a larger file is not one


@dataclass
class AuditResult:
    paths: list[str]
    files: list[str] = field(default_factory=list)  # files audited
    issues: list[Issue] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)


def _kind(path: Path, root_given: bool) -> str | None:
    """Which reader a file needs: 'github', 'gitlab', 'trust', 'yaml' (decide by shape), None."""
    name = path.name
    parts = path.parts
    if name.endswith((".yml", ".yaml")):
        if len(parts) >= 3 and parts[-3:-1] == (".github", "workflows"):
            return "github"
        if name in (".gitlab-ci.yml", ".gitlab-ci.yaml") or name.endswith((".gitlab-ci.yml", ".gitlab-ci.yaml")) \
                or ".gitlab" in parts:
            return "gitlab"
        return "yaml" if root_given else None
    if name.endswith(".tf") or name.endswith(".json"):
        return "trust"
    return None


def _files(path: Path) -> list[tuple[Path, str]]:
    if path.is_file():
        kind = _kind(path, root_given=True)
        return [(path, kind)] if kind else []
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for f in sorted(filenames):
            p = Path(dirpath, f)
            kind = _kind(p, root_given=False)
            if kind:
                out.append((p, kind))
    return out


def audit(paths: list[str]) -> AuditResult:
    result = AuditResult(paths=list(paths))
    for given in paths:
        root = Path(given)
        if not root.exists():
            result.errors.append((given, "no such file or directory"))
            continue
        for path, kind in _files(root):
            shown = path.as_posix()
            try:
                if path.stat().st_size > MAX_FILE:
                    continue
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                _unreadable(result, shown, f"not UTF-8 text (byte {exc.start})")
                continue
            except OSError as exc:
                _unreadable(result, shown, f"cannot read ({exc.strerror or type(exc).__name__})")
                continue
            if not text.strip():
                continue  # an empty file configures nothing
            if kind == "trust":
                if ci_trust.mentions_oidc(text):
                    result.files.append(shown)
                    result.issues.extend(ci_trust.audit(shown, text))
                continue
            _audit_yaml(result, shown, text, kind)
    return result


def _audit_yaml(result: AuditResult, shown: str, text: str, kind: str) -> None:
    import yaml

    from nhiguard.posture.yamlmap import load

    try:
        docs = load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        _unreadable(result, shown, f"invalid YAML ({getattr(exc, 'problem', None) or type(exc).__name__})",
                    mark.line + 1 if mark is not None else 1)
        return
    audited = False
    for doc in docs:
        if kind in ("github", "yaml") and ci_github.looks_like_workflow(doc):
            result.issues.extend(ci_github.audit(shown, doc))
            audited = True
        elif kind in ("gitlab", "yaml") and ci_gitlab.looks_like_gitlab(doc):
            result.issues.extend(ci_gitlab.audit(shown, doc))
            audited = True
    if audited:
        result.files.append(shown)
    elif kind == "github":
        _unreadable(result, shown, "not a GitHub Actions workflow (no jobs with runs-on or steps)")
    elif kind == "gitlab" and any(isinstance(d, dict) for d in docs) and ".gitlab-ci" in shown.rsplit("/", 1)[-1]:
        _unreadable(result, shown, "not a GitLab CI file (no jobs with script, extends or trigger)")
    elif kind == "yaml":  # named on the command line: say why nothing was audited
        _unreadable(result, shown, "neither a GitHub Actions workflow nor a GitLab CI file")


def _unreadable(result: AuditResult, path: str, problem: str, line: int = 1) -> None:
    result.errors.append((path, problem))
    result.issues.append(Issue(C.UNREADABLE_CONFIG, f"{path}: {problem}", (IssueLocation(path, line),)))
