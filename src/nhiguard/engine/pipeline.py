"""The scan pipeline: sources -> dedup by blob id -> workers -> the single store writer.

The main process enumerates sources, skips blobs already scanned under the same
ruleset (incremental scans), batches the rest into picklable tasks for a process
pool, and is the only writer to the store. Raw secrets (only with --show-secrets)
stay in memory and go to the report, never to the store.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from nhiguard import cache
from nhiguard.engine import hyperscan_available
from nhiguard.engine.scrub import Scrubber
from nhiguard.engine.tasks import BlobResult, BlobTask
from nhiguard.model import Finding, Rule, ScanError, ScanStats
from nhiguard.model.blob import keyed_blob_id
from nhiguard.model.rule import is_contextual
from nhiguard.rules.loader import ruleset_hash
from nhiguard.settings import Settings
from nhiguard.sources.base import SourceItem
from nhiguard.sources.filesystem import FilesystemSource

ENGINE_VERSION = "3"  # bump when matching semantics change so stored results are not reused
BATCH_ITEMS = 128
BATCH_BYTES = 4 * 1024 * 1024
IMAGE_PREFIXES = ("docker-archive:", "oci:", "registry:")  # see sources/oci.py
INLINE_LIMIT_ITEMS = 64  # below this many blobs a pool costs more than it saves
AVERAGE_FILE = 16 * 1024  # batch budgeting for files whose size is not known up front


class InputError(Exception):
    """A target cannot be scanned at all (usage or input error, exit code 2)."""


@dataclass
class ScanOutcome:
    scan_id: int
    stats: ScanStats
    findings: list[Finding]
    secrets: dict[str, str] = field(default_factory=dict)  # fingerprint -> raw value (opt-in)


def effective_ruleset_hash(rules: list[Rule], settings: Settings) -> str:
    """What stored results are valid under: the rules, the engine, the fingerprint key, and
    the content policy (a blob skipped as too large or binary must be read when that changes)."""
    policy = f"{settings.max_file_size}:{int(settings.scan_binary)}"
    if (settings.decode_depth, settings.decode_budget) != (Settings.decode_depth, Settings.decode_budget):
        # (the defaults add nothing, so stores written before these settings stay valid)
        policy += f":{settings.decode_depth}:{settings.decode_budget}"
    key_id = hashlib.sha256(settings.fingerprint_key_bytes + b"\0" + policy.encode()).hexdigest()[:8]
    return f"{ruleset_hash(rules)}-{ENGINE_VERSION}-{key_id}"


def choose_engine(settings: Settings) -> bool:
    if settings.engine == "python":
        return False
    if settings.engine == "hyperscan":
        if not hyperscan_available():
            raise InputError("--engine hyperscan: the hyperscan package is not installed (pip install 'nhiguard[fast]')")
        return True
    return hyperscan_available()


def _matcher(rules: list[Rule], settings: Settings):
    """A matcher in this process, for the text about blobs (see engine/scrub.py), built
    only when some text looks like it may hold a secret."""
    from nhiguard.engine.matcher import Matcher

    use_hs = choose_engine(settings)
    return Matcher(rules, fingerprint_key=settings.fingerprint_key_bytes, use_hyperscan=use_hs,
                   hs_db=hyperscan_db_cached(rules) if use_hs else None)


def _worker_config(rules: list[Rule], settings: Settings, use_hs: bool):
    from nhiguard.engine.worker import WorkerConfig  # the matcher only when there is work

    return WorkerConfig(
        rules=tuple(rules),
        fingerprint_key=settings.fingerprint_key_bytes,
        # raw values are kept (in memory) to show them, or to verify them
        show_secrets=settings.show_secrets or settings.verify,
        use_hyperscan=use_hs,
        hs_db=hyperscan_db_cached(rules) if use_hs else None,
        scan_binary=settings.scan_binary,
        decode_depth=settings.decode_depth,
        decode_budget=settings.decode_budget,
    )


def hyperscan_db_cached(rules: list[Rule]) -> tuple[bytes | None, tuple[int, ...]]:
    """Compile the Hyperscan database once per ruleset and keep it in the user cache. It
    depends on the rules alone (not the fingerprint key or content policy)."""
    from nhiguard.engine.matcher import PREFILTER_VERSION, build_hyperscan_db

    name = f"hs-{ruleset_hash(rules)}-{ENGINE_VERSION}.{PREFILTER_VERSION}.db"
    db = cache.load(name)
    if not (isinstance(db, tuple) and len(db) == 2):
        db = build_hyperscan_db(rules)
        cache.store(name, db)
    return db


def walk_key(repo_key: str, rs_hash: str) -> str:
    """Walked commits are remembered per ruleset: new rules must see all of history again."""
    return f"{repo_key}#{rs_hash}"


@dataclass
class _Target:
    name: str  # stable key of the target: a repository's git dir, or a real path
    items: Iterable[SourceItem | ScanError]
    git: object | None = None  # the GitSource of a whole-history walk, recorded afterwards
    previous_walk: tuple[int | None, dict[str, str]] | None = None  # whose places carry forward
    close: Callable[[], None] | None = None  # releases what the source holds (a stdin spool)


def open_targets(targets: list[str], settings: Settings, store, full: bool, rs_hash: str,
                 scrub: Scrubber) -> list[_Target]:
    """The sources of every target. Target names, the keys under which places and walks are
    stored, pass through `scrub`: a path can hold a secret too."""
    out: list[_Target] = []
    try:
        _open_targets(out, targets, settings, store, full, rs_hash, scrub)
    except BaseException:  # a later target refused: what the earlier ones hold is released
        for tgt in out:
            if tgt.close is not None:
                tgt.close()
        raise
    return out


def _open_targets(out: list[_Target], targets: list[str], settings: Settings, store, full: bool,
                  rs_hash: str, scrub: Scrubber) -> None:
    from nhiguard.sources.git import (
        GitSource,
        is_git_repository,
        looks_like_git,
        open_problem,
        repository_key,
    )

    if targets.count("-") > 1:
        raise InputError("standard input (-) can be scanned once per run")
    if settings.pre_push and "-" in targets:
        raise InputError("--pre-push reads the pushed refs from standard input: it cannot scan it too")
    pushed = _pushed_refs() if settings.pre_push else None
    for t in targets:
        if t == "-":
            from nhiguard.engine.worker import STREAM_ABOVE
            from nhiguard.sources.stdin import StdinSource

            stdin = StdinSource(sys.stdin.buffer if sys.stdin is not None else None, STREAM_ABOVE)
            out.append(_Target(t, stdin.items(), close=stdin.close))
            continue
        if t.startswith(IMAGE_PREFIXES):
            img = _image_source(t, settings, store, full, rs_hash)
            out.append(_Target(scrub.text(t), img.items(), close=img.close))
            continue
        if not os.path.lexists(t):
            # reported like any unreadable input: the other targets are still scanned
            out.append(_Target(scrub.text(os.path.abspath(t)), [ScanError(t, "no such file or directory")]))
            continue
        if not settings.no_history and is_git_repository(t):
            history_mode = not (settings.since or settings.staged or settings.pre_push)
            try:
                key = walk_key(scrub.text(repository_key(t)), rs_hash)
                previous = store.git_walk(key) if history_mode and not full else None
                # commits count as seen only with the walk that carries their places forward
                seen = store.walked_commits(key) if previous is not None else frozenset()
                src = GitSource(
                    t,
                    all_objects=settings.all_objects,
                    since=settings.since or None,
                    staged=settings.staged,
                    seen_commits=seen,
                    max_file_size=settings.max_file_size,
                    push=pushed,
                )
            except ValueError as exc:
                # this target cannot be scanned as asked (--since names no commit in it, a
                # bare repository with --staged); the other targets still are
                out.append(_Target(scrub.text(os.path.realpath(t)), [ScanError(t, str(exc))]))
                continue
            # keyed by the repository, not the spelling of the path, so history carries forward
            out.append(_Target(scrub.text(src.repo_key), src.items(),
                               git=src if history_mode else None, previous_walk=previous))
            continue
        if not settings.no_history and looks_like_git(t):
            # a repository libgit2 cannot open (a broken config, an unknown format version):
            # its history is lost to this scan, which must say so, but its files are not
            err = ScanError(t, f"cannot open the git repository ({open_problem(t)}); its "
                               "history was not scanned")
            has_tree = os.path.exists(os.path.join(t, ".git"))
            items = FilesystemSource(t, max_file_size=settings.max_file_size,
                                     respect_gitignore=True).items() if has_tree else []
            out.append(_Target(scrub.text(os.path.realpath(t)), _chain([err], items)))
            continue
        if settings.staged or settings.since or settings.pre_push:
            raise InputError(f"{t}: --staged, --since and --pre-push need a git repository")
        src = FilesystemSource(
            t, max_file_size=settings.max_file_size, respect_gitignore=settings.respect_gitignore
        )
        out.append(_Target(scrub.text(os.path.realpath(t)), src.items()))


_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
NOT_ON_A_REMOTE = "HEAD"  # the fallback push: HEAD, hiding every remote-tracking branch


def _pushed_refs() -> list[tuple[str, str]]:
    """What a push sends, as (local commit, remote commit or '') pairs: from the pre-commit
    framework's PRE_COMMIT_FROM_REF/PRE_COMMIT_TO_REF, else from the lines git gives a
    pre-push hook on standard input (`<local ref> <local sha> <remote ref> <remote sha>`).
    Deletions push nothing.

    With no ref line at all (standard input empty or a terminal: a first push under some
    hook managers, or a run by hand) it falls back to the commits on no remote
    (`git rev-list HEAD --not --remotes`) and says so on stderr, rather than scanning
    nothing. A line that is not what git writes is an InputError: guessing could let a
    push through unscanned."""
    to_ref, from_ref = os.environ.get("PRE_COMMIT_TO_REF"), os.environ.get("PRE_COMMIT_FROM_REF")
    pairs: list[tuple[str, str]] = []
    if to_ref:
        return [(to_ref, "" if not from_ref or set(from_ref) == {"0"} else from_ref)]
    lines: list[str] = []
    if sys.stdin is not None and not sys.stdin.isatty():
        try:
            lines = sys.stdin.buffer.read().decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise InputError("--pre-push: standard input is not the ref lines git gives a "
                             "pre-push hook (not UTF-8 text)") from None
    seen = False
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        seen = True
        parts = line.split()
        # the line itself is not echoed: whatever was piped in may hold anything
        problem = (f"it has {len(parts)} fields" if len(parts) != 4 else
                   "the local sha (field 2) is not a full hexadecimal object id"
                   if not _SHA.fullmatch(parts[1]) else
                   "the remote sha (field 4) is not a full hexadecimal object id"
                   if not _SHA.fullmatch(parts[3]) else None)
        if problem:
            raise InputError(
                f"--pre-push: line {n} of standard input is not a pushed ref as git gives a "
                f"pre-push hook (`<local ref> <local sha> <remote ref> <remote sha>`): {problem}")
        _, local, _, remote = parts
        if set(local) == {"0"}:
            continue  # a deleted branch
        pairs.append((local, "" if set(remote) == {"0"} else remote))
    if not seen:
        print("nhiguard: --pre-push: no pushed refs on standard input (nor PRE_COMMIT_TO_REF); "
              "scanning the commits that are on no remote (git rev-list HEAD --not --remotes)",
              file=sys.stderr)
        pairs.append((NOT_ON_A_REMOTE, ""))
    return pairs


def _image_source(target: str, settings: Settings, store, full: bool, rs_hash: str):
    from functools import partial
    from pathlib import Path

    from nhiguard.sources.image import ImageSource, LayerIndex
    from nhiguard.sources.oci import Platform
    from nhiguard.sources.registry import Credentials, pull

    creds = Credentials(settings.registry_username or None, settings.registry_password or None)
    key = settings.fingerprint_key_bytes
    # the index's ids are keyed, and what it lists depends on the size limit
    key_id = hashlib.sha256(key + b"\0" + str(settings.max_file_size).encode()).hexdigest()[:16]
    index = LayerIndex(
        key=key,
        key_id=key_id,
        # --full reads every layer again (and records it afresh)
        get=(lambda digest, kid: None) if full else store.layer_index,
        put=store.record_layer_index,
        scanned=lambda ids: store.already_scanned(rs_hash, ids),
    )
    return ImageSource(
        target,
        max_file_size=settings.max_file_size,
        platform=Platform.parse(settings.platform) if settings.platform else None,
        pull=partial(pull, credentials=creds, plain_http_hosts=settings.registry_plain_http,
                     blob_dir=Path(settings.image_cache).expanduser() if settings.image_cache else None),
        index=index,
    )


class _Run:
    """State of one scan: pending provenances, stats, and the store writer."""

    def __init__(self, store, settings: Settings, rules: list[Rule], rs_hash: str, scan_id: int,
                 scrub: Scrubber) -> None:
        self.store = store
        self.settings = settings
        self.rules = {r.id: r for r in rules}
        self.rs_hash = rs_hash
        self.scan_id = scan_id
        self.stats = ScanStats()
        self.secrets: dict[str, str] = {}  # fingerprint -> raw value, in memory only
        self.contexts: dict[str, str] = {}  # fingerprint -> the whole match (for verifiers)
        self.pending: dict[int, tuple[str, dict]] = {}  # token -> (target, location fields) for id-less blobs
        self.by_blob: dict[str, list[tuple[str, dict]]] = {}  # blob id -> unscanned locations (known ids)
        self.seen_ids: set[str] = set()
        self.done_ids: set[str] = set()
        self.matched_ids: set[str] = set()  # blobs with matches (this run or stored)
        self.token = 0
        self.scrub = scrub

    def record_location(self, target: str, bid: str, fields: dict) -> None:
        self.store.record_location(self.scan_id, target, bid, self.scrub.fields(fields))

    def add_error(self, err: ScanError) -> None:
        (self.stats.skipped if err.kind == "skipped" else self.stats.errors).append(err)

    def _place(self, fields: dict | None, blob_id: str | None) -> str:
        """Where to report a problem with a blob: its path, else its first known path, else its id."""
        if fields is not None:
            return str(fields.get("path"))
        first = next((f.get("path") for _, f in self.by_blob.get(blob_id or "", [])), None)
        return str(first or blob_id or "?")

    def handle(self, res: BlobResult) -> None:
        target, fields = self.pending.pop(res.token, (None, None))
        where = self._place(fields, res.blob_id)
        for problem in res.problems:  # inside archives and encodings; the rest was kept
            self.stats.errors.append(ScanError(where, problem))
        if res.error or res.skipped:
            if fields is None and res.blob_id:
                self.by_blob.pop(res.blob_id, None)  # its places were never recorded
            if res.error:
                self.stats.errors.append(ScanError(where, res.error))
                return
            self.stats.skipped.append(ScanError(where, res.skipped or "", kind="skipped"))
            if res.blob_id and res.blob_id not in self.done_ids:
                # skipped by policy (binary, too large), which the ruleset hash includes: under
                # it the blob holds nothing, and a rescan need not read it again (an image
                # layer is read again only if one of its files is not known)
                self.done_ids.add(res.blob_id)
                self.store.record_blob(self.scan_id, self.rs_hash, res.blob_id, res.size, (), self.rules)
            return
        bid = res.blob_id
        assert bid is not None
        if bid not in self.done_ids:
            self.done_ids.add(bid)
            self.stats.blobs_scanned += 1
            self.stats.bytes_scanned += res.size
            # decode routes name archive members, whose names can hold a secret too
            found = tuple(replace(m, decoded=self.scrub.text(m.decoded)) if m.decoded else m
                          for m in res.matches)
            self.store.record_blob(self.scan_id, self.rs_hash, bid, res.size, found, self.rules)
            if res.matches:
                self.matched_ids.add(bid)
            for m in res.matches:
                if m.secret is not None:
                    self.secrets[m.fingerprint] = m.secret
                    if m.context is not None:
                        self.contexts[m.fingerprint] = m.context
        places = self.by_blob.pop(bid, [])
        if bid not in self.matched_ids:
            return  # places matter only for blobs with findings (see record_place)
        if fields is not None:
            self.record_location(target, bid, fields)
        for t, f in places:
            self.record_location(t, bid, f)


def _batches(run: _Run, targets: list[_Target], full: bool) -> Iterator[list[BlobTask]]:
    """Turn source items into task batches, skipping blobs seen before (this run or stored)."""
    batch: list[BlobTask] = []
    batch_bytes = 0
    known: list[tuple[SourceItem, str]] = []

    key = run.settings.fingerprint_key_bytes

    def flush_known() -> Iterator[BlobTask]:
        keyed = [(item, target, item.blob_id if item.keyed else keyed_blob_id(item.blob_id, key))
                 for item, target in known]
        ids = {bid for _, _, bid in keyed}
        stored = set() if full else run.store.already_scanned(run.rs_hash, ids)
        if stored:
            run.matched_ids.update(run.store.blobs_with_matches(run.rs_hash, stored))
        for item, target, bid in keyed:
            fields = item.provenance.as_location()
            if bid in stored or bid in run.done_ids:
                if bid in run.matched_ids:
                    run.record_location(target, bid, fields)
                if bid in stored and bid not in run.seen_ids:
                    run.seen_ids.add(bid)
                    run.stats.blobs_reused += 1
                continue
            if bid in run.seen_ids:
                run.by_blob.setdefault(bid, []).append((target, fields))
                continue
            run.seen_ids.add(bid)
            run.by_blob.setdefault(bid, []).append((target, fields))
            run.token += 1
            yield BlobTask(run.token, item.loader, bid)
        known.clear()

    for tgt in targets:
        for item in tgt.items:
            if isinstance(item, ScanError):
                run.add_error(item)
                continue
            if item.blob_id is not None:
                known.append((item, tgt.name))
                if len(known) >= 512:
                    batch.extend(flush_known())
                    if len(batch) >= BATCH_ITEMS:
                        yield batch
                        batch, batch_bytes = [], 0
                continue
            run.token += 1
            run.pending[run.token] = (tgt.name, item.provenance.as_location())
            batch.append(BlobTask(run.token, item.loader, None))
            batch_bytes += item.size or AVERAGE_FILE
            if len(batch) >= BATCH_ITEMS or batch_bytes >= BATCH_BYTES:
                yield batch
                batch, batch_bytes = [], 0
        for task in flush_known():
            batch.append(task)
            if len(batch) >= BATCH_ITEMS:
                yield batch
                batch = []
    if batch:
        yield batch


def _prefetch(batches: Iterator[list[BlobTask]], n: int) -> tuple[list[list[BlobTask]], bool]:
    head = []
    for b in batches:
        head.append(b)
        if sum(len(x) for x in head) > n:
            return head, False
    return head, True


def run_scan(
    targets: list[str],
    settings: Settings,
    rules: list[Rule],
    store,
    progress: Callable[[int, int], None] | None = None,
) -> ScanOutcome:
    use_hs = choose_engine(settings)
    rs_hash = effective_ruleset_hash(rules, settings)
    t0 = time.perf_counter()
    started = _iso_now()
    # raw values exist only when re-read
    full = settings.full or settings.show_secrets or settings.verify
    scrub = Scrubber(lambda: _matcher(rules, settings), (k for r in rules for k in r.keywords))
    srcs = open_targets(targets, settings, store, full, rs_hash, scrub)
    try:
        shown = [scrub.text(t) for t in targets]  # a target named after a secret is not stored
        scan_id = store.begin_scan(shown, rs_hash, "hyperscan" if use_hs else "python")
        run = _Run(store, settings, rules, rs_hash, scan_id, scrub)
        run.stats.targets = shown
        run.stats.started_at = started
        run.stats.engine = "hyperscan" if use_hs else "python"
        batches = _batches(run, srcs, full)
        head, exhausted = _prefetch(batches, INLINE_LIMIT_ITEMS)
        jobs = settings.jobs or os.cpu_count() or 1
        done = 0
        if not head:
            pass  # nothing new to read (an unchanged rescan): no matcher is built at all
        elif exhausted or jobs == 1:
            cfg = _worker_config(rules, settings, use_hs)
            from nhiguard.engine.worker import Worker

            worker = Worker(cfg)
            for batch in _chain(head, batches):
                for res in worker.run(batch):
                    run.handle(res)
                    done += 1
                if progress:
                    progress(done, run.stats.bytes_scanned)
        else:
            done = _run_pool(run, _worker_config(rules, settings, use_hs), jobs, _chain(head, batches), progress)
        for tgt in srcs:
            _carry_forward(store, scan_id, tgt, scrub, settings.fingerprint_key_bytes)
            # A walk with unreadable parts, or of a shallow clone, is not remembered: the next
            # incremental scan walks it again instead of trusting what it could not see.
            if tgt.git is not None and not run.stats.errors and not _is_shallow(tgt.git.repo_key):
                store.record_git_walk(walk_key(tgt.name, rs_hash), scan_id,
                                      scrub.keyed_names(tgt.git.ref_tips, settings.fingerprint_key_bytes),
                                      tgt.git.walked_commits)
        run.stats.errors = [run.scrub.error(e) for e in run.stats.errors]
        run.stats.skipped = [run.scrub.error(e) for e in run.stats.skipped]
        run.stats.blobs_seen = len(run.seen_ids | run.done_ids)
        run.stats.duration_s = round(time.perf_counter() - t0, 3)
        run.stats.finished_at = _iso_now()
        store.finish_scan(scan_id, run.stats)
        findings = store.findings_for_scan(scan_id, rs_hash, run.rules)
        if settings.verify:
            _verify(findings, run, settings, store)
        for f in findings:
            f.secret = run.secrets.get(f.fingerprint) if settings.show_secrets else None
            rule = run.rules.get(f.rule_id)
            # a secret known by its own format is surer than one known by where it sits
            f.confidence = "medium" if rule is not None and is_contextual(rule) else "high"
        return ScanOutcome(scan_id, run.stats, findings, run.secrets)
    finally:
        for tgt in srcs:  # a stdin spool is removed even when the scan fails
            if tgt.close is not None:
                tgt.close()


def _verify(findings: list[Finding], run: _Run, settings: Settings, store) -> None:
    """Ask the providers whether the found secrets are live (remediate/verify.py); each
    finding gets its `verification`, and the store keeps the results for `verify_ttl`."""
    from nhiguard.remediate.verifiers import all_verifiers
    from nhiguard.remediate.verify import Candidate, Verification, verify_all

    by_id = {f.id: f for f in findings}
    candidates = []
    for f in findings:
        raw = run.secrets.get(f.fingerprint)
        if raw is None or f.status in ("revoked", "fixed", "false_positive"):
            continue
        paired = {by_id[p].rule_id: run.secrets[by_id[p].fingerprint] for p in f.paired_with
                  if p in by_id and by_id[p].fingerprint in run.secrets}
        candidates.append(Candidate(f.id, f.rule_id, f.kind, f.provider, raw,
                                    run.contexts.get(f.fingerprint), paired))

    def cached(fid: str) -> Verification | None:
        hit = store.verification(fid, settings.verify_ttl)
        if not hit or hit["status"] == "error":
            # no answer is not an answer: a network failure, a 5xx or a redirect is asked
            # again next run (the store still keeps it, for reports of this scan)
            return None
        return Verification(hit["status"], hit["provider"], hit["identity"], hit["message"],
                            hit["checked_at"])

    endpoints = dict(e.split("=", 1) for e in settings.verify_endpoints)  # checked by settings
    results = verify_all(candidates, all_verifiers(), endpoints=endpoints, cached=cached,
                         rate=float(settings.verify_rate))
    store.record_verifications({fid: v.as_dict() for fid, v in results.items()})
    for fid, v in results.items():
        by_id[fid].verification = v.as_dict()


def _iso_now() -> str:
    """Now as reports show times: ISO 8601 UTC to the second, with a Z (as `report` does)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _carry_forward(store, scan_id: int, tgt: _Target, scrub: Scrubber, key: bytes) -> None:
    """An incremental walk reads only new commits; the places the previous walk saw under
    older ones are linked to this scan, so its report is what a full scan would give. After a
    rewrite (a ref deleted or moved other than forward) only places under commits that are
    still reachable come along."""
    if tgt.previous_walk is None or tgt.git is None:
        return
    from_scan, old_tips = tgt.previous_walk
    if from_scan is None:
        return
    src = tgt.git
    now = scrub.keyed_names(src.ref_tips, key)
    reachable = src.reachable_commits() if src.lost_history(old_tips, now) else None
    store.carry_forward_git_locations(
        scan_id, tgt.name, from_scan, None if reachable is None else reachable.__contains__)


def _is_shallow(git_dir: str) -> bool:
    return os.path.exists(os.path.join(git_dir, "shallow"))


def _chain(head: list, rest: Iterator) -> Iterator:
    yield from head
    yield from rest


def _run_pool(run: _Run, cfg, jobs: int, batches: Iterator[list[BlobTask]], progress) -> int:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait  # only for big scans
    from multiprocessing import get_context

    from nhiguard.engine.worker import init_process, run_in_process

    ctx = get_context("fork") if sys.platform.startswith("linux") else get_context("spawn")
    done = 0
    in_flight: set = set()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_process, initargs=(cfg,))
    try:
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < jobs * 3:
                try:
                    batch = next(batches)
                except StopIteration:
                    exhausted = True
                    break
                in_flight.add(pool.submit(run_in_process, batch))
            if not in_flight:
                break
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in finished:
                for res in fut.result():
                    run.handle(res)
                    done += 1
            if progress:
                progress(done, run.stats.bytes_scanned)
    except BaseException:  # Ctrl-C or an error: stop the workers now, not after their tasks
        procs = list(getattr(pool, "_processes", {}).values())
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(5)
        # the pool sees its workers gone and its manager thread ends; waiting for that here
        # keeps the interpreter's exit hook from writing to a pipe nobody reads
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return done
