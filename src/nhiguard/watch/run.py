"""One `nhiguard watch` run: read the inputs, turn records into events, feed the watcher,
and keep what it learned. Kept apart from the CLI so tests and the benchmark drive the same
loop the command does."""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from nhiguard.watch.engine import Watcher
from nhiguard.watch.normalise import BadRecord, Unrecognised, event
from nhiguard.watch.reader import (
    ReadProblems,
    _DecodeError,
    _expand,
    _loads,
    _why,
    log_files,
    records,
)


@dataclass
class Inputs:
    paths: tuple[str, ...]
    cluster: str = ""


class Ledger(Protocol):
    """Where a run remembers the log files it read (the store's watch_inputs)."""

    def input_read(self, head: str) -> tuple[int, str, int] | None: ...

    def record_input(self, head: str, name: str, size_read: int, tail: str, events: int) -> None: ...


_HEAD = 1024
_TAIL = 65536


def feed_paths(w: Watcher, inputs: Inputs, problems: ReadProblems, ledger: Ledger | None = None) -> None:
    """Every record of every input, files in the order of their first events. With a
    ledger, a file read before is skipped when unchanged, and read on from where it stopped
    when it only grew (JSON Lines)."""
    for path in in_time_order(list(log_files(inputs.paths, problems)), inputs.cluster):
        w.stats.files += 1
        if path == "-":  # standard input does not grow once read: an unfinished last line is malformed
            feed_records(w, records(sys.stdin.buffer, "stdin", problems, growing=False), inputs.cluster, problems)
            continue
        try:
            stream = open(path, "rb")  # noqa: SIM115
        except OSError as exc:
            problems.inputs.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        try:
            _feed_file(w, stream, path, inputs.cluster, problems, ledger)
        except OSError as exc:  # a read error part-way: what came before counts
            problems.inputs.append(f"{path}: read error: {exc.strerror or exc}")
        finally:
            stream.close()


def in_time_order(paths: list[str], cluster: str = "") -> list[str]:
    """Files by the time of their first event. Baselines are learned in time order:
    CloudTrail's delivery folders (AWSLogs/<account>/CloudTrail/<region>/<date>/) list one
    region's days before the next region's, and read in that order a workload seen in two
    regions would look new in the second (and travel back in time between them)."""
    if len(paths) < 2:
        return paths
    firsts = {p: _first_time(p, cluster) for p in paths if p != "-"}
    return sorted(paths, key=lambda p: (p != "-", firsts.get(p, math.inf), p))


def _first_time(path: str, cluster: str) -> float:
    """When the file's first readable event happened (infinity if none is found soon)."""
    try:
        with open(path, "rb") as fh:
            for n, (place, rec) in enumerate(records(fh, path, ReadProblems())):
                try:
                    e = event(rec, place, cluster)
                except (BadRecord, Unrecognised):
                    e = None
                if e is not None:
                    return e.time
                if n >= 20:
                    break
    except (OSError, RecursionError, ValueError):
        pass
    return math.inf


def _feed_file(w: Watcher, stream: BinaryIO, path: str, cluster: str, problems: ReadProblems,
               ledger: Ledger | None) -> None:
    size = os.fstat(stream.fileno()).st_size
    start = stream.read(_HEAD)
    stream.seek(0)
    # a file is known by its first KiB wherever it lies, and by its path (which stays when
    # a small file grows past a KiB); read for another --cluster, it is another input (the
    # same Kubernetes audit log shipped from two clusters' paths is two clusters' events)
    scope = b"cluster:%s\n" % cluster.encode() if cluster else b""
    heads = [hashlib.sha256(scope + b"path:" + os.path.abspath(path).encode()).hexdigest()]
    if len(start) == _HEAD:
        heads.insert(0, hashlib.sha256(scope + start).hexdigest())
    first_line = 1
    before = w.stats.events
    known = None
    for head in heads if ledger is not None else ():
        if (known := ledger.input_read(head)) is not None:  # type: ignore[union-attr]
            break
    if known is not None:
        size_read, tail, events = known
        if size >= size_read and _tail(stream, size_read) == tail:
            if size == size_read:
                w.stats.files_unchanged += 1
                return
            stream.seek(0)
            if stream.read(1) == b"{" and not _gzip(stream):  # JSON Lines: read on where the last run stopped
                first_line = _count_lines(stream, size_read) + 1
                stream.seek(size_read)
                before -= events  # the ledger keeps the file's total
            else:
                stream.seek(0)
        else:
            stream.seek(0)
    partial = len(problems.partial)
    feed_records(w, records(stream, path, problems, first_line), cluster, problems)
    if ledger is not None:
        # the reader left a last line that is still being written: the next run reads it
        done = _last_line_start(stream, size) if len(problems.partial) > partial else size
        for head in heads:
            ledger.record_input(head, path, done, _tail(stream, done), w.stats.events - before)


def _last_line_start(stream: BinaryIO, size: int) -> int:
    """Where the file's last line starts (past its last newline; 0 if it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL)
        stream.seek(start)
        cut = stream.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def _gzip(stream: BinaryIO) -> bool:
    pos = stream.tell()
    stream.seek(0)
    magic = stream.read(2)
    stream.seek(pos)
    return magic == b"\x1f\x8b"


def _tail(stream: BinaryIO, upto: int) -> str:
    pos = stream.tell()
    stream.seek(max(0, upto - _TAIL))
    digest = hashlib.sha256(stream.read(upto - max(0, upto - _TAIL))).hexdigest()
    stream.seek(pos)
    return digest


def _count_lines(stream: BinaryIO, upto: int) -> int:
    stream.seek(0)
    n, left = 0, upto
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        n += chunk.count(b"\n")
        left -= len(chunk)
    return n


def feed_records(w: Watcher, recs: Iterator[tuple[str, dict[str, Any]]], cluster: str,
                 problems: ReadProblems) -> None:
    feed = w.feed
    st = w.stats
    for place, rec in recs:
        try:
            e = event(rec, place, cluster)
        except Unrecognised:
            st.unrecognised += 1
            if st.unrecognised <= 5:
                problems.examples.append(f"{place}: a JSON object of no audit log nhiguard reads")
            continue
        except BadRecord as exc:
            problems.bad(place, str(exc).split(": ", 1)[-1])
            continue
        if e is None:
            st.skipped += 1
            continue
        feed(e)


def follow(w: Watcher, path: str, cluster: str, problems: ReadProblems, stop: Callable[[], bool],
           checkpoint: Callable[[], None], poll: float = 0.5, checkpoint_every: float = 30.0) -> None:
    """Read a growing JSON Lines file: what is there, then each line as it is written, until
    `stop()`. A file that shrinks (rotated or truncated) is read again from its start."""
    lineno = 0
    pending = b""
    last_save = time.monotonic()
    fh = None
    size_seen = 0
    while not stop():
        if fh is None:
            try:
                fh = open(path, "rb")  # noqa: SIM115
            except OSError:
                time.sleep(poll)
                continue
            lineno, pending, size_seen = 0, b"", 0
        chunk = fh.read(1 << 20)
        if not chunk:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = 0
            if size < size_seen:  # rotated or truncated: start again
                fh.close()
                fh = None
                continue
            if time.monotonic() - last_save >= checkpoint_every:
                checkpoint()
                last_save = time.monotonic()
            time.sleep(poll)
            continue
        size_seen += len(chunk)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            lineno += 1
            if not line.strip():
                continue
            try:
                doc = _loads(line)
            except _DecodeError as exc:  # RecursionError too: `[[[[...` nested past what json reads
                problems.bad(f"{path}:{lineno}", _why(line.strip(), exc))
                continue
            feed_records(w, _expand(doc, f"{path}:{lineno}", problems), cluster, problems)
    if fh is not None:
        fh.close()

