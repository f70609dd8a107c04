#!/usr/bin/env python3
"""Line-level accuracy on CredData-lite (../shared/credbench): real source files with human
labels per line range. Runs nhiguard and, side by side, the peers of bench/run.py
(Kingfisher, gitleaks; installed into bench/.peers by that script's installer), then
scores every tool the way the corpus README says:

- a true (T) label is found when a finding of the tool lies on one of its lines;
- a finding on a line covered only by false (F/X) labels is a false positive, counted once
  per F/X label it hits;
- findings on unlabelled lines are counted apart as `unlabelled` (neither right nor wrong).

Precision = TP / (TP + FP), recall = TP / (TP + FN). Printed with and without the labels
whose category is only `UUID` (CredData labels bare UUIDs as credentials; most scanners,
nhiguard included, do not report a UUID without a credential name next to it).

Usage: .venv/bin/python bench/credbench.py [--peers kingfisher,gitleaks|none] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 - the peer installer and argv builders of the main bench

SHARED = Path(os.environ.get("NHIGUARD_SHARED", bench.ROOT.parent / "shared"))
CORPUS = SHARED / "credbench"


@dataclass
class Score:
    tp: int = 0
    fn: int = 0
    fp: int = 0
    unlabelled: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def read_labels() -> list[dict]:
    with open(CORPUS / "labels.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def is_uuid_only(label: dict) -> bool:
    return set((label.get("category") or "").split(":")) == {"UUID"}


def score(hits: dict[str, set[int]], labels: list[dict]) -> Score:
    """`hits`: file (relative to files/) -> lines with at least one finding."""
    s = Score()
    covered: dict[str, set[int]] = defaultdict(set)
    for lab in labels:
        lines = range(lab["line_start"], lab["line_end"] + 1)
        covered[lab["file"]].update(lines)
        hit = any(n in hits.get(lab["file"], ()) for n in lines)
        if lab["ground_truth"]:
            s.tp += hit
            s.fn += not hit
        else:
            s.fp += hit
    for f, lines in hits.items():
        s.unlabelled += len(lines - covered.get(f, set()))
    return s


def _rel(path: str, root: Path) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            return p.as_posix()
    return p.as_posix()


def nhiguard_hits(out: Path, root: Path) -> dict[str, set[int]]:
    hits: dict[str, set[int]] = defaultdict(set)
    for f in json.loads(out.read_text())["findings"]:
        for loc in f["locations"]:
            if loc.get("path") and loc.get("line"):
                hits[_rel(loc["path"], root)].add(int(loc["line"]))
    return hits


def gitleaks_hits(out: Path, root: Path) -> dict[str, set[int]]:
    hits: dict[str, set[int]] = defaultdict(set)
    text = out.read_text() if out.exists() else ""
    for f in json.loads(text) if text.strip() else []:
        hits[_rel(f["File"], root)].add(int(f["StartLine"]))
    return hits


def kingfisher_hits(out: Path, root: Path) -> dict[str, set[int]]:
    hits: dict[str, set[int]] = defaultdict(set)
    for line in out.read_text().splitlines() if out.exists() else []:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        f = obj.get("finding") if isinstance(obj, dict) else None
        if isinstance(f, dict) and f.get("path") and f.get("line"):
            hits[_rel(f["path"], root)].add(int(f["line"]))
    return hits


PARSERS = {"nhiguard": nhiguard_hits, "gitleaks": gitleaks_hits, "kingfisher": kingfisher_hits}


def run_tool(tool: bench.Tool, root: Path, work: Path) -> dict[str, set[int]]:
    out = work / f"{tool.name}.out"
    store = work / "nhiguard.db" if tool.name == "nhiguard" else None
    argv = bench.tool_argv(tool, "dir", root, out, store)
    if tool.name == "nhiguard":
        # the labelled files are given as they are: no binary sniffing or size surprises
        argv += ["--max-file-size", "8MB"]
    r, _ = bench.run_tool(tool, argv, out, f"credbench-{tool.name}")
    if not r.ok:
        raise RuntimeError(f"{tool.name} failed: {r.stderr_tail}")
    return PARSERS[tool.name](out, root)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", default=os.environ.get("NHIGUARD_BENCH_PEERS", "kingfisher,gitleaks"),
                    help="comma-separated peers, or 'none'")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if not (CORPUS / "labels.jsonl").exists():
        print(f"credbench: {CORPUS} not found (set NHIGUARD_SHARED)", file=sys.stderr)
        return 2
    root = CORPUS / "files"
    labels = read_labels()
    no_uuid = [lab for lab in labels if not is_uuid_only(lab)]
    tools = [t for t in [bench.nhiguard_tool()] if t]
    if args.peers != "none":
        tools += bench.ensure_peers([p for p in args.peers.split(",") if p])
    rows = {}
    with tempfile.TemporaryDirectory(prefix="nhiguard-credbench-") as tmp:
        for tool in tools:
            bench.log(f"credbench: {tool.name} {tool.version}")
            hits = run_tool(tool, root, Path(tmp))
            rows[tool.name] = {"all": score(hits, labels), "no_uuid": score(hits, no_uuid)}
    print(f"\nCredData-lite: {len(labels)} labels ({sum(lab['ground_truth'] for lab in labels)} true) "
          f"in {len({lab['file'] for lab in labels})} files; line-level scoring")
    print(f"{'tool':12s} {'labels':8s} {'TP':>5s} {'FN':>5s} {'FP':>5s} {'unlab':>6s} "
          f"{'precision':>9s} {'recall':>7s} {'F1':>6s}")
    for name, r in rows.items():
        for part in ("no_uuid", "all"):
            s = r[part]
            print(f"{name:12s} {'no UUID' if part == 'no_uuid' else 'all':8s} {s.tp:5d} {s.fn:5d} "
                  f"{s.fp:5d} {s.unlabelled:6d} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f}")
    print("target (issue 3): nhiguard F1 >= 0.85 without UUID labels")
    if args.json:
        args.json.write_text(json.dumps({n: {p: vars(s) | {"precision": s.precision, "recall": s.recall,
                                                          "f1": s.f1} for p, s in r.items()}
                                         for n, r in rows.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
