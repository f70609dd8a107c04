"""The one protocol every reporter implements, built-in or from a plugin."""

from __future__ import annotations

from typing import ClassVar, Protocol, TextIO, runtime_checkable

from nhiguard.report.results import ScanResults


@runtime_checkable
class Reporter(Protocol):
    """Writes one scan's results to a text stream in one format.

    A reporter class is constructed with no arguments. `name` is its `--format` value;
    `human` is true for output meant for a person (the CLI may then decorate or page it);
    `extension` is the usual file suffix. `write` must never emit a raw secret unless
    `results.show_secrets`, and must not close the stream.
    """

    name: ClassVar[str]
    human: ClassVar[bool]
    extension: ClassVar[str]

    def write(self, results: ScanResults, stream: TextIO) -> None: ...
