"""`nhiguard posture` output: a JSON list of {check_id, owasp, identity, severity, message,
evidence} (plus the identity's kind and name), CSV, or a table grouped by severity."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from nhiguard.model.issue import IdentityIssue
from nhiguard.report.common import printable


def issue_dict(i: IdentityIssue) -> dict[str, Any]:
    return {"check_id": i.check.id, "title": i.check.title, "owasp": list(i.check.owasp), "identity": i.identity,
            "kind": i.kind, "name": i.name, "severity": str(i.level), "message": i.message,
            "evidence": i.evidence, "advice": i.check.advice}


def write(fmt: str, issues: Sequence[IdentityIssue], stream: TextIO) -> None:
    if fmt == "json":
        json.dump([issue_dict(i) for i in issues], stream, indent=2, ensure_ascii=False, default=str)
        stream.write("\n")
    elif fmt == "csv":
        w = csv.writer(stream, lineterminator="\n")
        w.writerow(["check_id", "owasp", "severity", "identity", "kind", "name", "message"])
        for i in issues:
            w.writerow([i.check.id, " ".join(i.check.owasp), str(i.level), i.identity, i.kind, _cell(i.name),
                        _cell(i.message)])
    else:
        if not issues:
            stream.write("no posture issues\n")
            return
        for i in issues:
            stream.write(printable(f"{str(i.level).upper():8} {i.check.id:26} {' '.join(o.split(':')[0] for o in i.check.owasp):10} "
                                   f"{i.identity[:10]}  {i.message}") + "\n")
        counts = Counter(i.level for i in issues)
        by_owasp = Counter(o.split(":")[0] for i in issues for o in i.check.owasp)
        stream.write(f"\n{len(issues)} issue(s): " + ", ".join(f"{counts[s]} {s}" for s in sorted(counts, reverse=True))
                     + "; by OWASP NHI: " + ", ".join(f"{k} {n}" for k, n in sorted(by_owasp.items(),
                                                                                   key=lambda kv: int(kv[0][3:]))) + "\n")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value
