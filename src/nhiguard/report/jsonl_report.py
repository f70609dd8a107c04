"""The `jsonl` report: one finding per line, the same object as in the `json` report's
`findings` array, and nothing else (no header, no summary), for streaming tools."""

from __future__ import annotations

import json
from typing import ClassVar, TextIO

from nhiguard.report.common import Sanitizer, finding_dict, ordered
from nhiguard.report.results import ScanResults


class JsonlReporter:
    name: ClassVar[str] = "jsonl"
    human: ClassVar[bool] = False
    extension: ClassVar[str] = ".jsonl"

    def write(self, results: ScanResults, stream: TextIO) -> None:
        sanitize = Sanitizer(results).tree
        for f in ordered(results.findings):
            obj = sanitize(finding_dict(f, results.show_secrets))
            # Compact separators and ASCII: exactly one line per finding, any encoding.
            stream.write(json.dumps(obj, ensure_ascii=True, separators=(",", ":")))
            stream.write("\n")
