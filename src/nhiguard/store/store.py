"""The single writer of the store and the typed queries the pipeline and reports use.

One process writes (the scan pipeline's collector). Writes from `record_blob` and
`record_location` are buffered and flushed in one transaction every `flush_rows` rows, and
before every read that depends on them, `record_git_walk`, `finish_scan` and `close`.
`already_scanned` also consults the buffer, so the pipeline can interleave it with
records without forcing a flush.

Locations are stored once per distinct place (`locations`) and linked to every scan that
saw them (`scan_locations`), so rescanning a repository's history, which carries all of
its old places forward, costs a small row per place, not a copy of it. The pipeline records
places only for blobs with matches: a place is what a finding is reported at, and a blob
without matches under a ruleset keeps none under it (a new ruleset walks everything again).

Secrets are radioactive: a Match's `secret` is never read here. Only the keyed fingerprint
and the redacted preview are written.

A Store is not thread-safe; give each reader thread or process its own Store.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    literal,
    select,
    type_coerce,
    update,
)

import nhiguard
from nhiguard.model import Finding, Location, Match, Rule, ScanError, ScanStats, Severity
from nhiguard.store import migrate
from nhiguard.store.bulk import BulkInsert
from nhiguard.store.database import insert, make_engine
from nhiguard.store.ids import canonical_json, finding_id, location_key
from nhiguard.store.schema import (
    findings,
    git_walks,
    locations,
    matches,
    meta,
    scan_locations,
    scanned_blobs,
    scans,
    walked_commits,
)

#: Triage statuses a finding can have; "open" is the default.
STATUSES = ("open", "false_positive", "accepted", "revoked", "fixed")

#: Buffered rows (blobs + matches + locations) that trigger a flush.
DEFAULT_FLUSH_ROWS = 20_000

#: Longest IN (...) list sent in one statement (SQLite's old limit is 999 variables).
IN_CHUNK = 500

#: Rows written after which finish_scan refreshes PostgreSQL's planner statistics.
_ANALYZE_AFTER_ROWS = 10_000

#: Up to this many matched blobs, findings_for_scan fetches their places by key.
_FEW_BLOBS = 4 * IN_CHUNK

Clock = Callable[[], datetime]

# The columns of each buffered row, in order: the row builders and the bulk INSERTs agree
# through this table.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "findings": (
        "id",
        "rule_id",
        "rule_name",
        "kind",
        "provider",
        "severity",
        "fingerprint",
        "preview",
        "first_seen",
        "last_seen",
        "first_scan_id",
        "last_scan_id",
        "status",
    ),
    "scanned_blobs": ("blob_id", "ruleset_hash", "size", "scanned_at", "scan_id"),
    "matches": (
        "blob_id",
        "ruleset_hash",
        "rule_id",
        "byte_start",
        "byte_end",
        "finding_id",
        "fingerprint",
        "preview",
        "line",
        "col",
        "pair_fingerprints",
        "decoded",
    ),
    "locations": (
        "loc_key",
        "target",
        "blob_id",
        "source",
        "path",
        "commit_sha",
        "fields",
        "first_scan_id",
    ),
    "scan_locations": ("scan_id", "blob_id", "loc_key"),
    "walked_commits": ("repo_key", "commit_sha", "walked_at"),
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """A timestamp as shown in reports: ISO 8601 UTC to the second, with a Z."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _safe_text(s: str) -> str:
    """Text every backend accepts: no lone surrogates (undecodable file names), no NUL.

    Undecodable bytes are shown as \\xNN, as Python shows them; the change is display-only.
    """
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = s.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = s.encode("utf-8", "backslashreplace")
        s = raw.decode("utf-8", "backslashreplace")
    if "\x00" in s:
        s = s.replace("\x00", "\\x00")
    return s


def _json_is_safe(text: str) -> bool:
    """True if JSON text has no lone surrogate and no NUL (PostgreSQL rejects \\u0000)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\\u0000" not in text


def _safe_json(value: Any) -> Any:
    if isinstance(value, str):
        return _safe_text(value)
    if isinstance(value, dict):
        return {_safe_text(str(k)): _safe_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe_json(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """One row of the findings table: the finding's identity, rule facts and triage."""

    id: str
    rule_id: str
    rule_name: str
    kind: str
    provider: str
    severity: Severity
    fingerprint: str
    preview: str
    first_seen: str
    last_seen: str
    first_scan_id: int | None
    last_scan_id: int | None
    status: str
    status_by: str | None
    status_at: str | None
    status_reason: str | None


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError:
        return Severity.MEDIUM


class Store:
    """A handle on one store (SQLite file or PostgreSQL database). Use `Store.open`."""

    def __init__(
        self,
        engine: Engine,
        *,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        clock: Clock = _utcnow,
    ) -> None:
        self.engine = engine
        self.flush_rows = max(1, flush_rows)
        self._clock = clock
        self._dialect = engine.dialect.name
        self._bulk_inserts: dict[str, BulkInsert] = {}
        # scan id -> (started_at, started_at as the driver takes it)
        self._scan_started: dict[int, tuple[datetime, Any]] = {}
        # Buffers of rows (tuples in _COLUMNS order), keyed so a repeated record replaces
        # or joins the earlier one.
        self._blobs: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._matches: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self._findings: dict[str, tuple[Any, ...]] = {}
        self._places: dict[str, tuple[Any, ...]] = {}
        self._sightings: dict[tuple[int, str], tuple[int, str, str]] = {}
        self._pending = 0
        self._written = 0  # rows flushed since the last ANALYZE (PostgreSQL)
        self._closed = False
        self._read_only = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        url_or_path: str | os.PathLike[str],
        *,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        clock: Clock = _utcnow,
        read_only: bool = False,
    ) -> Store:
        """Open (creating if needed) a store and migrate it to the newest schema; with
        `read_only`, open an existing store of the current schema without writing to it.

        `url_or_path` is an SQLite file path or an SQLAlchemy URL (sqlite:///...,
        postgresql+psycopg://...). A new SQLite file is created 0600 in a 0700 directory.
        """
        engine = make_engine(url_or_path, read_only=read_only)
        try:
            if read_only:
                migrate.require_current(engine)
            elif migrate.upgrade(engine):
                with engine.begin() as conn:
                    _upsert_meta(conn, engine.dialect.name, "migrated_by", nhiguard.__version__)
        except BaseException:
            engine.dispose()
            raise
        store = cls(engine, flush_rows=flush_rows, clock=clock)
        store._read_only = read_only
        return store

    @property
    def url(self) -> str:
        """The store's URL with any password masked, safe to show."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Flush buffered records and release connections. Idempotent."""
        if self._closed:
            return
        try:
            self.flush()
            if self._dialect == "sqlite" and not self._read_only:
                # Keeps the query planner's statistics fresh (SQLite's advice: on close).
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA optimize")
        finally:
            self._closed = True
            self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ scans

    def begin_scan(self, targets: list[str], ruleset_hash: str, engine: str) -> int:
        """Record the start of a scan; returns its id."""
        started = self._clock()
        with self.engine.begin() as conn:
            result = conn.execute(
                scans.insert().values(
                    started_at=started,
                    targets=[_safe_text(t) for t in targets],
                    ruleset_hash=ruleset_hash,
                    engine=engine,
                    bytes_scanned=0,
                    blobs_scanned=0,
                    blobs_seen=0,
                    blobs_reused=0,
                    errors=[],
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            scan_id = int(pk[0])
        self._remember_start(scan_id, started)
        return scan_id

    def finish_scan(self, scan_id: int, stats: ScanStats) -> None:
        """Flush, record the scan's counters and errors, and mark what it saw as seen now."""
        errors = [
            {"path": _safe_text(e.path), "message": _safe_text(e.message), "kind": e.kind}
            for e in [*stats.errors, *stats.skipped]
        ]
        with self.engine.begin() as conn:
            self._flush(conn)
            if self._dialect == "postgresql" and self._written >= _ANALYZE_AFTER_ROWS:
                # Fresh statistics before the queries that follow: right after a big load,
                # autovacuum has not analysed yet and the planner would guess tiny tables.
                for table in (findings, scanned_blobs, matches, locations, scan_locations):
                    conn.exec_driver_sql(f"ANALYZE {table.name}")
                self._written = 0
            row = conn.execute(
                select(scans.c.ruleset_hash, scans.c.started_at).where(scans.c.id == scan_id)
            ).one_or_none()
            if row is None:
                raise KeyError(f"no scan {scan_id}")
            conn.execute(
                update(scans)
                .where(scans.c.id == scan_id)
                .values(
                    finished_at=self._clock(),
                    bytes_scanned=stats.bytes_scanned,
                    blobs_scanned=stats.blobs_scanned,
                    blobs_seen=stats.blobs_seen,
                    blobs_reused=stats.blobs_reused,
                    errors=errors,
                )
            )
            # Findings seen only in blobs reused from earlier scans were not upserted by
            # record_blob; this scan saw them too.
            seen = select(matches.c.finding_id).where(
                matches.c.ruleset_hash == row.ruleset_hash,
                _seen_in_scan(matches.c.blob_id, scan_id),
            )
            conn.execute(
                update(findings)
                .where(
                    findings.c.id.in_(seen),
                    (findings.c.last_scan_id.is_(None)) | (findings.c.last_scan_id < scan_id),
                )
                .values(last_seen=row.started_at, last_scan_id=scan_id)
            )

    def _remember_start(self, scan_id: int, started: datetime) -> tuple[datetime, Any]:
        entry = (started, self._bulk("scanned_blobs").to_db("scanned_at", started))
        self._scan_started[scan_id] = entry
        return entry

    def _started(self, scan_id: int) -> tuple[datetime, Any]:
        entry = self._scan_started.get(scan_id)
        if entry is not None:
            return entry
        with self.engine.connect() as conn:
            started = conn.execute(
                select(scans.c.started_at).where(scans.c.id == scan_id)
            ).scalar_one_or_none()
        if started is None:
            raise KeyError(f"no scan {scan_id}")
        return self._remember_start(scan_id, started)

    # ------------------------------------------------------------------ incremental scanning

    def already_scanned(self, ruleset_hash: str, blob_ids: Iterable[str]) -> set[str]:
        """Those of `blob_ids` already matched under `ruleset_hash` (their matches are stored)."""
        wanted = list(dict.fromkeys(blob_ids))
        found = {b for b in wanted if (b, ruleset_hash) in self._blobs}
        rest = [b for b in wanted if b not in found]
        if not rest:
            return found
        stmt = select(scanned_blobs.c.blob_id).where(
            scanned_blobs.c.ruleset_hash == ruleset_hash,
            scanned_blobs.c.blob_id.in_(bindparam("ids", expanding=True)),
        )
        with self.engine.connect() as conn:
            for chunk in _chunks(rest):
                found.update(conn.execute(stmt, {"ids": list(chunk)}).scalars())
        return found

    def blobs_with_matches(self, ruleset_hash: str, blob_ids: Iterable[str]) -> set[str]:
        """Those of `blob_ids` that have at least one match stored under `ruleset_hash`."""
        wanted = list(dict.fromkeys(blob_ids))
        found = {b for b in wanted if self._matches.get((b, ruleset_hash))}
        rest = [b for b in wanted if b not in found and (b, ruleset_hash) not in self._blobs]
        if not rest:
            return found
        stmt = (
            select(matches.c.blob_id)
            .where(
                matches.c.ruleset_hash == ruleset_hash,
                matches.c.blob_id.in_(bindparam("ids", expanding=True)),
            )
            .distinct()
        )
        with self.engine.connect() as conn:
            for chunk in _chunks(rest):
                found.update(conn.execute(stmt, {"ids": list(chunk)}).scalars())
        return found

    def walked_commits(self, repo_key: str) -> frozenset[str]:
        """Commits of a repository walked by earlier scans."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(walked_commits.c.commit_sha).where(walked_commits.c.repo_key == repo_key)
            ).scalars()
            return frozenset(rows)

    # ------------------------------------------------------------------ recording

    def record_blob(
        self,
        scan_id: int,
        ruleset_hash: str,
        blob_id: str,
        size: int,
        matches: Sequence[Match],
        rules: Mapping[str, Rule],
    ) -> None:
        """Record that a blob was matched under a ruleset, with its matches (maybe none),
        and create or refresh the findings they belong to. Buffered."""
        _, started = self._started(scan_id)
        key = (blob_id, ruleset_hash)
        self._blobs[key] = (blob_id, ruleset_hash, size, started, scan_id)
        rows: list[tuple[Any, ...]] = []
        for m in matches:
            if m.blob_id != blob_id:
                raise ValueError(f"match of blob {m.blob_id} recorded under blob {blob_id}")
            rule = rules.get(m.rule_id)
            if rule is None:
                raise ValueError(f"match of rule {m.rule_id!r}, which is not in the ruleset")
            fid = finding_id(m.rule_id, m.fingerprint)
            # Only these Match fields are read: never m.secret.
            pairs = json.dumps(list(m.pair_fingerprints)) if m.pair_fingerprints else "[]"
            rows.append(
                (
                    blob_id,
                    ruleset_hash,
                    m.rule_id,
                    m.start,
                    m.end,
                    fid,
                    m.fingerprint,
                    m.preview,
                    m.line,
                    m.column,
                    pairs,
                    m.decoded or "",
                )
            )
            if fid not in self._findings:
                self._findings[fid] = (
                    fid,
                    m.rule_id,
                    rule.name,
                    rule.kind,
                    rule.provider,
                    str(rule.severity),
                    m.fingerprint,
                    m.preview,
                    started,
                    started,
                    scan_id,
                    scan_id,
                    "open",
                )
        self._matches[key] = rows
        self._pending += 1 + len(rows)
        if self._pending >= self.flush_rows:
            self.flush()

    def record_location(
        self, scan_id: int, target: str, blob_id: str, fields: dict[str, Any]
    ) -> None:
        """Record that the blob was seen at a place (a provenance's as_location()) in this scan.
        A place recorded twice in one scan is stored once. Buffered."""
        text = canonical_json(fields)  # TypeError here, not at flush, for unserialisable fields
        if not _json_is_safe(text):
            fields = _safe_json(fields)
            text = canonical_json(fields)
        lkey = location_key(target, blob_id, text)
        key = (scan_id, lkey)
        if key in self._sightings:
            return
        self._sightings[key] = (scan_id, blob_id, lkey)
        if lkey not in self._places:
            path = fields.get("path")
            commit = fields.get("commit")
            self._places[lkey] = (
                lkey,
                _safe_text(target),
                blob_id,
                str(fields.get("source") or "unknown"),
                None if path is None else _safe_text(str(path)),
                None if commit is None else _safe_text(str(commit)),
                text,
                scan_id,
            )
        self._pending += 1
        if self._pending >= self.flush_rows:
            self.flush()

    def git_walk(self, walk_key: str) -> tuple[int | None, dict[str, str]] | None:
        """(scan id, ref tips) of the last whole-history walk under `walk_key`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(git_walks.c.scan_id, git_walks.c.tips).where(git_walks.c.walk_key == walk_key)
            ).one_or_none()
        if row is None:
            return None
        tips = json.loads(row.tips) if isinstance(row.tips, str) else row.tips
        return row.scan_id, {str(k): str(v) for k, v in (tips or {}).items()}

    def record_git_walk(self, walk_key: str, scan_id: int, tips: Mapping[str, str],
                        commits: Iterable[str]) -> None:
        """Remember a whole-history walk: its newly walked commits and, replacing the previous
        walk, its scan and ref tips. One transaction, after the scan's records are flushed, so
        nothing is marked walked while what was found under it is only in memory."""
        bulk = self._bulk("walked_commits")
        now = self._clock()
        rows = [(walk_key, c, bulk.to_db("walked_at", now)) for c in dict.fromkeys(commits)]
        with self.engine.begin() as conn:
            self._flush(conn)
            bulk.execute(conn, rows)
            values = {"scan_id": scan_id, "tips": _safe_json(dict(tips)), "walked_at": now}
            conn.execute(
                insert(self._dialect, git_walks)
                .values(walk_key=walk_key, **values)
                .on_conflict_do_update(index_elements=[git_walks.c.walk_key], set_=values)
            )

    def carry_forward_git_locations(
        self,
        scan_id: int,
        target: str,
        from_scan: int,
        reachable: Callable[[str], bool] | None = None,
    ) -> int:
        """Link the committed git places of `target` that scan `from_scan` saw to this scan,
        skipping places this scan already has; with `reachable`, only places whose commit it
        accepts (after a history rewrite). Staged blobs and unreachable objects are never
        carried: they are found again by every scan that looks for them. Returns the number
        of places carried."""
        sl, loc = scan_locations, locations
        candidates = (
            select(sl.c.blob_id, sl.c.loc_key, loc.c.commit_sha, loc.c.fields)
            .select_from(sl.join(loc, sl.c.loc_key == loc.c.loc_key))
            .where(
                sl.c.scan_id == from_scan,
                loc.c.target == _safe_text(target),
                loc.c.source == "git",
                loc.c.commit_sha.is_not(None),
            )
        )
        with self.engine.begin() as conn:
            self._flush(conn)
            have = set(conn.execute(select(sl.c.loc_key).where(sl.c.scan_id == scan_id)).scalars())
            rows = []
            for blob_id, loc_key, commit, fields in conn.execute(candidates):
                if loc_key in have:
                    continue
                doc = json.loads(fields) if isinstance(fields, str) else fields
                if doc.get("staged") or doc.get("reachable") is False:
                    continue
                if reachable is not None and not reachable(commit):
                    continue
                rows.append((scan_id, blob_id, loc_key))
            self._bulk("scan_locations").execute(conn, rows)
        self._written += len(rows)
        return len(rows)

    # ------------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Write buffered records in one transaction."""
        if self._blobs or self._findings or self._sightings:
            with self.engine.begin() as conn:
                self._flush(conn)

    def _bulk(self, name: str) -> BulkInsert:
        """The compiled bulk INSERT for one of the writer's tables (built once per Store)."""
        bulk = self._bulk_inserts.get(name)
        if bulk is None:
            table, on_conflict = _BULK_TABLES[name]
            bulk = BulkInsert(self.engine.dialect, table, _COLUMNS[name], on_conflict)
            self._bulk_inserts[name] = bulk
        return bulk

    def _flush(self, conn: Connection) -> None:
        if not (self._blobs or self._findings or self._sightings):
            return
        if self._findings:
            self._bulk("findings").execute(conn, list(self._findings.values()))
        if self._blobs:
            self._forget_old_matches(conn)
            self._bulk("scanned_blobs").execute(conn, list(self._blobs.values()))
            match_rows = [r for rows in self._matches.values() for r in rows]
            self._bulk("matches").execute(conn, match_rows)
        if self._sightings:
            self._bulk("locations").execute(conn, list(self._places.values()))
            self._bulk("scan_locations").execute(conn, list(self._sightings.values()))
        self._written += self._pending
        self._blobs.clear()
        self._matches.clear()
        self._findings.clear()
        self._places.clear()
        self._sightings.clear()
        self._pending = 0

    def _forget_old_matches(self, conn: Connection) -> None:
        """A blob matched again under the same ruleset (a forced rescan): its new matches
        replace the old ones."""
        by_ruleset: dict[str, list[str]] = defaultdict(list)
        for blob_id, rh in self._blobs:
            by_ruleset[rh].append(blob_id)
        probe = select(scanned_blobs.c.blob_id).where(
            scanned_blobs.c.ruleset_hash == bindparam("rh"),
            scanned_blobs.c.blob_id.in_(bindparam("ids", expanding=True)),
        )
        redo: list[dict[str, str]] = []
        for rh, ids in by_ruleset.items():
            for chunk in _chunks(ids):
                for b in conn.execute(probe, {"rh": rh, "ids": list(chunk)}).scalars():
                    redo.append({"b": b, "rh": rh})
        if redo:
            conn.execute(
                delete(matches).where(
                    and_(
                        matches.c.blob_id == bindparam("b"),
                        matches.c.ruleset_hash == bindparam("rh"),
                    )
                ),
                redo,
            )

    # ------------------------------------------------------------------ queries

    def findings_for_scan(
        self, scan_id: int, ruleset_hash: str, rules: Mapping[str, Rule]
    ) -> list[Finding]:
        """Every finding with a match in a blob seen (has a location) in this scan.

        Each Finding has one Location per (match, place its blob was seen), sorted by path
        and line; `paired_with` holds the ids of findings whose fingerprints the match lists
        as its pairs in the same blob. Rule facts come from `rules`, or from the stored row
        when the rule is gone; status and first_seen from the findings table.
        """
        self.flush()
        m, f, loc, sl = matches, findings, locations, scan_locations
        # Driven by the matches, not by the scan's places: a scan sees many blobs, few of
        # which have matches.
        with self.engine.connect() as conn:
            match_rows = conn.execute(
                select(
                    m.c.blob_id,
                    m.c.finding_id,
                    m.c.fingerprint,
                    m.c.line,
                    m.c.col,
                    m.c.decoded,
                    # As text on SQLite, so the common "[]" needs no JSON decoding.
                    type_coerce(m.c.pair_fingerprints, Text),
                    f.c.rule_id,
                    f.c.rule_name,
                    f.c.kind,
                    f.c.provider,
                    f.c.severity,
                    f.c.preview,
                    f.c.status,
                    f.c.first_seen,
                )
                .select_from(m.join(f, f.c.id == m.c.finding_id))
                .where(m.c.ruleset_hash == ruleset_hash, _seen_in_scan(m.c.blob_id, scan_id))
            ).all()
            blob_ids = list(dict.fromkeys(r[0] for r in match_rows))
            places: dict[str, list[dict[str, Any]]] = defaultdict(list)
            base = select(sl.c.blob_id, loc.c.fields).select_from(
                sl.join(loc, loc.c.loc_key == sl.c.loc_key)
            )
            if len(blob_ids) <= _FEW_BLOBS:
                # The usual case: few blobs with matches, looked up by key.
                stmt = base.where(
                    sl.c.scan_id == scan_id, sl.c.blob_id.in_(bindparam("ids", expanding=True))
                )
                for chunk in _chunks(blob_ids):
                    for blob_id, fields in conn.execute(stmt, {"ids": list(chunk)}):
                        places[blob_id].append(fields)
            else:
                # Many: one pass over the scan's places lets the database join in bulk.
                has_match = (
                    select(literal(1))
                    .select_from(m)
                    .where(m.c.blob_id == sl.c.blob_id, m.c.ruleset_hash == ruleset_hash)
                    .exists()
                )
                for blob_id, fields in conn.execute(base.where(sl.c.scan_id == scan_id, has_match)):
                    places[blob_id].append(fields)

        by_fp: dict[tuple[str, str], set[str]] = defaultdict(set)
        by_finding: dict[str, list[tuple[str, int, int, Any]]] = defaultdict(list)
        finding_rows: dict[str, tuple[Any, ...]] = {}
        for blob_id, fid, fprint, line, col, decoded, pairs, *frow in match_rows:
            if isinstance(pairs, str):  # PostgreSQL's driver decodes JSONB itself
                pairs = json.loads(pairs) if pairs != "[]" else ()
            by_fp[(blob_id, fprint)].add(fid)
            by_finding[fid].append((blob_id, line, col, pairs, decoded))
            if fid not in finding_rows:
                finding_rows[fid] = (fid, *frow[:5], fprint, *frow[5:])

        seen_iso: dict[datetime, str | None] = {}
        out: list[Finding] = []
        no_places: list[dict[str, Any]] = []
        for (
            fid,
            rule_id,
            name,
            kind,
            provider,
            severity,
            fprint,
            prev,
            status,
            first,
        ) in finding_rows.values():
            ms = by_finding.get(fid, ())
            locs = [
                Location(
                    fields=dict(fields, decoded=decoded) if decoded else dict(fields),
                    line=line,
                    column=col,
                    blob_id=blob_id,
                )
                for blob_id, line, col, _, decoded in ms
                for fields in places.get(blob_id, no_places)
            ]
            locs.sort(key=_location_order)
            paired: set[str] = set()
            for blob_id, _, _, pairs, _ in ms:
                for pfp in pairs or ():
                    paired.update(by_fp.get((blob_id, pfp), ()))
            paired.discard(fid)
            if first not in seen_iso:
                seen_iso[first] = iso(first)
            rule = rules.get(rule_id)
            out.append(
                Finding(
                    id=fid,
                    rule_id=rule_id,
                    rule_name=rule.name if rule else name,
                    kind=rule.kind if rule else kind,
                    provider=rule.provider if rule else provider,
                    severity=rule.severity if rule else _severity(severity),
                    fingerprint=fprint,
                    preview=prev,
                    locations=locs,
                    paired_with=sorted(paired),
                    status=status,
                    first_seen=seen_iso[first],
                )
            )
        out.sort(key=_finding_order)
        return out

    def latest_scan_id(self) -> int | None:
        """The most recent finished scan, for `nhiguard report`."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.max(scans.c.id)).where(scans.c.finished_at.is_not(None))
            ).scalar()

    def scan_ruleset(self, scan_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(scans.c.ruleset_hash).where(scans.c.id == scan_id)
            ).scalar()

    def scan_stats(self, scan_id: int) -> ScanStats | None:
        """The counters and errors a finished scan recorded."""
        with self.engine.connect() as conn:
            row = conn.execute(select(scans).where(scans.c.id == scan_id)).one_or_none()
        if row is None:
            return None
        problems = [ScanError(e["path"], e["message"], e.get("kind", "error")) for e in row.errors or []]
        duration = (row.finished_at - row.started_at).total_seconds() if row.finished_at else 0.0
        return ScanStats(
            targets=list(row.targets or []),
            bytes_scanned=row.bytes_scanned,
            blobs_scanned=row.blobs_scanned,
            blobs_seen=row.blobs_seen,
            blobs_reused=row.blobs_reused,
            errors=[p for p in problems if p.kind != "skipped"],
            skipped=[p for p in problems if p.kind == "skipped"],
            started_at=iso(row.started_at) or "",
            finished_at=iso(row.finished_at) or "",
            duration_s=round(duration, 3),
            engine=row.engine,
        )

    def get_finding(self, finding_id: str) -> FindingRecord | None:
        """The stored row of one finding, or None."""
        self.flush()
        with self.engine.connect() as conn:
            row = conn.execute(select(findings).where(findings.c.id == finding_id)).one_or_none()
        if row is None:
            return None
        return FindingRecord(
            id=row.id,
            rule_id=row.rule_id,
            rule_name=row.rule_name,
            kind=row.kind,
            provider=row.provider,
            severity=_severity(row.severity),
            fingerprint=row.fingerprint,
            preview=row.preview,
            first_seen=iso(row.first_seen) or "",
            last_seen=iso(row.last_seen) or "",
            first_scan_id=row.first_scan_id,
            last_scan_id=row.last_scan_id,
            status=row.status,
            status_by=row.status_by,
            status_at=iso(row.status_at),
            status_reason=row.status_reason,
        )

    def set_status(
        self, finding_id: str, status: str, by: str | None = None, reason: str | None = None
    ) -> None:
        """Triage a finding. Raises ValueError for an unknown status, KeyError for an
        unknown finding."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        self.flush()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(findings)
                .where(findings.c.id == finding_id)
                .values(
                    status=status,
                    status_by=None if by is None else _safe_text(by),
                    status_at=self._clock(),
                    status_reason=None if reason is None else _safe_text(reason),
                )
            )
            if result.rowcount == 0:
                raise KeyError(f"no finding {finding_id}")

    def meta(self) -> dict[str, str]:
        """The store's facts (created_at, migrated_by, ...)."""
        with self.engine.connect() as conn:
            return {k: v for k, v in conn.execute(select(meta.c.key, meta.c.value))}

    def count(self, table: str) -> int:
        """Rows in one of the store's tables (for diagnostics and tests)."""
        t = {
            t.name: t
            for t in (
                scans,
                scanned_blobs,
                matches,
                findings,
                locations,
                scan_locations,
                walked_commits,
                meta,
            )
        }[table]
        self.flush()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())


def _upsert_findings(ins: Any) -> Any:
    return ins.on_conflict_do_update(
        index_elements=[findings.c.id],
        set_={
            # Rule facts follow the rule; triage and first_seen stay as they were.
            "rule_name": ins.excluded.rule_name,
            "kind": ins.excluded.kind,
            "provider": ins.excluded.provider,
            "severity": ins.excluded.severity,
            "preview": ins.excluded.preview,
            "last_seen": ins.excluded.last_seen,
            "last_scan_id": ins.excluded.last_scan_id,
        },
    )


def _upsert_scanned_blobs(ins: Any) -> Any:
    return ins.on_conflict_do_update(
        index_elements=[scanned_blobs.c.blob_id, scanned_blobs.c.ruleset_hash],
        set_={
            "size": ins.excluded.size,
            "scanned_at": ins.excluded.scanned_at,
            "scan_id": ins.excluded.scan_id,
        },
    )


def _ignore_existing(ins: Any) -> Any:
    return ins.on_conflict_do_nothing()


_BULK_TABLES: dict[str, tuple[Table, Callable[[Any], Any]]] = {
    "findings": (findings, _upsert_findings),
    "scanned_blobs": (scanned_blobs, _upsert_scanned_blobs),
    "matches": (matches, _ignore_existing),
    "locations": (locations, _ignore_existing),
    "scan_locations": (scan_locations, _ignore_existing),
    "walked_commits": (walked_commits, _ignore_existing),
}


def _seen_in_scan(blob_id: Any, scan_id: int) -> Any:
    """EXISTS: the blob `blob_id` (a correlated column) was seen in the scan: one lookup in
    the scan_locations primary key (scan_id, blob_id, ...)."""
    return (
        select(literal(1))
        .select_from(scan_locations)
        .where(scan_locations.c.scan_id == scan_id, scan_locations.c.blob_id == blob_id)
        .exists()
    )


def _location_order(loc: Location) -> tuple[Any, ...]:
    f = loc.fields
    return (
        str(f.get("path") or ""),
        loc.line,
        loc.column,
        str(f.get("commit") or ""),
        str(f.get("source") or ""),
        loc.blob_id,
    )


def _finding_order(f: Finding) -> tuple[Any, ...]:
    first = f.locations[0] if f.locations else None
    return (
        -int(f.severity),
        f.rule_id,
        str(first.fields.get("path") or "") if first else "",
        first.line if first else 0,
        f.id,
    )


def _upsert_meta(conn: Connection, dialect: str, key: str, value: str) -> None:
    ins = insert(dialect, meta).values(key=key, value=value)
    conn.execute(ins.on_conflict_do_update(index_elements=[meta.c.key], set_={"value": value}))
