"""Reports of posture issues (`nhiguard ci-audit`), in the same formats as scan reports:
a table on a terminal, `json` (the issues and what was read), `jsonl` (one issue a line),
`sarif` (SARIF 2.1.0: a rule per check, tagged with its OWASP NHI risks) and `csv`.
Issues carry names of secrets and variables, never values."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import Any, TextIO

from nhiguard.model.issue import Check, Issue
from nhiguard.model.severity import Severity

FORMATS = ("table", "json", "jsonl", "sarif", "csv")
_SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
                Severity.LOW: "note", Severity.INFO: "note"}


def _name(sev: Severity) -> str:
    return str(sev).lower() if not hasattr(sev, "name") else sev.name.lower()


def ordered(issues: Sequence[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: (-int(i.level), i.check.id, i.locations[0].path if i.locations else "",
                                         i.locations[0].line if i.locations else 0, i.message))


def issue_dict(i: Issue) -> dict[str, Any]:
    return {
        "check_id": i.check.id,
        "title": i.check.title,
        "owasp": list(i.check.owasp),
        "severity": _name(i.level),
        "message": i.message,
        "locations": [{"path": loc.path, "line": loc.line, "column": loc.column, **loc.context}
                      for loc in i.locations],
        "evidence": i.evidence,
        "advice": i.check.advice,
    }


def write(fmt: str, issues: Sequence[Issue], stream: TextIO, *, version: str, paths: Sequence[str],
          files: Sequence[str], errors: Sequence[tuple[str, str]], checks: Sequence[Check]) -> None:
    issues = ordered(issues)
    if fmt == "json":
        doc = {"version": version,
               "audit": {"paths": list(paths), "files": list(files),
                         "errors": [{"path": p, "message": m} for p, m in errors]},
               "summary": {"issues": len(issues),
                           "by_severity": {_name(s): sum(1 for i in issues if i.level == s)
                                           for s in sorted(Severity, reverse=True)}},
               "issues": [issue_dict(i) for i in issues]}
        json.dump(doc, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    elif fmt == "jsonl":
        for i in issues:
            stream.write(json.dumps(issue_dict(i), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        w = csv.writer(stream, lineterminator="\n")
        w.writerow(["check_id", "severity", "owasp", "path", "line", "job", "step", "message"])
        for i in issues:
            for loc in i.locations or ():
                w.writerow([i.check.id, _name(i.level), " ".join(i.check.owasp), _cell(loc.path), loc.line,
                            _cell(str(loc.context.get("job", ""))), _cell(str(loc.context.get("step", ""))),
                            _cell(i.message)])
    elif fmt == "sarif":
        json.dump(_sarif(issues, version, checks), stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    else:
        _table(issues, stream, files, errors)


def _cell(value: str) -> str:
    """A spreadsheet must not read a file name or message as a formula."""
    return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value


def _sarif(issues: Sequence[Issue], version: str, checks: Sequence[Check]) -> dict[str, Any]:
    used = {i.check.id for i in issues}
    rules = [c for c in checks if c.id in used or c.id != "ci.unreadable-config"]
    index = {c.id: n for n, c in enumerate(rules)}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "nhiguard",
                "version": version,
                "informationUri": "https://owasp.org/www-project-non-human-identities-top-10/",
                "rules": [{
                    "id": c.id,
                    "name": c.id.split(".", 1)[-1].replace("-", " ").title().replace(" ", ""),
                    "shortDescription": {"text": c.title},
                    "fullDescription": {"text": f"{c.title}. {c.advice}"},
                    "help": {"text": c.advice},
                    **({"helpUri": c.references[0]} if c.references else {}),
                    "defaultConfiguration": {"level": _SARIF_LEVEL[c.severity]},
                    "properties": {"tags": ["security", "non-human-identity", *c.owasp],
                                   "security-severity": _security_severity(c.severity)},
                } for c in rules],
            }},
            "results": [{
                "ruleId": i.check.id,
                "ruleIndex": index[i.check.id],
                "level": _SARIF_LEVEL[i.level],
                "message": {"text": i.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": loc.path},
                    "region": {"startLine": max(1, loc.line), "startColumn": max(1, loc.column)},
                }} for loc in i.locations],
                "properties": {"owasp": list(i.check.owasp), "severity": _name(i.level)},
            } for i in issues],
        }],
    }


def _security_severity(sev: Severity) -> str:
    return {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
            Severity.LOW: "3.0", Severity.INFO: "1.0"}[sev]


def _table(issues: Sequence[Issue], stream: TextIO, files: Sequence[str],
           errors: Sequence[tuple[str, str]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=False)
    console.print(Text(f"nhiguard ci-audit: {len(files)} file(s) audited, {len(issues)} issue(s)"))
    if not issues:
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in ("Severity", "Check", "OWASP", "Location", "Message"):
        table.add_column(col, overflow="fold")
    for i in issues:
        loc = i.locations[0] if i.locations else None
        where = f"{loc.path}:{loc.line}" if loc else ""
        table.add_row(Text(_name(i.level)), Text(i.check.id), Text(" ".join(i.check.owasp)), Text(where),
                      Text(i.message))
    console.print(table)
