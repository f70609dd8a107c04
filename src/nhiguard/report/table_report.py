"""The `table` report: what a person reads in a terminal.

A summary line, a table of findings (most severe first), then what could not be read.
Colour only on a terminal: to a file or a pipe it is plain text with no ANSI codes. All
scanned-content-derived text (paths, rule names, commit data) is printed literally, with
control characters escaped, so a file name cannot restyle or drive the terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from nhiguard.model import Finding, ScanError, Severity
from nhiguard.report.common import Sanitizer, location_dict, ordered, printable
from nhiguard.report.results import ScanResults

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text


def _text(*args: Any, **kwargs: Any) -> Text:
    # rich is imported only when a table is printed: machine formats never pay for it
    from rich.text import Text

    return Text(*args, **kwargs)

SEVERITY_STYLES: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
MAX_LISTED_ERRORS = 5  # errors (and skipped inputs) listed by name; the rest are counted
PLAIN_WIDTH = 200  # to a file or pipe: wide enough that paths are not folded


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class TableReporter:
    name: ClassVar[str] = "table"
    human: ClassVar[bool] = True
    extension: ClassVar[str] = ".txt"

    def write(self, results: ScanResults, stream: TextIO) -> None:
        isatty = getattr(stream, "isatty", None)
        try:
            tty = bool(isatty()) if callable(isatty) else False
        except (OSError, ValueError):
            tty = False
        from rich.console import Console

        console = Console(
            file=stream,
            force_terminal=tty,
            width=None if tty else PLAIN_WIDTH,
            highlight=False,
            markup=False,
            emoji=False,
        )
        clean = Sanitizer(results)

        def t(s: Any) -> str:
            return printable(clean.text(str(s)))

        console.print(self._summary(results, t))
        findings = ordered(results.findings)
        if findings:
            multi = len(results.stats.targets) > 1
            console.print(self._table(findings, results.show_secrets, t, multi))
            console.print(self._counts(findings))
        else:
            console.print(_text("No findings.", style="green"))
        st = results.stats
        for label, items in (("error", st.errors), ("skipped", st.skipped)):
            if items:
                self._errors(console, label, items, t)

    @staticmethod
    def _summary(results: ScanResults, t: Any) -> Text:
        st = results.stats
        targets = ", ".join(t(x) for x in st.targets) or "nothing"
        blobs = _plural(st.blobs_scanned, "blob")
        if st.blobs_reused:
            blobs += f" ({st.blobs_reused} reused from the store)"
        line = _text()
        line.append(f"nhiguard {t(results.tool_version)}", style="bold")
        line.append(
            f" scanned {_plural(len(st.targets), 'target')} ({targets}): "
            f"{human_bytes(st.bytes_scanned)} in {blobs}, {st.duration_s:.2f} s"
        )
        if st.engine:
            line.append(f", engine {t(st.engine)}")
        return line

    @staticmethod
    def _where(f: Finding, t: Any, multi: bool = False) -> str:
        if not f.locations:
            return ""
        loc = location_dict(f.locations[0])
        path = loc.get("path")
        if path is None:
            where = f"blob {t(loc.get('blob_id', ''))[:12]}"
        elif loc.get("source") == "stdin" and path == "-":
            where = f"<stdin>:{loc.get('line')}"
        else:
            target = loc.get("target") if multi else None  # which of the targets holds it
            shown = f"{target}/{path}" if target and target != "." else path
            where = f"{t(shown)}:{loc.get('line')}"
        commit = loc.get("commit")
        if loc.get("source") == "git" and commit:
            where += f" @ {t(commit)[:8]}"
        if loc.get("source") in ("image", "image-config"):
            where = f"{t(str(loc.get('image', '')))} {where}"
            layer = loc.get("layer")
            if layer:
                where += f" @ layer {t(str(layer)).split(':')[-1][:12]}"
            if loc.get("visible") is False:
                where += " (deleted in a later layer)"
        return where

    def _table(self, findings: Sequence[Finding], show_secrets: bool, t: Any, multi: bool = False) -> Table:
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("Severity", no_wrap=True)
        table.add_column("Rule", overflow="fold")
        table.add_column("Preview", overflow="fold")
        if show_secrets:
            table.add_column("Secret", overflow="fold")
        table.add_column("Location", overflow="fold")
        table.add_column("More", justify="right", no_wrap=True)
        for f in findings:
            sev = Severity(f.severity)
            rule = t(f.rule_name)
            if f.paired_with:
                rule += " (paired)"
            if f.status != "open":  # triaged: shown, but it does not fail the run
                rule += f" [{f.status.replace('_', ' ')}]"
            if f.verification:  # --verify: what the provider said
                rule += f" ({f.verification.get('status')})"
            row = [
                _text(sev.name.lower(), style=SEVERITY_STYLES[sev]),
                _text(rule),
                _text(t(f.preview)),
            ]
            if show_secrets:
                row.append(_text(t(f.secret) if f.secret is not None else "", style="bold"))
            more = len(f.locations) - 1
            row += [_text(self._where(f, t, multi)), _text(f"+{more}" if more > 0 else "")]
            table.add_row(*row)
        return table

    @staticmethod
    def _counts(findings: Sequence[Finding]) -> Text:
        counts = Counter(Severity(f.severity) for f in findings)
        line = _text(_plural(len(findings), "finding") + ": ")
        parts = [s for s in reversed(Severity) if counts.get(s)]
        for i, s in enumerate(parts):
            if i:
                line.append(", ")
            line.append(f"{counts[s]} {s.name.lower()}", style=SEVERITY_STYLES[s])
        return line

    @staticmethod
    def _errors(console: Console, label: str, items: Sequence[ScanError], t: Any) -> None:
        n = len(items)
        if label == "error":
            head = _text(f"{_plural(n, 'input')} could not be read:", style="bold red")
        else:
            head = _text(f"{_plural(n, 'input')} skipped:", style="yellow")
        console.print(head)
        for e in items[:MAX_LISTED_ERRORS]:
            console.print(_text(f"  {t(e.path)}: {t(e.message)}"))
        if n > MAX_LISTED_ERRORS:
            console.print(_text(f"  ... and {n - MAX_LISTED_ERRORS} more"))
