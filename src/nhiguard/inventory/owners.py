"""Who owns an identity and which environment it serves, when no one has said so by hand.

Rules come from configuration as `SELECTOR=VALUE` strings (the last `=` splits them):

    owners = ["account:123456789012=payments", "namespace:billing=billing-team",
              "path:services/api/**=api-team", "image:registry.example/data/*=data",
              "tag:CostCenter=4711=finance", "kind:github_deploy_key=platform", "name:ci-*=platform"]
    environments = ["account:210987654321=production", "namespace:prod-*=production", "path:**/prod/**=production"]

Selectors: `account` (also `project`, `cluster`, `org`: the identity's account), `namespace`,
`path` (a leaked copy's file path, glob), `target` (the scanned target, glob), `image` (a
copy's image, glob), `tag:KEY=VALUE` (a provider tag), `kind`, `name` (globs). The first rule
that matches wins. A repository's CODEOWNERS names the owner of a secret leaked in it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nhiguard.settings import ConfigError

SELECTORS = ("account", "project", "cluster", "org", "namespace", "path", "target", "image", "tag", "kind", "name")


@dataclass(frozen=True)
class Rule:
    selector: str
    pattern: str
    value: str
    tag_value: str = ""  # for tag:KEY=VALUE


def parse_rules(items: Iterable[str], setting: str) -> list[Rule]:
    rules = []
    for item in items:
        sel, sep, rest = item.partition(":")
        pattern, eq, value = rest.rpartition("=")
        if not sep or not eq or sel not in SELECTORS or not pattern or not value.strip():
            raise ConfigError(f"{setting}: {item!r} is not SELECTOR:PATTERN=VALUE "
                              f"(selectors: {', '.join(SELECTORS)})")
        tag_value = ""
        if sel == "tag":
            pattern, eq2, tag_value = pattern.partition("=")
            if not eq2:
                raise ConfigError(f"{setting}: {item!r}: a tag rule is tag:KEY=TAGVALUE=VALUE")
        rules.append(Rule(sel, pattern, value.strip(), tag_value))
    return rules


def _glob(pattern: str, text: str | None) -> bool:
    if not text:
        return False
    # `**` crosses folders, `*` does not (as in .gitignore); fnmatch's `*` crosses them anyway
    rx = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*") \
        .replace(r"\?", "[^/]")
    return re.fullmatch(rx, text) is not None or fnmatch.fnmatchcase(text, pattern) and "/" not in pattern


def match(rules: list[Rule], *, account: str = "", namespace: str = "", kind: str = "", name: str = "",
          tags: Mapping[str, str] | None = None, copies: Iterable[Mapping[str, Any]] = ()) -> str | None:
    copies = list(copies)
    for r in rules:
        sel = r.selector
        if sel in ("account", "project", "cluster", "org") and _glob(r.pattern, account):
            return r.value
        if sel == "namespace" and _glob(r.pattern, namespace):
            return r.value
        if sel == "kind" and _glob(r.pattern, kind):
            return r.value
        if sel == "name" and _glob(r.pattern, name):
            return r.value
        if sel == "tag" and (tags or {}).get(r.pattern) == r.tag_value:
            return r.value
        for c in copies:
            if sel == "path" and _glob(r.pattern, c.get("path")):
                return r.value
            if sel == "target" and _glob(r.pattern, c.get("target")):
                return r.value
            if sel == "image" and _glob(r.pattern, str(c.get("image") or "").removeprefix("registry:")):
                return r.value
    return None


# ---------------------------------------------------------------------- CODEOWNERS

_CODEOWNERS_PLACES = ("CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")


class CodeOwners:
    """CODEOWNERS files of scanned repositories, read once each (last matching line wins)."""

    def __init__(self) -> None:
        self._files: dict[str, list[tuple[re.Pattern[str], list[str]]] | None] = {}

    def owner(self, target: str, path: str | None) -> str | None:
        if not path:
            return None
        rules = self._rules(target)
        found = None
        for rx, owners in rules or ():
            if rx.search("/" + path.lstrip("/")):
                found = owners
        return found[0] if found else None

    def _rules(self, target: str) -> list[tuple[re.Pattern[str], list[str]]] | None:
        if target in self._files:
            return self._files[target]
        rules = None
        root = Path(target)
        if root.name == ".git":
            root = root.parent
        for place in _CODEOWNERS_PLACES:
            try:
                text = (root / place).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            rules = []
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 2:
                    rules.append((_codeowners_regex(parts[0]), parts[1:]))
            break
        self._files[target] = rules
        return rules


def _codeowners_regex(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS (gitignore-style) pattern as a regex over '/'-prefixed paths."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    p = pattern.strip("/")
    rx = re.escape(p).replace(r"\*\*/", "(?:.*/)?").replace(r"/\*\*", "(?:/.*)?").replace(r"\*", "[^/]*") \
        .replace(r"\?", "[^/]")
    head = "^/" if anchored else "(?:^|/)"
    return re.compile(head + rx + "(?:/.*)?$")
