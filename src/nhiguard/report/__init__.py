"""Reporters: one module per output format behind one protocol (`base.Reporter`).

Built-in reporters are registered in `REPORTERS` under their `--format` name. External
ones arrive through the `nhiguard.reporters` entry-point group (name = format, value =
a reporter class) and are imported only when first asked for, so a broken or slow plugin
costs nothing to a scan that does not use it. A built-in name always wins over a plugin
of the same name.

    reporter = get_reporter("sarif")
    reporter.write(ScanResults(...), stream)
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from nhiguard.report.base import Reporter
from nhiguard.report.csv_report import CsvReporter
from nhiguard.report.json_report import JsonReporter, report_schema
from nhiguard.report.jsonl_report import JsonlReporter
from nhiguard.report.results import ScanResults
from nhiguard.report.sarif_report import SarifReporter
from nhiguard.report.table_report import TableReporter

ENTRY_POINT_GROUP = "nhiguard.reporters"

REPORTERS: dict[str, type] = {
    cls.name: cls
    for cls in (TableReporter, JsonReporter, JsonlReporter, SarifReporter, CsvReporter)
}

DEFAULT_FORMAT = "table"


class UnknownReporterError(ValueError):
    """No reporter of that name, built-in or plugin (a usage error for the CLI)."""


class ReporterPluginError(RuntimeError):
    """A plugin reporter was found but could not be loaded."""


def _plugin_entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in REPORTERS:
            found.setdefault(ep.name, ep)
    return found


def reporter_names() -> list[str]:
    """Every available format name, built-in first then plugins (plugins are not imported)."""
    return list(REPORTERS) + sorted(_plugin_entry_points())


def get_reporter_class(name: str) -> type:
    """The reporter class registered as `name`, loading a plugin on first use."""
    cls = REPORTERS.get(name)
    if cls is not None:
        return cls
    ep = _plugin_entry_points().get(name)
    if ep is None:
        known = ", ".join(reporter_names())
        raise UnknownReporterError(f"unknown report format {name!r}; expected one of {known}")
    try:
        loaded = ep.load()
    except Exception as exc:  # a plugin's import error must not look like ours
        raise ReporterPluginError(
            f"report format {name!r} from {ep.value!r} failed to load: {exc}"
        ) from exc
    if not isinstance(loaded, type) or not callable(getattr(loaded, "write", None)):
        raise ReporterPluginError(
            f"report format {name!r} from {ep.value!r} is not a reporter class with write()"
        )
    REPORTERS[name] = loaded  # cache: later calls do not touch entry points again
    return loaded


def get_reporter(name: str) -> Reporter:
    """A ready-to-use reporter for the format `name` (`get_reporter("json").write(...)`)."""
    return get_reporter_class(name)()


__all__ = [
    "DEFAULT_FORMAT",
    "ENTRY_POINT_GROUP",
    "REPORTERS",
    "Reporter",
    "ReporterPluginError",
    "ScanResults",
    "UnknownReporterError",
    "get_reporter",
    "get_reporter_class",
    "report_schema",
    "reporter_names",
    "CsvReporter",
    "JsonReporter",
    "JsonlReporter",
    "SarifReporter",
    "TableReporter",
]
