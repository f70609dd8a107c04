"""Accuracy on the labelled rule-example corpus (shared/corpus/rule_examples.jsonl).

Targets of the first release: recall >= 0.70 over the positives of the noseyparker,
gitleaks and kingfisher sources together, and at most 5% false reports on the negatives of
noseyparker and gitleaks. Labels are relative to one upstream rule, so three false-report
rates are printed: strict (any finding on a negative), excluding negatives whose exact text
is labelled positive elsewhere in the corpus, and "same credential" (a finding that claims
the upstream rule's own credential, or a generic secret; see rules/evaluate.py). The 5%
target is asserted on the last; the other two are held to their current values so that
they cannot silently get worse. The figures are written to build/accuracy.txt, which
tests/run.sh prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nhiguard.rules.evaluate import combined, evaluate, format_table, read_corpus
from nhiguard.rules.loader import load_rules

OUT = Path(__file__).resolve().parents[2] / "build" / "accuracy.txt"


@pytest.fixture(scope="module")
def figures(shared):
    records = read_corpus(shared / "corpus" / "rule_examples.jsonl")
    figs = evaluate(records, load_rules())
    main = combined(figs, ["noseyparker", "gitleaks", "kingfisher"])
    neg = combined(figs, ["noseyparker", "gitleaks"])
    text = (
        format_table(figs)
        + f"\nrecall noseyparker+gitleaks+kingfisher: {main.found}/{main.positives} = {main.recall:.3f}"
        + f"\nrecall trufflehog: {figs['trufflehog'].recall:.3f}"
        + f"\nfalse reports noseyparker+gitleaks: {neg.reported}/{neg.negatives} = {neg.false_rate:.3f}"
        + f"; excluding relabelled texts: {neg.reported_distinct}/{neg.negatives_distinct}"
        + f" = {neg.false_rate_distinct:.3f}"
        + f"; same credential: {neg.reported_same}/{neg.negatives_distinct} = {neg.false_rate_same:.3f}\n"
    )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(text)
    return figs, main, neg


# Today's figures (issue 2 asked for 0.70 on the main sources): they may only go up.
MAIN_RECALL_FLOOR, TRUFFLEHOG_RECALL_FLOOR = 0.82, 0.92


def test_recall_on_main_sources(figures):
    _, main, _ = figures
    assert main.recall >= 0.70, f"recall {main.recall:.3f}"
    assert main.recall >= MAIN_RECALL_FLOOR, f"recall {main.recall:.3f} fell below {MAIN_RECALL_FLOOR}"


def test_recall_on_trufflehog_does_not_fall(figures):
    figs, _, _ = figures
    assert figs["trufflehog"].recall >= TRUFFLEHOG_RECALL_FLOOR, f"{figs['trufflehog'].recall:.3f}"


# The negatives that are still reported, by class (none is a placeholder):
# - a valid documented credential of another kind than the upstream rule's (not counted by
#   "same credential"): Cloudflare global API keys (37 hex) among the API-token and origin-CA
#   negatives, Slack xoxp user tokens among the bot-token negatives, an Anthropic admin key
#   among the API-key negatives;
# - the upstream rule's own format in a context its regex does not take: a New Relic
#   licence key ending in NRAL, a Mailchimp key after `initialize(token:`, an Auth0 client
#   secret whose domain follows it, NuGet `ClearTextPassword` values in a file whose name
#   upstream's path pattern does not accept;
# - a random value assigned to a credential name (generic rules): two Gitalk `clientSecret`s
#   (GitHub OAuth app secrets, 40 hex), `key = <45 random characters>`,
#   `AWS_SECRET_ACCESS_KEY` with 42 hex characters, two `meraki` values, a Twitch stream key
#   without its `live_` prefix; S3-compatible stores take their secrets as
#   AWS_SECRET_ACCESS_KEY with other lengths, so the name alone does not fix the shape;
# - a JWT sent as `Authorization: Basic <jwt>`.
FALSE_REPORT_TARGET = 0.05
STRICT_BOUND, DISTINCT_BOUND = 0.13, 0.085  # today's figures: they may only go down


def test_false_reports_on_negatives(figures):
    _, _, neg = figures
    assert neg.false_rate_same <= FALSE_REPORT_TARGET, f"same-credential false reports {neg.false_rate_same:.3f}"
    assert neg.false_rate_distinct <= DISTINCT_BOUND, f"false reports {neg.false_rate_distinct:.3f}"
    assert neg.false_rate <= STRICT_BOUND, f"strict false reports {neg.false_rate:.3f}"


def test_same_credential_rate_counts_generic_and_equivalent_rules_only():
    """A negative reported under the upstream rule's own equivalent, or as a generic secret,
    counts; a credential of another kind does not; an unknown upstream rule counts anything."""
    from nhiguard.model import Rule, Severity

    def rule(rid, pattern, provider, kw):
        return Rule(id=rid, name=rid, pattern=pattern, kind="api_key", provider=provider,
                    severity=Severity.HIGH, keywords=(kw,))

    rules = [rule("t.bot", r"\b(xoxb-[0-9]{6})\b", "acme", "xoxb"),
             rule("t.user", r"\b(xoxp-[0-9]{6})\b", "acme", "xoxp"),
             rule("t.gen", r"secret=([a-z0-9]{8})", "generic", "secret=")]
    recs = [{"source": "s", "rule_id": "bot", "text": "xoxb-123456", "label": True},
            {"source": "s", "rule_id": "bot", "text": "xoxp-654321", "label": False},  # other kind
            {"source": "s", "rule_id": "bot", "text": "xoxb-999999 ", "label": False},  # same rule
            {"source": "s", "rule_id": "bot", "text": "secret=a1b2c3d4", "label": False},  # generic
            {"source": "s", "rule_id": "orphan", "text": "xoxp-111111", "label": False}]  # no positives
    fig = evaluate(recs, rules, use_hyperscan=False)["s"]
    assert (fig.reported, fig.reported_distinct, fig.reported_same) == (4, 4, 3)


def test_every_source_is_measured(figures):
    figs, _, _ = figures
    assert {"noseyparker", "gitleaks", "kingfisher", "trufflehog"} <= set(figs)


@pytest.mark.parametrize("line,message", [
    (b'{"text": 5, "label": true}', "'text' must be a string"),
    (b'{"text": "x", "label": "negative"}', "'label' must be true or false"),
    (b'{"text": "x", "label": 1}', "'label' must be true or false"),
    (b'{"text": "\\xff"', "invalid JSON"),
    (b'{"text": "\xff", "label": true}', "not UTF-8"),
    (b'["text", "label"]', "needs 'text' and 'label'"),
])
def test_a_malformed_corpus_line_is_named(tmp_path, line, message):
    p = tmp_path / "c.jsonl"
    p.write_bytes(b'{"text": "ok", "label": false}\n' + line + b"\n")
    with pytest.raises(ValueError, match=rf"c\.jsonl:2: .*{message}"):
        read_corpus(p)


def test_rules_eval_cli_reports_per_source(tmp_path):
    from tests.integration.cli_helpers import nhiguard

    p = tmp_path / "c.jsonl"
    p.write_text('{"source": "a", "text": "SLACK=xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx", "label": true}\n'
                 '{"source": "a", "text": "hello world", "label": false}\n')
    run = nhiguard("rules", "eval", p, "-f", "json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert run.report["a"]["recall"] == 1.0 and run.report["a"]["false_rate"] == 0.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": 5, "label": true}\n')
    run = nhiguard("rules", "eval", bad, cwd=tmp_path)
    assert run.code == 2 and "Traceback" not in run.stderr and "bad.jsonl:1" in run.stderr
