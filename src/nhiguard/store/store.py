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

import nhiguard
from nhiguard.model import Finding, Location, Match, Rule, ScanError, ScanStats, Severity
from nhiguard.store import migrate
from nhiguard.store.bulk import BulkInsert
from nhiguard.store.database import Database, StoreError, placeholders
from nhiguard.store.ids import canonical_json, finding_id, location_key

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
        "step",
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
    "token_hashes": ("digest", "finding_id"),
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
        db: Database,
        *,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        clock: Clock = _utcnow,
    ) -> None:
        self.db = db
        self.flush_rows = max(1, flush_rows)
        self._clock = clock
        self._dialect = db.dialect
        self._bulk_inserts: dict[str, BulkInsert] = {}
        # scan id -> (started_at, started_at as the driver takes it)
        self._scan_started: dict[int, tuple[datetime, Any]] = {}
        # Buffers of rows (tuples in _COLUMNS order), keyed so a repeated record replaces
        # or joins the earlier one.
        self._blobs: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._matches: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        self._findings: dict[str, tuple[Any, ...]] = {}
        self._token_hashes: dict[str, tuple[str, str]] = {}  # digest -> (digest, finding id)
        self._places: dict[str, tuple[Any, ...]] = {}
        self._sightings: dict[tuple[int, str], tuple[int, str, str]] = {}
        self._pending = 0
        self._written = 0  # rows flushed since the last ANALYZE (PostgreSQL)
        self._closed = False
        self._read_only = db.read_only

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

        `url_or_path` is an SQLite file path or a URL (sqlite:///..., postgresql://...,
        postgresql+psycopg://...). A new SQLite file is created 0600 in a 0700 directory.
        """
        db = Database.connect(url_or_path, read_only=read_only)
        try:
            if read_only:
                migrate.require_current(db)
            elif migrate.ensure_current(db):
                with db.transaction():
                    _upsert_meta(db, "migrated_by", nhiguard.__version__)
        except BaseException:
            db.close()
            raise
        return cls(db, flush_rows=flush_rows, clock=clock)

    @property
    def url(self) -> str:
        """Where the store is, with any password masked, safe to show."""
        return self.db.shown

    @property
    def dialect(self) -> str:
        return self._dialect

    def close(self) -> None:
        """Flush buffered records and release the connection. Idempotent."""
        if self._closed:
            return
        try:
            self.flush()
            if self._dialect == "sqlite" and not self._read_only:
                # Keeps the query planner's statistics fresh (SQLite's advice: on close). It
                # reads and then writes, which SQLite refuses at once while another scan
                # writes, without waiting: it is advice, so that scan's turn is enough.
                try:
                    self.db.execute("PRAGMA optimize")
                except StoreError:
                    pass
        finally:
            self._closed = True
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ scans

    def begin_scan(self, targets: list[str], ruleset_hash: str, engine: str) -> int:
        """Record the start of a scan; returns its id."""
        started = self._clock()
        db = self.db
        with db.transaction():
            scan_id = int(db.scalar(
                "INSERT INTO scans (started_at, targets, ruleset_hash, engine, bytes_scanned, "
                "blobs_scanned, blobs_seen, blobs_reused, errors) "
                "VALUES (?, ?, ?, ?, 0, 0, 0, 0, ?) RETURNING id",
                (db.ts(started), db.json([_safe_text(t) for t in targets]), ruleset_hash,
                 engine, "[]"),
            ))
        self._remember_start(scan_id, started)
        return scan_id

    def finish_scan(self, scan_id: int, stats: ScanStats) -> None:
        """Flush, record the scan's counters and errors, and mark what it saw as seen now."""
        errors = [
            {"path": _safe_text(e.path), "message": _safe_text(e.message), "kind": e.kind}
            for e in [*stats.errors, *stats.skipped]
        ]
        db = self.db
        with db.transaction():
            self._flush()
            if self._dialect == "postgresql" and self._written >= _ANALYZE_AFTER_ROWS:
                # Fresh statistics before the queries that follow: right after a big load,
                # autovacuum has not analysed yet and the planner would guess tiny tables.
                for table in ("findings", "scanned_blobs", "matches", "locations", "scan_locations"):
                    db.execute(f"ANALYZE {table}")
                self._written = 0
            row = db.one("SELECT ruleset_hash, started_at FROM scans WHERE id = ?", (scan_id,))
            if row is None:
                raise KeyError(f"no scan {scan_id}")
            ruleset_hash, started_at = row
            db.execute(
                "UPDATE scans SET finished_at = ?, bytes_scanned = ?, blobs_scanned = ?, "
                "blobs_seen = ?, blobs_reused = ?, errors = ? WHERE id = ?",
                (db.ts(self._clock()), stats.bytes_scanned, stats.blobs_scanned, stats.blobs_seen,
                 stats.blobs_reused, db.json(errors), scan_id),
            )
            # Findings seen only in blobs reused from earlier scans were not upserted by
            # record_blob; this scan saw them too.
            db.execute(
                "UPDATE findings SET last_seen = ?, last_scan_id = ? "
                "WHERE id IN (SELECT m.finding_id FROM matches m WHERE m.ruleset_hash = ? AND "
                + _SEEN_IN_SCAN + ") AND (last_scan_id IS NULL OR last_scan_id < ?)",
                (started_at, scan_id, ruleset_hash, scan_id, scan_id),
            )

    def _remember_start(self, scan_id: int, started: datetime) -> tuple[datetime, Any]:
        entry = (started, self.db.ts(started))
        self._scan_started[scan_id] = entry
        return entry

    def _started(self, scan_id: int) -> tuple[datetime, Any]:
        entry = self._scan_started.get(scan_id)
        if entry is not None:
            return entry
        started = Database.ts_out(self.db.scalar("SELECT started_at FROM scans WHERE id = ?", (scan_id,)))
        if started is None:
            raise KeyError(f"no scan {scan_id}")
        return self._remember_start(scan_id, started)

    # ------------------------------------------------------------------ incremental scanning

    def already_scanned(self, ruleset_hash: str, blob_ids: Iterable[str]) -> set[str]:
        """Those of `blob_ids` already matched under `ruleset_hash` (their matches are stored)."""
        wanted = list(dict.fromkeys(blob_ids))
        found = {b for b in wanted if (b, ruleset_hash) in self._blobs}
        rest = [b for b in wanted if b not in found]
        for chunk in _chunks(rest):
            found.update(self.db.column(
                f"SELECT blob_id FROM scanned_blobs WHERE ruleset_hash = ? "
                f"AND blob_id IN ({placeholders(len(chunk))})", (ruleset_hash, *chunk)))
        return found

    def blobs_with_matches(self, ruleset_hash: str, blob_ids: Iterable[str]) -> set[str]:
        """Those of `blob_ids` that have at least one match stored under `ruleset_hash`."""
        wanted = list(dict.fromkeys(blob_ids))
        found = {b for b in wanted if self._matches.get((b, ruleset_hash))}
        rest = [b for b in wanted if b not in found and (b, ruleset_hash) not in self._blobs]
        for chunk in _chunks(rest):
            found.update(self.db.column(
                f"SELECT DISTINCT blob_id FROM matches WHERE ruleset_hash = ? "
                f"AND blob_id IN ({placeholders(len(chunk))})", (ruleset_hash, *chunk)))
        return found

    def walked_commits(self, repo_key: str) -> frozenset[str]:
        """Commits of a repository walked by earlier scans."""
        return frozenset(self.db.column(
            "SELECT commit_sha FROM walked_commits WHERE repo_key = ?", (repo_key,)))

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
                    m.step,
                )
            )
            if m.token_hash:
                self._token_hashes[m.token_hash] = (m.token_hash, fid)
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
        row = self.db.one("SELECT scan_id, tips FROM git_walks WHERE walk_key = ?", (walk_key,))
        if row is None:
            return None
        tips = Database.json_out(row[1])
        return row[0], {str(k): str(v) for k, v in (tips or {}).items()}

    def record_git_walk(self, walk_key: str, scan_id: int, tips: Mapping[str, str],
                        commits: Iterable[str]) -> None:
        """Remember a whole-history walk: its newly walked commits and, replacing the previous
        walk, its scan and ref tips. One transaction, after the scan's records are flushed, so
        nothing is marked walked while what was found under it is only in memory."""
        db = self.db
        now = db.ts(self._clock())
        rows = [(walk_key, c, now) for c in dict.fromkeys(commits)]
        with db.transaction():
            self._flush()
            self._bulk("walked_commits").execute(rows)
            db.execute(
                "INSERT INTO git_walks (walk_key, scan_id, tips, walked_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (walk_key) DO UPDATE SET scan_id = excluded.scan_id, "
                "tips = excluded.tips, walked_at = excluded.walked_at",
                (walk_key, scan_id, db.json(_safe_json(dict(tips))), now),
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
        db = self.db
        with db.transaction():
            self._flush()
            have = set(db.column("SELECT loc_key FROM scan_locations WHERE scan_id = ?", (scan_id,)))
            rows = []
            for blob_id, loc_key, commit, fields in db.execute(
                "SELECT sl.blob_id, sl.loc_key, loc.commit_sha, loc.fields "
                "FROM scan_locations sl JOIN locations loc ON sl.loc_key = loc.loc_key "
                "WHERE sl.scan_id = ? AND loc.target = ? AND loc.source = 'git' "
                "AND loc.commit_sha IS NOT NULL",
                (from_scan, _safe_text(target)),
            ):
                if loc_key in have:
                    continue
                doc = Database.json_out(fields)
                if doc.get("staged") or doc.get("reachable") is False:
                    continue
                if reachable is not None and not reachable(commit):
                    continue
                rows.append((scan_id, blob_id, loc_key))
            self._bulk("scan_locations").execute(rows)
        self._written += len(rows)
        return len(rows)

    def verification(self, finding_id: str, max_age_s: float) -> dict[str, Any] | None:
        """The finding's last verification, if younger than `max_age_s` seconds."""
        row = self.db.one("SELECT provider, status, identity, message, checked_at FROM verifications "
                          "WHERE finding_id = ?", (finding_id,))
        if row is None:
            return None
        at = Database.ts_out(row[4])
        if at is None or (self._clock() - at).total_seconds() > max_age_s:
            return None
        return {"provider": row[0], "status": row[1], "identity": Database.json_out(row[2]) or {},
                "message": row[3], "checked_at": iso(at)}

    def record_verifications(self, results: Mapping[str, Mapping[str, Any]]) -> None:
        """finding id -> {provider, status, identity, message, checked_at (ISO)}."""
        if not results:
            return
        self.flush()
        db = self.db
        rows = [(fid, r["provider"], r["status"], db.json(_safe_json(r.get("identity") or {})),
                 _safe_text(r.get("message") or ""),
                 db.ts(datetime.fromisoformat(str(r["checked_at"]).replace("Z", "+00:00"))))
                for fid, r in results.items()]
        with db.transaction():
            db.executemany(
                "INSERT INTO verifications (finding_id, provider, status, identity, message, checked_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (finding_id) DO UPDATE SET provider = "
                "excluded.provider, status = excluded.status, identity = excluded.identity, "
                "message = excluded.message, checked_at = excluded.checked_at", rows)

    def verifications_for(self, finding_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The recorded verifications of these findings (for reports of past scans)."""
        ids = list(dict.fromkeys(finding_ids))
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(ids):
            for fid, provider, status, identity, message, at in self.db.all(
                "SELECT finding_id, provider, status, identity, message, checked_at FROM verifications "
                f"WHERE finding_id IN ({placeholders(len(chunk))})", tuple(chunk)):
                out[fid] = {"provider": provider, "status": status, "identity": Database.json_out(identity) or {},
                            "message": message, "checked_at": iso(Database.ts_out(at))}
        return out

    def layer_index(self, layer_digest: str, key_id: str) -> list[list[Any]] | None:
        """What an image layer holds, as recorded when it was read (see record_layer_index)."""
        raw = self.db.scalar("SELECT entries FROM image_layers WHERE layer_digest = ? AND key_id = ?",
                             (layer_digest, key_id))
        if raw is None:
            return None
        try:
            entries = json.loads(raw)
        except ValueError:
            return None
        return entries if isinstance(entries, list) else None

    def record_layer_index(self, layer_digest: str, key_id: str, entries: list[list[Any]]) -> None:
        """Remember what a layer holds: [path, kind, keyed blob id or None, size] per entry."""
        db = self.db
        files = sum(1 for e in entries if e[1] == "file")
        with db.transaction():
            db.execute(
                "INSERT INTO image_layers (layer_digest, key_id, entries, files, recorded_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (layer_digest, key_id) DO UPDATE SET "
                "entries = excluded.entries, files = excluded.files, recorded_at = excluded.recorded_at",
                (layer_digest, key_id, json.dumps(_safe_json(entries), separators=(",", ":")), files,
                 db.ts(self._clock())),
            )

    # ------------------------------------------------------------------ flushing

    def flush(self) -> None:
        """Write buffered records in one transaction."""
        if self._blobs or self._findings or self._sightings:
            with self.db.transaction():
                self._flush()

    def _bulk(self, name: str) -> BulkInsert:
        """The bulk INSERT for one of the writer's tables (built once per Store)."""
        bulk = self._bulk_inserts.get(name)
        if bulk is None:
            keys, update = _CONFLICTS[name]
            bulk = BulkInsert(self.db, name, _COLUMNS[name], keys, update)
            self._bulk_inserts[name] = bulk
        return bulk

    def _flush(self) -> None:
        """Write the buffers; the caller holds the transaction."""
        if not (self._blobs or self._findings or self._sightings):
            return
        if self._findings:
            self._bulk("findings").execute(list(self._findings.values()))
        if self._token_hashes:
            self._bulk("token_hashes").execute(list(self._token_hashes.values()))
            self._token_hashes.clear()
        if self._blobs:
            self._forget_old_matches()
            self._bulk("scanned_blobs").execute(list(self._blobs.values()))
            match_rows = [r for rows in self._matches.values() for r in rows]
            self._bulk("matches").execute(match_rows)
        if self._sightings:
            self._bulk("locations").execute(list(self._places.values()))
            self._bulk("scan_locations").execute(list(self._sightings.values()))
        self._written += self._pending
        self._blobs.clear()
        self._matches.clear()
        self._findings.clear()
        self._places.clear()
        self._sightings.clear()
        self._pending = 0

    def _forget_old_matches(self) -> None:
        """A blob matched again under the same ruleset (a forced rescan): its new matches
        replace the old ones."""
        by_ruleset: dict[str, list[str]] = defaultdict(list)
        for blob_id, rh in self._blobs:
            by_ruleset[rh].append(blob_id)
        redo: list[tuple[str, str]] = []
        for rh, ids in by_ruleset.items():
            for chunk in _chunks(ids):
                for b in self.db.column(
                    f"SELECT blob_id FROM scanned_blobs WHERE ruleset_hash = ? "
                    f"AND blob_id IN ({placeholders(len(chunk))})", (rh, *chunk)
                ):
                    redo.append((b, rh))
        self.db.executemany("DELETE FROM matches WHERE blob_id = ? AND ruleset_hash = ?", redo)

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
        db = self.db
        # Driven by the matches, not by the scan's places: a scan sees many blobs, few of
        # which have matches.
        match_rows = db.all(
            "SELECT m.blob_id, m.finding_id, m.fingerprint, m.line, m.col, m.decoded, m.step, "
            "m.pair_fingerprints, f.rule_id, f.rule_name, f.kind, f.provider, f.severity, "
            "f.preview, f.status, f.first_seen "
            "FROM matches m JOIN findings f ON f.id = m.finding_id "
            "WHERE m.ruleset_hash = ? AND " + _SEEN_IN_SCAN,
            (ruleset_hash, scan_id),
        )
        blob_ids = list(dict.fromkeys(r[0] for r in match_rows))
        places: dict[str, list[dict[str, Any]]] = defaultdict(list)
        base = ("SELECT sl.blob_id, loc.fields FROM scan_locations sl "
                "JOIN locations loc ON loc.loc_key = sl.loc_key WHERE sl.scan_id = ? AND ")
        if len(blob_ids) <= _FEW_BLOBS:
            # The usual case: few blobs with matches, looked up by key.
            for chunk in _chunks(blob_ids):
                for blob_id, fields in db.execute(
                    base + f"sl.blob_id IN ({placeholders(len(chunk))})", (scan_id, *chunk)
                ):
                    places[blob_id].append(Database.json_out(fields))
        else:
            # Many: one pass over the scan's places lets the database join in bulk.
            for blob_id, fields in db.execute(
                base + "EXISTS (SELECT 1 FROM matches m WHERE m.blob_id = sl.blob_id "
                "AND m.ruleset_hash = ?)", (scan_id, ruleset_hash)
            ):
                places[blob_id].append(Database.json_out(fields))

        by_fp: dict[tuple[str, str], set[str]] = defaultdict(set)
        by_finding: dict[str, list[tuple[str, int, int, Any, Any, Any]]] = defaultdict(list)
        finding_rows: dict[str, tuple[Any, ...]] = {}
        for blob_id, fid, fprint, line, col, decoded, step, pairs, *frow in match_rows:
            if isinstance(pairs, str):  # PostgreSQL's driver decodes JSONB itself
                pairs = json.loads(pairs) if pairs != "[]" else ()
            by_fp[(blob_id, fprint)].add(fid)
            by_finding[fid].append((blob_id, line, col, pairs, decoded, step))
            if fid not in finding_rows:
                finding_rows[fid] = (fid, *frow[:5], fprint, *frow[5:])

        seen_iso: dict[Any, str | None] = {}
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
                    fields=_with(fields, decoded, step),
                    line=line,
                    column=col,
                    blob_id=blob_id,
                )
                for blob_id, line, col, _, decoded, step in ms
                for fields in places.get(blob_id, no_places)
            ]
            locs.sort(key=_location_order)
            paired: set[str] = set()
            for blob_id, _, _, pairs, _, _ in ms:
                for pfp in pairs or ():
                    paired.update(by_fp.get((blob_id, pfp), ()))
            paired.discard(fid)
            if first not in seen_iso:
                seen_iso[first] = iso(Database.ts_out(first))
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
        return self.db.scalar("SELECT max(id) FROM scans WHERE finished_at IS NOT NULL")

    def scan_ruleset(self, scan_id: int) -> str | None:
        return self.db.scalar("SELECT ruleset_hash FROM scans WHERE id = ?", (scan_id,))

    def scan_stats(self, scan_id: int) -> ScanStats | None:
        """The counters and errors a finished scan recorded."""
        row = self.db.one(
            "SELECT targets, bytes_scanned, blobs_scanned, blobs_seen, blobs_reused, errors, "
            "started_at, finished_at, engine FROM scans WHERE id = ?", (scan_id,))
        if row is None:
            return None
        targets, nbytes, scanned, seen, reused, errors, started_at, finished_at, engine = row
        started, finished = Database.ts_out(started_at), Database.ts_out(finished_at)
        problems = [ScanError(e["path"], e["message"], e.get("kind", "error"))
                    for e in Database.json_out(errors) or []]
        duration = (finished - started).total_seconds() if finished and started else 0.0
        return ScanStats(
            targets=list(Database.json_out(targets) or []),
            bytes_scanned=nbytes,
            blobs_scanned=scanned,
            blobs_seen=seen,
            blobs_reused=reused,
            errors=[p for p in problems if p.kind != "skipped"],
            skipped=[p for p in problems if p.kind == "skipped"],
            started_at=iso(started) or "",
            finished_at=iso(finished) or "",
            duration_s=round(duration, 3),
            engine=engine,
        )

    def get_finding(self, finding_id: str) -> FindingRecord | None:
        """The stored row of one finding, or None."""
        self.flush()
        row = self.db.one(
            "SELECT id, rule_id, rule_name, kind, provider, severity, fingerprint, preview, "
            "first_seen, last_seen, first_scan_id, last_scan_id, status, status_by, status_at, "
            "status_reason FROM findings WHERE id = ?", (finding_id,))
        if row is None:
            return None
        (fid, rule_id, rule_name, kind, provider, severity, fprint, prev, first_seen, last_seen,
         first_scan, last_scan, status, status_by, status_at, status_reason) = row
        return FindingRecord(
            id=fid,
            rule_id=rule_id,
            rule_name=rule_name,
            kind=kind,
            provider=provider,
            severity=_severity(severity),
            fingerprint=fprint,
            preview=prev,
            first_seen=iso(Database.ts_out(first_seen)) or "",
            last_seen=iso(Database.ts_out(last_seen)) or "",
            first_scan_id=first_scan,
            last_scan_id=last_scan,
            status=status,
            status_by=status_by,
            status_at=iso(Database.ts_out(status_at)),
            status_reason=status_reason,
        )

    def set_status(
        self, finding_id: str, status: str, by: str | None = None, reason: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Triage a finding (at `at`, default now). Raises ValueError for an unknown status,
        KeyError for an unknown finding."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
        self.flush()
        db = self.db
        with db.transaction():
            cur = db.execute(
                "UPDATE findings SET status = ?, status_by = ?, status_at = ?, status_reason = ? "
                "WHERE id = ?",
                (status, None if by is None else _safe_text(by), db.ts(at or self._clock()),
                 None if reason is None else _safe_text(reason), finding_id),
            )
            if cur.rowcount == 0:
                raise KeyError(f"no finding {finding_id}")

    def finding_ids(self, prefix: str) -> list[str]:
        """Ids of the findings whose id starts with `prefix` (a short id, as git takes)."""
        self.flush()
        if not prefix or not all(c in "0123456789abcdef" for c in prefix.lower()):
            return []
        return self.db.column("SELECT id FROM findings WHERE id >= ? AND id < ? ORDER BY id",
                              (prefix.lower(), prefix.lower() + "g"))

    def finding_records(self, status: str | None = None, scan_id: int | None = None,
                        triaged_only: bool = False) -> list[FindingRecord]:
        """Stored findings, optionally only of one status, only seen in one scan, or only
        those someone has triaged."""
        self.flush()
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if triaged_only:
            where.append("status_at IS NOT NULL")
        if scan_id is not None:
            where.append("id IN (SELECT m.finding_id FROM matches m JOIN scans s ON s.ruleset_hash = "
                         "m.ruleset_hash AND s.id = ? WHERE " + _SEEN_IN_SCAN + ")")
            params += [scan_id, scan_id]
        rows = self.db.all(
            "SELECT id FROM findings" + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY id", params)
        out = []
        for (fid,) in rows:
            rec = self.get_finding(fid)
            if rec is not None:
                out.append(rec)
        return out

    def meta(self) -> dict[str, str]:
        """The store's facts (created_at, migrated_by, ...)."""
        return dict(self.db.all("SELECT key, value FROM meta"))

    def count(self, table: str) -> int:
        """Rows in one of the store's tables (for diagnostics and tests)."""
        if table not in _TABLES:
            raise KeyError(table)
        self.flush()
        return int(self.db.scalar(f"SELECT count(*) FROM {table}"))


_TABLES = frozenset({"scans", "scanned_blobs", "matches", "findings", "locations",
                     "scan_locations", "walked_commits", "git_walks", "meta", "image_layers",
                     "verifications", "identities", "watch_profiles", "alerts",
                     "watch_inputs", "token_hashes"})

# Per bulk table: the conflict key, and the columns a conflicting row updates (none: the
# existing row stays).
_CONFLICTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Rule facts follow the rule; triage and first_seen stay as they were.
    "findings": (("id",), ("rule_name", "kind", "provider", "severity", "preview", "last_seen",
                           "last_scan_id")),
    "scanned_blobs": (("blob_id", "ruleset_hash"), ("size", "scanned_at", "scan_id")),
    "matches": ((), ()),
    "locations": ((), ()),
    "scan_locations": ((), ()),
    "walked_commits": ((), ()),
    "token_hashes": (("digest",), ()),
}

# EXISTS: the blob of the correlated match `m` was seen in the scan (the second parameter):
# one lookup in the scan_locations primary key (scan_id, blob_id, ...).
_SEEN_IN_SCAN = ("EXISTS (SELECT 1 FROM scan_locations sl WHERE sl.scan_id = ? "
                 "AND sl.blob_id = m.blob_id)")


def _with(fields: dict[str, Any], decoded: str | None, step: str | None) -> dict[str, Any]:
    """A place's fields with what the match adds: its decode route and its CI step."""
    out = dict(fields)
    if decoded:
        out["decoded"] = decoded
    if step:
        out["step"] = step
    return out


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


def _upsert_meta(db: Database, key: str, value: str) -> None:
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
