"""The watch tables: per-identity behaviour profiles and alerts, with their triage. Alerts
are keyed by detector, identity and subject, so a rerun over the same logs, or a later run
that sees the same thing again, adds to one alert instead of raising another."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nhiguard.store.database import Database
from nhiguard.watch.engine import Alert
from nhiguard.watch.profile import Profile

ALERT_STATUSES = ("open", "acknowledged", "false_positive", "resolved")
_ALERT_COLUMNS = ("id", "detector", "identity", "inventory_id", "identity_name", "human", "severity", "status",
                  "first_seen", "last_seen", "count", "suppressed", "summary", "baseline", "evidence", "events",
                  "owasp", "attack", "decided_by", "decided_at", "reason", "created_at")


@dataclass(frozen=True)
class StoredAlert:
    """An alert as the store has it (for `nhiguard alerts`)."""

    id: str
    detector: str
    identity: str
    inventory_id: str | None
    identity_name: str
    human: str
    severity: str
    status: str
    first_seen: datetime
    last_seen: datetime
    count: int
    suppressed: int
    summary: str
    baseline: str
    evidence: dict[str, Any]
    events: list[str]
    owasp: list[str]
    attack: list[str]
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    created_at: datetime


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class WatchStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def exclusive(self, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
        """One watch run at a time per store: a run reads the baselines when it starts and
        writes them when it ends, so two at once would lose one's learning. The next run
        waits (a lock file beside an SQLite store, a session advisory lock on PostgreSQL),
        calling `waiting` first so that the caller can say so."""
        db = self.db
        if db.dialect == "sqlite":
            if db.location.path is None:  # in memory: nobody else can see it
                yield
                return
            import fcntl

            with open(f"{db.location.path}.watch-lock", "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    waiting()
                    fcntl.flock(fh, fcntl.LOCK_EX)
                yield
            return
        key = "SELECT hashtext('nhiguard-watch:' || current_schema())"
        if not db.scalar(f"SELECT pg_try_advisory_lock(({key}))"):
            waiting()
            db.execute(f"SELECT pg_advisory_lock(({key}))")
        try:
            yield
        finally:
            db.execute(f"SELECT pg_advisory_unlock(({key}))")

    # ------------------------------------------------------------------ profiles

    def profiles(self) -> dict[str, Profile]:
        out = {}
        for identity, doc in self.db.all("SELECT identity, profile FROM watch_profiles"):
            data = Database.json_out(doc)
            if isinstance(data, dict):
                out[identity] = Profile.from_json(data)
        return out

    def save_profiles(self, profiles: Iterable[Profile]) -> None:
        now = datetime.now(UTC)
        db = self.db
        rows = [(p.identity, db.json(p.to_json()), p.events, db.ts(_dt(p.first_seen)), db.ts(_dt(p.last_seen)),
                 db.ts(now)) for p in profiles]
        with db.transaction():
            for i in range(0, len(rows), 500):
                db.executemany(
                    "INSERT INTO watch_profiles (identity, profile, events, first_seen, last_seen, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (identity) DO UPDATE SET profile = excluded.profile, "
                    "events = excluded.events, first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
                    "updated_at = excluded.updated_at", rows[i:i + 500])

    def token_hashes(self) -> dict[str, tuple[str, str]]:
        """GitHub's hashed_token of each token scans found -> (finding id, its preview)."""
        return {d: (fid, preview) for d, fid, preview in self.db.all(
            "SELECT t.digest, t.finding_id, f.preview FROM token_hashes t JOIN findings f ON f.id = t.finding_id")}

    def leaked_keys(self) -> dict[str, tuple[str, str]]:
        """The keyed fingerprint of each AWS access key id scans found -> (finding id, preview)."""
        return {fp: (fid, preview) for fid, fp, preview in self.db.all(
            "SELECT id, fingerprint, preview FROM findings WHERE rule_id = ?", ("nhiguard.aws.access-key-id",))}

    # ------------------------------------------------------------------ inputs read

    def input_read(self, head: str) -> tuple[int, str, int] | None:
        """(size read, tail digest, events) of a log file read before, by its head digest."""
        rows = self.db.all("SELECT size_read, tail, events FROM watch_inputs WHERE head = ?", (head,))
        return (int(rows[0][0]), str(rows[0][1]), int(rows[0][2])) if rows else None

    def record_input(self, head: str, name: str, size_read: int, tail: str, events: int) -> None:
        db = self.db
        with db.transaction():
            db.execute("INSERT INTO watch_inputs (head, name, size_read, tail, events, read_at) VALUES (?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (head) DO UPDATE SET name = excluded.name, size_read = excluded.size_read, "
                       "tail = excluded.tail, events = excluded.events, read_at = excluded.read_at",
                       (head, name, size_read, tail, events, db.ts(datetime.now(UTC))))

    # ------------------------------------------------------------------ alerts

    def known_alerts(self) -> dict[str, str]:
        return {aid: status for aid, status in self.db.all("SELECT id, status FROM alerts")}

    def save_alerts(self, alerts: Iterable[Alert]) -> None:
        """New alerts are inserted; known ones add their counts and widen their time span
        (their triage stays)."""
        now = datetime.now(UTC)
        db = self.db
        with db.transaction():
            for a in alerts:
                row = db.all("SELECT count, suppressed, first_seen, last_seen, events FROM alerts WHERE id = ?", (a.id,))
                if row:
                    count, suppressed, first, last, events = row[0]
                    first_dt, last_dt = Database.ts_out(first), Database.ts_out(last)
                    merged = list(dict.fromkeys([*(Database.json_out(events) or []), *a.events]))[:5]
                    new_first = min(first_dt, _dt(a.first_seen)) if first_dt else _dt(a.first_seen)
                    new_last = max(last_dt, _dt(a.last_seen)) if last_dt else _dt(a.last_seen)
                    db.execute("UPDATE alerts SET count = ?, suppressed = ?, first_seen = ?, last_seen = ?, events = ?, "
                               "severity = ?, summary = ?, evidence = ? WHERE id = ?",
                               (int(count) + a.count, int(suppressed) + a.suppressed, db.ts(new_first),
                                db.ts(new_last), db.json(merged), str(a.severity), a.summary, db.json(a.evidence),
                                a.id))
                    continue
                d = a.detector
                db.execute(f"INSERT INTO alerts ({', '.join(_ALERT_COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(_ALERT_COLUMNS))})",
                           (a.id, d.id, a.identity, a.who.inventory_id, a.who.name or a.identity, a.human,
                            str(a.severity), a.status, db.ts(_dt(a.first_seen)), db.ts(_dt(a.last_seen)), a.count,
                            a.suppressed, a.summary, a.baseline, db.json(a.evidence), db.json(a.events),
                            db.json(list(d.owasp)), db.json(list(d.attack)), None, None, None, db.ts(now)))

    def alerts(self, status: str | None = None, detector: str | None = None,
               identity: str | None = None) -> list[StoredAlert]:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if detector:
            where.append("detector = ?")
            params.append(detector if detector.startswith("watch.") else "watch." + detector)
        if identity:
            where.append("(identity = ? OR inventory_id = ? OR identity_name = ?)")
            params += [identity, identity, identity]
        sql = f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts" + (f" WHERE {' AND '.join(where)}" if where else "")
        return sorted((_stored(r) for r in self.db.all(sql, params)),
                      key=lambda a: (a.last_seen, a.id), reverse=True)

    def resolve_id(self, prefix: str) -> str:
        """The one alert id that starts with `prefix` (at least 4 hex digits)."""
        prefix = prefix.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{4,16}", prefix):
            raise KeyError(f"{prefix!r} is no alert id (4 to 16 hex digits)")
        rows = [r[0] for r in self.db.all("SELECT id FROM alerts WHERE substr(id, 1, ?) = ?", (len(prefix), prefix))]
        if not rows:
            raise KeyError(f"no alert {prefix}")
        if len(rows) > 1:
            raise KeyError(f"{prefix} starts {len(rows)} alert ids; give more of it")
        return rows[0]

    def set_status(self, alert_id: str, status: str, by: str, reason: str | None) -> None:
        if status not in ALERT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ALERT_STATUSES)}")
        with self.db.transaction():
            self.db.execute("UPDATE alerts SET status = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ?",
                            (status, by, self.db.ts(datetime.now(UTC)), reason, alert_id))


def _stored(r: tuple[Any, ...]) -> StoredAlert:
    d = dict(zip(_ALERT_COLUMNS, r, strict=True))
    for k in ("first_seen", "last_seen", "decided_at", "created_at"):
        d[k] = Database.ts_out(d[k])
    for k in ("evidence", "events", "owasp", "attack"):
        d[k] = Database.json_out(d[k]) or ({} if k == "evidence" else [])
    d["count"], d["suppressed"] = int(d["count"]), int(d["suppressed"])
    return StoredAlert(**d)
