"""`nhiguard rules check`: every example of a rule must match it, no negative example may."""

from __future__ import annotations

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
