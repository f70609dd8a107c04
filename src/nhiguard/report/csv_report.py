"""The `csv` report: one row per (finding, location), for spreadsheets and triage lists.

Cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage
return) get a leading apostrophe: a file name like `=HYPERLINK(...)` in a scanned tree
must not execute when the report is opened (CSV/formula injection).
"""

from __future__ import annotations

import csv
from typing import Any, ClassVar, TextIO

from nhiguard.report.common import Sanitizer, location_dict, ordered, printable, severity_name
from nhiguard.report.results import ScanResults

COLUMNS: tuple[str, ...] = (
    "id",
    "rule_id",
    "severity",
    "kind",
    "preview",
    "source",
    "target",
    "path",
    "line",
    "column",
    "commit",
    "author",
    "date",
    "status",
    "image",
    "layer",
    "visible",
    "verification",
)
SECRET_COLUMN = "secret"  # last, and only with show_secrets

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """A cell's text, with a leading apostrophe when a spreadsheet would read a formula.
    Numbers (line, column) are written as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    s = str(value)
    if s.startswith(_FORMULA_START):
        return "'" + s
    return s


class CsvReporter:
    name: ClassVar[str] = "csv"
    human: ClassVar[bool] = False
    extension: ClassVar[str] = ".csv"

    def write(self, results: ScanResults, stream: TextIO) -> None:
        clean = Sanitizer(results).text
        columns = list(COLUMNS) + ([SECRET_COLUMN] if results.show_secrets else [])
        # "\n", not RFC 4180's "\r\n": the stream is a text stream that already turns
        # "\n" into the platform's line end (stdout on Windows); "\r\n" would double it.
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for f in ordered(results.findings):
            base = {
                "id": f.id,
                "rule_id": f.rule_id,
                "severity": severity_name(f.severity),
                "kind": f.kind,
                "preview": f.preview,
                "status": f.status,
                "verification": (f.verification or {}).get("status"),
                SECRET_COLUMN: f.secret,
            }
            # A finding with no location (possible from the store) still gets its row.
            locs = [location_dict(loc) for loc in f.locations] or [{}]
            for loc in locs:
                row = {**base, **{k: loc.get(k) for k in COLUMNS if k not in base}}
                row["target"] = loc.get("target") or loc.get("repo")  # git: the repository
                cells = []
                for c in columns:
                    v = row.get(c)
                    # control characters (from file or author names) shown as escapes
                    cells.append(neutralise(printable(clean(v)) if isinstance(v, str) else v))
                writer.writerow(cells)
