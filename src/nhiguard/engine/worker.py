"""The work done in a worker process: load blobs, apply content policy, match.

Tasks are plain picklable data (`BlobTask` lists) and the worker state is built
from picklable arguments, so the same functions run inline, in a local process
pool, or on a distributed scheduler later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from nhiguard.decode import DecodeBudget, expand
from nhiguard.decode.expand import Derived, is_archive, is_utf16
from nhiguard.engine import cilog
from nhiguard.engine.matcher import CHUNK, Matcher, is_contextual, line_column
from nhiguard.engine.own_output import is_own_output
from nhiguard.engine.tasks import BlobResult, BlobTask
from nhiguard.engine.windows import LineIndex, windows
from nhiguard.model import Match, Rule, blob_id
from nhiguard.model.blob import keyed_blob_id

__all__ = ["BlobResult", "BlobTask", "Worker", "WorkerConfig", "init_process", "run_in_process"]
from nhiguard.sources.base import BlobStream, LoadError, Skipped

SNIFF_BYTES = 8192
STREAM_ABOVE = 64 * 1024 * 1024  # files larger than this are read and matched in pieces


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    rules: tuple[Rule, ...]
    fingerprint_key: bytes
    show_secrets: bool
    use_hyperscan: bool
    hs_db: tuple[bytes | None, tuple[int, ...]] | None
    scan_binary: bool
    decode_depth: int = 3
    decode_budget: int = 256 * 1024 * 1024
    stream_above: int = STREAM_ABOVE
    stream_piece: int = CHUNK


def looks_binary(data: bytes) -> bool:
    """NUL bytes, or mostly non-text bytes, in the first few KB."""
    head = data[:SNIFF_BYTES]
    if not head:
        return False
    if b"\x00" in head:
        return True
    text = bytes(range(32, 127)) + b"\n\r\t\f\b\x1b"
    nontext = len(head.translate(None, text))
    # UTF-8 multibyte text has high bytes; only call it binary when control bytes dominate
    control = len(head.translate(None, text + bytes(range(128, 256))))
    return control / len(head) > 0.1 or (nontext / len(head) > 0.3 and not _is_utf8(head))


def _binary_reason(head: bytes) -> str | None:
    return "binary content" if _binary(head) else None


def _binary(data: bytes) -> bool:
    """Binary and not a container nhiguard opens (archives, compressed or UTF-16 text)."""
    return not is_archive(data) and not is_utf16(data) and looks_binary(data)


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a character cut at the sniff boundary
    return True


class Worker:
    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.matcher = Matcher(
            cfg.rules,
            fingerprint_key=cfg.fingerprint_key,
            show_secrets=cfg.show_secrets,
            use_hyperscan=cfg.use_hyperscan,
            hs_db=cfg.hs_db,
        )
        self.contextual_ids = frozenset(r.id for r in cfg.rules if is_contextual(r))

    def run(self, tasks: Sequence[BlobTask]) -> list[BlobResult]:
        return [self.run_one(t) for t in tasks]

    def run_one(self, task: BlobTask) -> BlobResult:
        sniffing = getattr(task.loader, "load_sniffed", None)
        # what the user handed over explicitly (standard input) is read whatever it holds
        binary_ok = self.cfg.scan_binary or getattr(task.loader, "explicit", False)
        sniffed = sniffing is not None and not binary_ok
        try:
            if sniffing is not None:
                reject = None if binary_ok else _binary_reason
                data = sniffing(SNIFF_BYTES, reject, self.cfg.stream_above)
            else:
                data = task.loader.load()
        except Skipped as exc:
            return BlobResult(task.token, task.blob_id, 0, skipped=str(exc))
        except LoadError as exc:
            return BlobResult(task.token, task.blob_id, 0, error=str(exc))
        if not isinstance(data, bytes):
            return self._run_stream(task, data)
        # a task's id is keyed already (see model.blob.keyed_blob_id); a computed one not yet
        bid = task.blob_id or keyed_blob_id(blob_id(data), self.cfg.fingerprint_key)
        if not sniffed and not binary_ok and _binary(data):
            return BlobResult(task.token, bid, len(data), skipped="binary content")
        if is_own_output(data):
            return BlobResult(task.token, bid, len(data), skipped=(
                "an nhiguard report or baseline (fingerprints and redacted previews only)"))
        budget = self._budget()
        try:
            found = self._scan_tree(bid, data, budget, 0, "")
        except Exception as exc:  # a bug in one rule must not lose the rest of the scan
            return BlobResult(task.token, bid, len(data), error=f"engine error: {type(exc).__name__}")
        matches = _dedupe([m for m, _ in found], self.contextual_ids)
        return BlobResult(task.token, bid, len(data), tuple(matches), problems=tuple(budget.problems))

    def _budget(self) -> DecodeBudget:
        return DecodeBudget(max_depth=self.cfg.decode_depth, max_total_bytes=self.cfg.decode_budget)

    def _run_stream(self, task: BlobTask, stream: BlobStream) -> BlobResult:
        """A file too large to hold: matched window by window while its content id is
        hashed, so memory stays at a window whatever the file's size. Encodings inside
        each window are decoded; an archive this large cannot be opened in pieces."""
        if is_archive(stream.head):
            stream.close()
            return BlobResult(task.token, task.blob_id, 0, skipped=(
                f"archive of {stream.size} bytes, over the {self.cfg.stream_above}-byte limit "
                "for opening archives; its members were not scanned"))
        hasher = hashlib.sha1(b"blob %d\0" % stream.size)  # noqa: S324 - git's content id
        budget = self._budget()
        found: list[Match] = []
        try:
            for w in windows(_hashing(stream.pieces(self.cfg.stream_piece), hasher)):
                lines = LineIndex.of(w)
                # (no CI steps: a window is not a whole log, and its line numbers are its own)
                for m, anchored in self._scan_tree("", w.data, budget, 0, "", as_text=True, whole=False):
                    if anchored:  # window offsets become file offsets
                        start = w.base + m.start
                        line, col = lines.position(start)
                        m = replace(m, start=start, end=start + (m.end - m.start), line=line, column=col)
                    found.append(m)
        except LoadError as exc:
            return BlobResult(task.token, task.blob_id, 0, error=str(exc))
        except Exception as exc:  # a bug in one rule must not lose the rest of the scan
            stream.close()
            return BlobResult(task.token, task.blob_id, 0, error=f"engine error: {type(exc).__name__}")
        bid = task.blob_id or keyed_blob_id(hasher.hexdigest(), self.cfg.fingerprint_key)
        # a match inside the overlap of two windows was found twice, at the same line
        matches = _dedupe([replace(m, blob_id=bid) for m in found], self.contextual_ids)
        return BlobResult(task.token, bid, stream.size, tuple(matches), problems=tuple(budget.problems))

    def _scan_tree(
        self, bid: str, data: bytes, budget: DecodeBudget, depth: int, route: str,
        as_text: bool = False, whole: bool = True,
    ) -> list[tuple[Match, bool]]:
        """Matches in `data` and everything decoded from it.

        Each match comes with `anchored`: True when its offsets are in `data`'s
        coordinates (False for matches inside archive members, which keep the
        member's own line and column).
        """
        out: list[tuple[Match, bool]] = []
        archive = not as_text and is_archive(data)
        as_plain = depth == 0 or self.cfg.scan_binary or not looks_binary(data)
        if not archive and as_plain:
            out.extend((m, True) for m in self.matcher.scan(bid, data))
        opened = False
        for d in _guarded(expand(data, budget, depth, route), budget, route):
            opened = True
            for m, anchored in self._scan_tree(bid, d.data, budget, depth + 1, d.route,
                                               whole=d.is_member):
                route_of = m.decoded or d.route
                if d.is_member or not anchored:
                    step = cilog.member_step(d.route, m.step) if d.is_member else m.step
                    out.append((replace(m, decoded=route_of, step=step), False))
                    continue
                start = d.outer_offset(m.start)
                line, col = line_column(data, start)
                out.append((replace(m, decoded=route_of, start=start, end=start + (m.end - m.start),
                                    line=line, column=col), True))
        if archive and not opened and (self.cfg.scan_binary or not looks_binary(data)):
            # archive magic, but nothing came out (corrupt, nested too deep, or text that
            # merely starts like one): what is there is still read as it stands
            out.extend((m, True) for m in self.matcher.scan(bid, data))
        # steps are read from whole files (a blob, an archive member), not from the pieces
        # an encoding gave, whose matches are placed in the file that holds them
        return _with_steps(data, out) if whole else out


def _guarded(derived: Iterator[Derived], budget: DecodeBudget, route: str) -> Iterator[Derived]:
    """What a decoder gives up to the point where it fails: a decoder's bug or a library's
    unexpected error on damaged input ends that decoding, reported, not the whole blob."""
    try:
        yield from derived
    except Exception as exc:  # noqa: BLE001 - reported, and the rest of the blob is kept
        budget.problems.append(f"{route or 'blob'}: decoding stopped ({type(exc).__name__})")


def _hashing(pieces: Iterable[bytes], hasher: hashlib._Hash) -> Iterator[bytes]:
    for piece in pieces:
        hasher.update(piece)
        yield piece


def _dedupe(matches: list[Match], contextual_ids: frozenset[str]) -> list[Match]:
    """One hit per (rule, secret, place): a secret seen plainly and again decoded at the same
    line is one; a generic rule's hit on a secret a provider rule already names is dropped."""
    named = {m.fingerprint for m in matches if m.rule_id not in contextual_ids}
    # URL-encoding leaves most of a secret as it was, so its rule often finds it plainly
    # too, with the escapes in it (`sig=abc%3D`): the plain hit is that credential already
    plain = {(m.rule_id, m.line) for m in matches if m.decoded is None}
    seen: set[tuple[str, str, int, str | None]] = set()
    out = []
    for m in sorted(matches, key=lambda m: m.decoded is not None):
        if m.rule_id in contextual_ids and m.fingerprint in named:
            continue
        if m.decoded is not None and m.decoded.endswith("url-encoded") and (m.rule_id, m.line) in plain:
            continue
        key = (m.rule_id, m.fingerprint, m.line, _container(m.decoded))
        if key in seen:
            continue
        seen.add(key)
        out.append(m)
    return out


def _with_steps(data: bytes, found: list[tuple[Match, bool]]) -> list[tuple[Match, bool]]:
    """CI logs: matches placed in `data` with the step of the job that printed their line
    (see cilog); archive members' matches were placed in their member already."""
    lines = {m.line for m, anchored in found if anchored}
    if not lines:
        return found
    steps = cilog.steps_of_lines(data, lines)
    if not steps:
        return found
    return [(replace(m, step=steps[m.line]) if anchored and m.line in steps else m, anchored)
            for m, anchored in found]


def _container(route: str | None) -> str | None:
    """The archive part of a decode route (members are distinct places; encodings are not)."""
    if not route:
        return None
    steps = [s for s in route.split("!") if ":" in s or s in ("gzip", "bzip2", "xz")]
    return "!".join(steps) or None


_WORKER: Worker | None = None


def init_process(cfg: WorkerConfig) -> None:
    global _WORKER
    # Ctrl-C reaches the whole process group; the main process stops the pool itself, so
    # a worker must neither die mid-task with a traceback nor outlive it
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the parent's SIGTERM handler unwinds the CLI; a worker is stopped by SIGTERM outright
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from nhiguard.lifetime import die_with_parent

    die_with_parent(signal.SIGTERM)
    _WORKER = Worker(cfg)


def run_in_process(tasks: Sequence[BlobTask]) -> list[BlobResult]:
    assert _WORKER is not None, "init_process was not called"
    return _WORKER.run(tasks)
