#!/usr/bin/env python3
"""Findings side by side on the benchmark directory corpus (real code, very few real secrets).

What this script owns: running nhiguard, Kingfisher, gitleaks and detect-secrets on the same
directory and printing how much each reports, in each tool's own unit (nhiguard: one finding
per rule + secret; Kingfisher and gitleaks: one per place; detect-secrets: one per file, line
and type) and as distinct places (file, line), the one unit all four share. Places reported
by a peer and not by nhiguard (in the same file within two lines) are listed, so that a
loss of recall shows.

By default it scans the quick corpus (the standard library proper, 40 MB): detect-secrets
reads about 0.35 MB/s. `--max-mb N` picks another cap, `--full` the whole corpus of
bench/run.py. Peers come from bench/run.py's virtualenv (bench/.peers/venv); detect-secrets
is installed there too.

    .venv/bin/python bench/findings.py                 # quick corpus, all four tools
    .venv/bin/python bench/findings.py --peers kingfisher,gitleaks --full
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402 - the shared corpus, peer installation and measurement

PEERS = ("kingfisher", "gitleaks", "detect-secrets")


def places(tool: str, out: Path, root: Path) -> set[tuple[str, int]]:
    """(path relative to the corpus root, line) of every place a tool reported."""
    text = out.read_text(errors="replace")
    found: set[tuple[str, int]] = set()

    def rel(p: str) -> str:
        try:
            return str(Path(p).resolve().relative_to(root))
        except ValueError:
            return p

    if tool == "nhiguard":
        for f in json.loads(text)["findings"]:
            for loc in f["locations"]:
                found.add((rel(str(root / loc["path"])), int(loc.get("line") or 0)))
    elif tool == "kingfisher":
        for line in text.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "finding" in obj:
                found.add((rel(obj["finding"]["path"]), int(obj["finding"].get("line") or 0)))
    elif tool == "gitleaks":
        for f in json.loads(text or "[]"):
            found.add((rel(f["File"]), int(f["StartLine"])))
    elif tool == "detect-secrets":
        for path, hits in json.loads(text)["results"].items():
            for h in hits:
                found.add((rel(path), int(h["line_number"])))  # relative to our cwd
    return found


def uncovered(theirs: set[tuple[str, int]], ours: set[tuple[str, int]], slack: int = 2) -> list:
    """Places of `theirs` with no place of `ours` in the same file within `slack` lines: tools
    put a multi-line secret at different lines (a private key at its BEGIN line or its body)."""
    by_file: dict[str, list[int]] = {}
    for path, line in ours:
        by_file.setdefault(path, []).append(line)
    return sorted((path, line) for path, line in theirs
                  if not any(abs(line - n) <= slack for n in by_file.get(path, ())))


def own_count(tool: str, out: Path) -> int | None:
    if tool == "detect-secrets":
        return sum(len(v) for v in json.loads(out.read_text())["results"].values())
    return bench.count_findings(tool, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-mb", type=int, default=bench.QUICK_MB, help="corpus cap in MB")
    ap.add_argument("--full", action="store_true", help="the whole directory corpus")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers, or 'none'")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    corpus = bench.ensure_corpus(None if args.full else args.max_mb)
    root = Path(corpus.tree).resolve()
    nhg = bench.nhiguard_tool()
    if nhg is None:
        return 2
    wanted = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    tools = [nhg, *bench.ensure_peers(wanted)]
    out_dir = bench.WORK / "findings"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, seen = [], {}
    for tool in tools:
        out = out_dir / f"{tool.name}.out"
        store = out_dir / "nhiguard.db"
        store.unlink(missing_ok=True)
        argv_ = bench.tool_argv(tool, "dir", root, out, store)
        label = f"findings-{tool.name}"
        bench.log(f"{label}: {' '.join(argv_)}")
        r = bench.measure(argv_, ok_codes=tool.ok_codes, env=bench.tool_env(), log_name=label)
        if tool.name == "detect-secrets":  # it writes its report to standard output
            out.write_bytes((bench.LOGS / f"{label}.stdout").read_bytes())
        if not r.ok:
            bench.log(f"  -> FAILED (exit {r.exit_code}); see {bench.LOGS / (label + '.stderr')}")
            rows.append({"tool": tool.name, "ok": False})
            continue
        seen[tool.name] = places(tool.name, out, root)
        rows.append({"tool": tool.name, "ok": True, "wall_s": round(r.wall_s, 2),
                     "own_unit": own_count(tool.name, out), "places": len(seen[tool.name])})

    mb = corpus.tree_bytes / bench.MB
    print(f"\nfindings on {root} ({mb:.1f} MB in {corpus.tree_files} files)")
    print(f"{'tool':<16}{'findings (own unit)':>22}{'places (file, line)':>22}{'wall s':>10}"
          f"{'places only this tool':>24}")
    ours = seen.get("nhiguard", set())
    for row in rows:
        if not row["ok"]:
            print(f"{row['tool']:<16}{'FAILED':>22}")
            continue
        mine = seen[row["tool"]]
        others = set().union(*(v for k, v in seen.items() if k != row["tool"])) if len(seen) > 1 else set()
        print(f"{row['tool']:<16}{row['own_unit']!s:>22}{row['places']:>22}{row['wall_s']:>10}"
              f"{len(mine - others):>24}")
    for name, theirs in seen.items():
        if name == "nhiguard":
            continue
        missed = uncovered(theirs, ours)
        print(f"\nplaces {name} reports and nhiguard does not ({len(missed)}):")
        for path, line in missed[:40]:
            print(f"  {path}:{line}")
        if len(missed) > 40:
            print(f"  ... and {len(missed) - 40} more")
    if args.json:
        args.json.write_text(json.dumps({"corpus": str(root), "mb": mb, "rows": rows,
                                         "missed": {k: uncovered(v, ours) for k, v in seen.items()
                                                    if k != "nhiguard"}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
