"""Load and validate rule files (YAML, one provider per file) into `Rule` objects.

A rule file looks like:

    provider: aws
    rules:
      - id: nhiguard.aws.access-key-id
        name: AWS access key ID
        kind: aws_access_key
        severity: high
        pattern: '\\b(?P<secret>(?:AKIA|ASIA)[A-Z2-7]{16})\\b'
        keywords: [akia, asia]
        examples: [...]
        negative_examples: [...]

See docs/rules.md for every field.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from nhiguard import cache
from nhiguard.model import Rule, Severity

REQUIRED = ("id", "name", "pattern", "kind", "severity")
KNOWN = set(REQUIRED) | {
    "keywords",
    "references",
    "examples",
    "negative_examples",
    "min_entropy",
    "filters",
    "pairs_with",
    "ignore_case",
    "max_length",
    "starts_at_keyword",
    "provider",
    "description",
}
ID_RE = re.compile(r"^[a-z0-9]+(\.[a-z0-9][a-z0-9_-]*)+$")


class RuleError(ValueError):
    """A rule file or rule is invalid; the message names the file and rule."""


def _builtin_dir() -> str:
    return str(resources.files("nhiguard.rules") / "builtin")


def builtin_rule_files() -> list[Path]:
    return [Path(p) for p in _builtin_paths()]


def _builtin_paths() -> list[str]:
    # plain strings: start-up lists four hundred files, and Path objects cost more than stat
    root = _builtin_dir()
    return sorted(os.path.join(root, n) for n in os.listdir(root) if n.endswith(".yml"))


def _as_tuple(value: Any, field: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: '{field}' must be a list of strings")
    return tuple(value)


def parse_rule(raw: dict[str, Any], provider: str, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: each rule must be a mapping")
    missing = [k for k in REQUIRED if k not in raw]
    rid = raw.get("id", "?")
    if missing:
        raise RuleError(f"{where}: rule {rid}: missing {', '.join(missing)}")
    unknown = set(raw) - KNOWN
    if unknown:
        raise RuleError(f"{where}: rule {rid}: unknown field(s) {', '.join(sorted(unknown))}")
    if not ID_RE.match(str(rid)):
        raise RuleError(f"{where}: rule id {rid!r} must be dotted lower-case, e.g. acme.api-key")
    try:
        severity = Severity.parse(str(raw["severity"]))
    except ValueError as exc:
        raise RuleError(f"{where}: rule {rid}: {exc}") from None
    pattern = str(raw["pattern"]).strip()
    ignore_case = bool(raw.get("ignore_case", False))
    try:
        re.compile(pattern.encode(), re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise RuleError(f"{where}: rule {rid}: bad pattern: {exc}") from None
    keywords = tuple(k.lower() for k in _as_tuple(raw.get("keywords"), "keywords", where))
    try:
        min_entropy = float(raw.get("min_entropy", 0.0))
        max_length = int(raw.get("max_length", 4096))
    except (TypeError, ValueError):
        raise RuleError(f"{where}: rule {rid}: min_entropy must be a number and max_length an integer") from None
    if max_length <= 0 or min_entropy < 0:
        raise RuleError(f"{where}: rule {rid}: max_length must be positive and min_entropy not negative")
    if re.compile(pattern.encode(), re.IGNORECASE if ignore_case else 0).match(b""):
        raise RuleError(f"{where}: rule {rid}: pattern matches the empty string")
    filters = _as_tuple(raw.get("filters"), "filters", where)
    from nhiguard.engine.filters import unknown_filters

    if unknown_filters(filters):
        raise RuleError(f"{where}: rule {rid}: unknown filter(s) {', '.join(unknown_filters(filters))}")
    return Rule(
        id=str(rid),
        name=str(raw["name"]),
        pattern=pattern,
        kind=str(raw["kind"]),
        provider=str(raw.get("provider", provider)),
        severity=severity,
        keywords=keywords,
        references=_as_tuple(raw.get("references"), "references", where),
        examples=_as_tuple(raw.get("examples"), "examples", where),
        negative_examples=_as_tuple(raw.get("negative_examples"), "negative_examples", where),
        min_entropy=min_entropy,
        filters=filters,
        pairs_with=_as_tuple(raw.get("pairs_with"), "pairs_with", where),
        ignore_case=ignore_case,
        max_length=max_length,
        starts_at_keyword=bool(raw.get("starts_at_keyword", False)),
        source_file=where,
    )


_PARSED: dict[tuple[str, str], list[Rule]] = {}  # (path, content hash) -> rules, per process


def load_rule_file(path: Path) -> list[Rule]:
    """Parse one rule file; parsed files are cached (in memory and on disk) by content hash."""
    where = str(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"{where}: cannot read rule file: {exc.strerror}") from None
    key = (where, hashlib.sha256(raw_bytes).hexdigest()[:24])
    if key in _PARSED:
        return _PARSED[key]
    cached = _read_disk_cache(key)
    if cached is None:
        cached = _parse_rule_file(path, raw_bytes)
        _write_disk_cache(key, cached)
    _PARSED[key] = cached
    return cached


_FORMAT_VERSION = "3"


def _cache_name(key: tuple[str, str]) -> str:
    name = hashlib.sha256(f"{key[0]}\0{key[1]}\0{_FORMAT_VERSION}".encode()).hexdigest()[:32]
    return f"rules/{name}.pickle"


def _read_disk_cache(key: tuple[str, str]) -> list[Rule] | None:
    rules = cache.load(_cache_name(key))
    return rules if isinstance(rules, list) and all(isinstance(r, Rule) for r in rules) else None


def _write_disk_cache(key: tuple[str, str], rules: list[Rule]) -> None:
    cache.store(_cache_name(key), rules)


def _parse_rule_file(path: Path, raw_bytes: bytes) -> list[Rule]:
    where = str(path)
    try:
        import yaml  # only on a cache miss: start-up reads parsed rules from the cache

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster
        doc = yaml.load(raw_bytes.decode("utf-8"), Loader=loader)  # noqa: S506 - safe loader
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleError(f"{where}: cannot read rule file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise RuleError(f"{where}: expected a mapping with a 'rules' list")
    provider = str(doc.get("provider") or path.stem)
    return [parse_rule(raw, provider, where) for raw in doc["rules"]]


def load_rules(
    extra_files: Sequence[Path] = (),
    disabled: Iterable[str] = (),
    include_builtin: bool = True,
) -> list[Rule]:
    """Built-in rules, then user files (a user rule with a built-in's id replaces it)."""
    by_id: dict[str, Rule] = {}
    parsed = (_builtin_rules() if include_builtin else []) + [
        (str(f), load_rule_file(Path(f))) for f in extra_files
    ]
    seen_in: dict[str, str] = {}
    user_files = {str(f) for f in extra_files}
    for f, file_rules in parsed:
        for rule in file_rules:
            if rule.id in seen_in and seen_in[rule.id] == rule.source_file:
                raise RuleError(f"{f}: duplicate rule id {rule.id}")
            if rule.id in seen_in and seen_in[rule.id] in user_files:
                # a user rule may replace a built-in; two user rules of one id are a mistake
                raise RuleError(f"{f}: rule id {rule.id} is also defined in {seen_in[rule.id]}")
            by_id[rule.id] = rule
            seen_in[rule.id] = rule.source_file
    off = set(disabled)
    unknown = off - set(by_id)
    if unknown:
        raise RuleError(f"disabled rule id(s) not found: {', '.join(sorted(unknown))}")
    rules = [r for r in by_id.values() if r.id not in off]
    for r in rules:
        for other in r.pairs_with:
            if other not in by_id:
                raise RuleError(f"{r.source_file}: rule {r.id}: pairs_with unknown rule {other}")
    return rules


def _builtin_rules() -> list[tuple[str, list[Rule]]]:
    """The built-in rule files, parsed: one cache entry for all of them, keyed by every file's
    name, size and modification time (like compiled bytecode), so start-up reads one file
    instead of hashing four hundred."""
    files = _builtin_paths()
    sig = hashlib.sha256(_FORMAT_VERSION.encode())
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue  # load_rule_file reports it below
        sig.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    name = f"rules/builtin-{sig.hexdigest()[:32]}.pickle"
    bundle = cache.load(name)
    if (
        isinstance(bundle, list)
        and len(bundle) == len(files)
        and all(isinstance(b, tuple) and b[0] == f for b, f in zip(bundle, files, strict=True))
    ):
        return bundle
    bundle = [(f, load_rule_file(Path(f))) for f in files]
    cache.store(name, bundle)
    return bundle


def ruleset_hash(rules: Sequence[Rule]) -> str:
    """Stable id of a ruleset: a rescan reuses stored results only under the same hash."""
    h = hashlib.sha256()
    for r in sorted(rules, key=lambda r: r.id):
        fields = (r.id, r.pattern, r.kind, str(int(r.severity)), ",".join(r.keywords),
                  repr(r.min_entropy), ",".join(r.filters), ",".join(r.pairs_with),
                  str(r.ignore_case), str(r.max_length), str(r.starts_at_keyword))
        h.update("\x1f".join(fields).encode())
        h.update(b"\x1e")
    return h.hexdigest()[:16]


def with_severity(rule: Rule, severity: Severity) -> Rule:
    return replace(rule, severity=severity)
