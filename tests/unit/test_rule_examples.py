"""Every example of every built-in rule matches it; no negative example does (both engines)."""

from __future__ import annotations

import pytest

from nhiguard.engine.matcher import Matcher
from nhiguard.model import blob_id
from nhiguard.rules.loader import load_rules

RULES = load_rules()
CASES = [(r.id, ex, True) for r in RULES for ex in r.examples] + [
    (r.id, ex, False) for r in RULES for ex in r.negative_examples
]
_MATCHERS: dict[str, Matcher] = {}


def matcher(engine: str) -> Matcher:
    if engine not in _MATCHERS:
        _MATCHERS[engine] = Matcher(RULES, use_hyperscan=engine == "hyperscan")
    return _MATCHERS[engine]


def test_enough_rules_with_examples():
    assert len(RULES) >= 120
    for r in RULES:
        assert r.examples and r.negative_examples and r.keywords and r.references, r.id


@pytest.mark.parametrize("rule_id,example,positive", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_example(engine, rule_id, example, positive):
    data = example.encode()
    hits = [m for m in matcher(engine).scan(blob_id(data), data) if m.rule_id == rule_id]
    assert bool(hits) is positive


def test_keyword_anchored_rules_begin_at_their_keywords():
    from nhiguard.rules.linter import keyword_anchor_problems

    anchored = [r for r in RULES if r.starts_at_keyword]
    assert anchored, "no built-in rule uses the anchored confirm"
    assert {r.id: keyword_anchor_problems(r) for r in anchored} == {r.id: [] for r in anchored}


def test_two_user_rule_files_with_one_id_are_an_error_but_replacing_a_builtin_is_not(tmp_path):
    from nhiguard.rules.loader import RuleError, load_rules

    body = """rules:
  - id: nhiguard.github.classic-pat
    name: mine
    pattern: 'ghp_[A-Za-z0-9]{36}'
    kind: github_pat
    severity: high
    keywords: [ghp_]
    examples: ['ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']
    negative_examples: ['ghp_short']
"""
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    a.write_text(body)
    b.write_text(body)
    replaced = {r.id: r for r in load_rules([a])}
    assert replaced["nhiguard.github.classic-pat"].name == "mine"
    with pytest.raises(RuleError, match="also defined in"):
        load_rules([a, b])
