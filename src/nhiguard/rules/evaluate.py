"""Measure a ruleset on a labelled example corpus (`nhiguard rules eval`).

The corpus is JSON Lines with at least `source`, `text` and `label` (true: a secret
scanner should report something on `text`). Recall is the share of positives with at
least one finding; the false-report rate is the share of negatives with one. Labels in
public rule suites are relative to one upstream rule, so the same text can be a positive
for one rule and a negative for another: `false_rate_distinct` leaves out negatives whose
exact text is also labelled positive somewhere in the corpus. Records marked
`upstream_fixme` are left out.

A negative says only that its upstream rule must not fire: it may hold a real credential of
another kind (a Slack user token among the negatives of a bot-token rule, a Cloudflare global
key among those of the API-token rule). `reported_same` counts the negatives on which
nhiguard reports *the same credential as the upstream rule*: a finding of a rule that fires on
that upstream rule's positives in the corpus (its nhiguard equivalents), or of any generic or
contextual rule (which claims "a secret" of no particular kind), or any finding at all when
the upstream rule has no positives to learn its equivalents from. It is printed beside the
strict figures, never instead of them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nhiguard.engine.matcher import is_contextual
from nhiguard.engine.worker import BlobTask, Worker, WorkerConfig
from nhiguard.model import Rule
from nhiguard.sources.base import BytesLoader


@dataclass
class SourceFigures:
    positives: int = 0
    found: int = 0
    negatives: int = 0
    reported: int = 0
    negatives_distinct: int = 0
    reported_distinct: int = 0
    reported_same: int = 0  # distinct negatives reported as the upstream rule's own credential
    missed: list[dict] = field(default_factory=list)
    false_reports: list[dict] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else 0.0

    @property
    def false_rate(self) -> float:
        return self.reported / self.negatives if self.negatives else 0.0

    @property
    def false_rate_distinct(self) -> float:
        return self.reported_distinct / self.negatives_distinct if self.negatives_distinct else 0.0

    @property
    def false_rate_same(self) -> float:
        return self.reported_same / self.negatives_distinct if self.negatives_distinct else 0.0

    def add(self, other: SourceFigures) -> None:
        for name in ("positives", "found", "negatives", "reported", "negatives_distinct", "reported_distinct",
                     "reported_same"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def read_corpus(path: Path) -> list[dict]:
    """The records of a corpus file; a malformed one is a ValueError naming file and line."""
    records = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{path}:{n}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: invalid JSON: {exc}") from None
            if not isinstance(rec, dict) or "text" not in rec or "label" not in rec:
                raise ValueError(f"{path}:{n}: a record needs 'text' and 'label'")
            if not isinstance(rec["text"], str):
                raise ValueError(f"{path}:{n}: 'text' must be a string")
            if not isinstance(rec.get("source", ""), str) or not isinstance(rec.get("rule_id", ""), str):
                raise ValueError(f"{path}:{n}: 'source' and 'rule_id' must be strings")
            if not isinstance(rec["label"], bool):
                # "negative" or 0 read as true by accident would turn negatives into positives
                raise ValueError(f"{path}:{n}: 'label' must be true or false")
            records.append(rec)
    if not records:
        raise ValueError(f"{path}: no records")
    return records


def evaluate(records: Iterable[dict], rules: Sequence[Rule], use_hyperscan: bool | None = None) -> dict[str, SourceFigures]:
    records = [r for r in records if not r.get("upstream_fixme")]
    positive_texts = {r["text"] for r in records if r["label"]}
    worker = Worker(WorkerConfig(tuple(rules), b"nhiguard-eval", False,
                                 bool(use_hyperscan) if use_hyperscan is not None else _hs(), None, True))
    contextual = {r.id for r in rules if is_contextual(r)}
    fired = [{m.rule_id for m in worker.run_one(BlobTask(i, BytesLoader(_bytes(rec)), None)).matches}
             for i, rec in enumerate(records)]
    equivalents: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec, ids in zip(records, fired, strict=True):
        if rec["label"]:
            equivalents[_upstream(rec)].update(ids - contextual)
    figures: dict[str, SourceFigures] = defaultdict(SourceFigures)
    for rec, ids in zip(records, fired, strict=True):
        hit = bool(ids)
        fig = figures[str(rec.get("source", "corpus"))]
        brief = {k: rec.get(k) for k in ("id", "rule_id", "provider")}
        if rec["label"]:
            fig.positives += 1
            fig.found += hit
            if not hit:
                fig.missed.append(brief)
        else:
            fig.negatives += 1
            fig.reported += hit
            if rec["text"] not in positive_texts:
                fig.negatives_distinct += 1
                fig.reported_distinct += hit
                same = equivalents.get(_upstream(rec))
                fig.reported_same += bool(ids & (contextual | same) if same else ids)
            if hit:
                fig.false_reports.append(brief)
    return dict(figures)


def _bytes(rec: dict) -> bytes:
    return rec["text"].encode("utf-8", "surrogatepass")


def _upstream(rec: dict) -> tuple[str, str]:
    return str(rec.get("source", "corpus")), str(rec.get("rule_id", ""))


def _hs() -> bool:
    from nhiguard.engine.matcher import hyperscan_available

    return hyperscan_available()


def combined(figures: dict[str, SourceFigures], sources: Iterable[str]) -> SourceFigures:
    total = SourceFigures()
    for s in sources:
        if s in figures:
            total.add(figures[s])
    return total


def format_table(figures: dict[str, SourceFigures]) -> str:
    lines = [f"{'source':<14}{'recall':>18}{'false reports':>20}{'excl. relabelled':>20}"
             f"{'same credential':>20}"]
    for name, f in sorted(figures.items()):
        lines.append(
            f"{name:<14}{f'{f.found}/{f.positives} {f.recall:.3f}':>18}"
            f"{f'{f.reported}/{f.negatives} {f.false_rate:.3f}':>20}"
            f"{f'{f.reported_distinct}/{f.negatives_distinct} {f.false_rate_distinct:.3f}':>20}"
            f"{f'{f.reported_same}/{f.negatives_distinct} {f.false_rate_same:.3f}':>20}"
        )
    return "\n".join(lines)
