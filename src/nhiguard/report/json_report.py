"""The `json` report: one JSON document with the scan's bookkeeping and every finding.

Its shape is a published contract, `schemas/report.schema.json` (JSON Schema draft
2020-12); see docs/output-formats.md. Change both together.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from importlib import resources
from typing import Any, ClassVar, TextIO

from nhiguard.model import Severity
from nhiguard.report.common import Sanitizer, error_dict, finding_dict, ordered
from nhiguard.report.results import ScanResults

SCHEMA_RESOURCE = "schemas/report.schema.json"


@cache
def _schema_text() -> str:
    return resources.files("nhiguard.report").joinpath(SCHEMA_RESOURCE).read_text("utf-8")


def report_schema() -> dict[str, Any]:
    """The JSON Schema of the `json` report (a fresh copy; callers may change it)."""
    return json.loads(_schema_text())


def report_dict(results: ScanResults) -> dict[str, Any]:
    """The `json` report as a JSON-ready dict, already sanitised."""
    st = results.stats
    findings = ordered(results.findings)
    counts = Counter(int(f.severity) for f in findings)
    doc: dict[str, Any] = {
        "version": results.tool_version,
        "scan": {
            "targets": list(st.targets),
            "bytes_scanned": st.bytes_scanned,
            "blobs_scanned": st.blobs_scanned,
            "blobs_seen": st.blobs_seen,
            "blobs_reused": st.blobs_reused,
            "started_at": st.started_at or None,
            "finished_at": st.finished_at or None,
            "duration_s": float(st.duration_s),
            "engine": st.engine,
            "errors": [error_dict(e) for e in st.errors],
            "skipped": [error_dict(e) for e in st.skipped],
        },
        "summary": {
            "findings": len(findings),
            "by_severity": {s.name.lower(): counts.get(int(s), 0) for s in reversed(Severity)},
        },
        "findings": [finding_dict(f, results.show_secrets) for f in findings],
    }
    return Sanitizer(results).tree(doc)


class JsonReporter:
    """One JSON document (see `report_schema()`): the top level indented, one error and one
    finding per line, so it reads and diffs well and is written by the C encoder (indenting
    every level goes through the pure-Python one, ten times slower on big reports)."""

    name: ClassVar[str] = "json"
    human: ClassVar[bool] = False
    extension: ClassVar[str] = ".json"

    def write(self, results: ScanResults, stream: TextIO) -> None:
        # ensure_ascii (the default): the output is plain ASCII, so it survives any encoding.
        write_lined(report_dict(results), stream)


def write_lined(doc: dict[str, Any], stream: TextIO) -> None:
    """`doc` as JSON with its keys on their own lines and lists of objects one item per line."""
    stream.write("{")
    for i, (key, value) in enumerate(doc.items()):
        stream.write(("," if i else "") + f"\n  {json.dumps(key)}: ")
        if isinstance(value, list) and value:
            stream.write("[\n    " + ",\n    ".join(json.dumps(v) for v in value) + "\n  ]")
        elif isinstance(value, dict) and value:
            inner = ",\n    ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            stream.write("{\n    " + inner + "\n  }")
        else:
            stream.write(json.dumps(value))
    stream.write("\n}\n")
