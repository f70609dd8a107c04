"""A progress bar on stderr while scanning, only when stderr is a terminal (or forced on)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_reporter(mode: str) -> Iterator[Callable[[int, int], None] | None]:
    if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr, force_terminal=mode == "on" or None)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]scanning[/]"),
        TextColumn("{task.fields[blobs]} blobs"),
        TextColumn("{task.fields[mb]:.1f} MB"),
        BarColumn(bar_width=None),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("scan", total=None, blobs=0, mb=0.0)

        def update(blobs: int, nbytes: int) -> None:
            bar.update(task, blobs=blobs, mb=nbytes / 1e6)

        yield update
