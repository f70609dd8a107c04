"""`nhiguard rules check`: every example of a rule must match it, no negative example may."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nhiguard.engine import filters as F
from nhiguard.engine.matcher import Matcher
from nhiguard.model import Rule, blob_id


@dataclass(frozen=True, slots=True)
class Problem:
    rule_id: str
    where: str
    message: str


def _decode_example(text: str) -> bytes:
    return text.encode("utf-8")


def check_rules(rules: Sequence[Rule], use_hyperscan: bool | None = None) -> list[Problem]:
    problems: list[Problem] = []
    for r in rules:
        bad = F.unknown_filters(r.filters)
        if bad:
            problems.append(Problem(r.id, r.source_file, f"unknown filter(s): {', '.join(bad)}"))
        if not r.examples:
            problems.append(Problem(r.id, r.source_file, "has no examples"))
        if not r.negative_examples:
            problems.append(Problem(r.id, r.source_file, "has no negative_examples"))
        if not r.keywords:
            problems.append(Problem(r.id, r.source_file, "has no keywords"))
        problems.extend(Problem(r.id, r.source_file, msg) for msg in keyword_anchor_problems(r))
    if any(p.message.startswith("unknown filter") for p in problems):
        return problems
    matcher = Matcher(rules, use_hyperscan=use_hyperscan)
    for r in rules:
        for ex in r.examples:
            data = _decode_example(ex)
            hits = [m for m in matcher.scan(blob_id(data), data) if m.rule_id == r.id]
            if not hits:
                problems.append(Problem(r.id, r.source_file, f"example does not match: {ex[:80]!r}"))
        for ex in r.negative_examples:
            data = _decode_example(ex)
            hits = [m for m in matcher.scan(blob_id(data), data) if m.rule_id == r.id]
            if hits:
                problems.append(
                    Problem(r.id, r.source_file, f"negative example matches: {ex[:80]!r}")
                )
    return problems


def keyword_anchor_problems(rule: Rule) -> list[str]:
    """A rule that declares `starts_at_keyword` is confirmed only at keyword occurrences, so
    a match of its pattern anywhere else in its examples would be silently lost."""
    if not rule.starts_at_keyword:
        return []
    if not rule.keywords:
        return ["starts_at_keyword needs keywords"]
    regex = re.compile(rule.pattern.encode(), re.IGNORECASE if rule.ignore_case else 0)
    out = []
    for ex in (*rule.examples, *rule.negative_examples):
        data = _decode_example(ex)
        low = data.lower()
        for m in regex.finditer(data):
            if not any(low.startswith(k.encode(), m.start()) for k in rule.keywords):
                out.append(f"starts_at_keyword, but a match does not begin at a keyword: {ex[:80]!r}")
                break
    return out
