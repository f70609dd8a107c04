"""The identities table: imported non-human identities, merged across imports, with owners
set by hand, and the queries that link them to the findings of scans (their leaked copies).

An identity imported again is updated, not duplicated (its id comes from provider, kind and
external id). What an export does not say is kept from earlier imports: a credential report
tells last use, an authorization-details export tells policies; both describe one IAM user.
AWS's credential report knows a user's keys only as slots 1 and 2 (no key ids); a
list-access-keys export names them. A slot and a named key of the same user created at the
same second are one key: whichever import comes second merges into the named one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from nhiguard.model.identity import Grant, Identity
from nhiguard.store.database import Database, placeholders

_COLUMNS = ("id", "provider", "kind", "external_id", "name", "account", "parent_id", "owner", "owner_set_by",
            "purpose", "environment", "created", "expires", "last_used", "last_rotated", "status",
            "privileges", "grants", "tags", "attributes", "link_fingerprint", "sources", "first_imported",
            "last_imported")
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM identities"
_TIMES = ("created", "expires", "last_used", "last_rotated")


@dataclass(frozen=True)
class IdentityRecord:
    """A stored identity: what the imports said, plus what people set."""

    identity: Identity
    owner_set_by: str | None
    sources: tuple[str, ...]
    first_imported: datetime
    last_imported: datetime

    @property
    def id(self) -> str:
        return self.identity.id


@dataclass(frozen=True)
class Copy:
    """One place a leaked secret was seen (a finding's location), as stored."""

    finding_id: str
    target: str
    source: str
    path: str | None
    commit: str | None
    fields: Mapping[str, Any]


class InventoryStore:
    def __init__(self, db: Database, clock: Any = None) -> None:
        self.db = db
        self._clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ writing

    def upsert(self, identities: Iterable[Identity]) -> tuple[int, int]:
        """Add or update identities; returns (added, updated)."""
        added = updated = 0
        now = self._clock()
        with self.db.transaction():
            for ident in identities:
                if self._write(ident, now):
                    added += 1
                else:
                    updated += 1
            self._adopt_orphans(now)
        return added, updated

    def _write(self, ident: Identity, now: datetime) -> bool:
        """Insert or merge one identity; True if it is new."""
        ident, earlier = self._merge_key_slot(self._with_parent(ident))
        own = (*earlier, *((ident.source,) if ident.source else ()))
        old = self.get(ident.id, flush=False)
        if old is None:
            self._insert(replace(ident, status=ident.status or "active"), tuple(dict.fromkeys(own)), now, now, None)
            return True
        merged = _merged(old.identity, ident)
        sources = tuple(dict.fromkeys((*old.sources, *own)))
        self._delete(ident.id)
        self._insert(merged, sources, old.first_imported, now, old.owner_set_by)
        return False

    def _with_parent(self, ident: Identity) -> Identity:
        """A credential whose export names its principal only by name (an access key's
        UserName) gets the principal's id once the principal is known."""
        name, kind = ident.attributes.get("parent_name"), ident.attributes.get("parent_kind")
        if ident.parent_id is not None or not name or not kind:
            return ident
        rows = self.db.all("SELECT id, account FROM identities WHERE kind = ? AND name = ?", (kind, name))
        if ident.account:
            rows = [r for r in rows if r[1] == ident.account]
        if len(rows) != 1:
            return ident
        return replace(ident, parent_id=rows[0][0], account=ident.account or rows[0][1])

    def _adopt_orphans(self, now: datetime) -> None:
        """Credentials imported before their principal: link them now."""
        for rec in [_record(r) for r in self.db.all(_SELECT + " WHERE parent_id IS NULL AND CAST(attributes AS TEXT) LIKE ?",
                                                    ('%parent_name%',))]:
            found = self._with_parent(rec.identity)
            if found.parent_id is None:
                continue
            self._delete(rec.id)
            merged, earlier = self._merge_key_slot(found)
            sources = (*earlier, *rec.sources)
            old = self.get(merged.id, flush=False)
            if old is not None:
                self._delete(old.id)
                merged = _merged(old.identity, merged)
                sources = (*old.sources, *sources)
            self._insert(merged, tuple(dict.fromkeys(sources)), rec.first_imported, now, rec.owner_set_by)

    def set_owner(self, identity_id: str, owner: str | None, by: str | None) -> None:
        with self.db.transaction():
            cur = self.db.execute("UPDATE identities SET owner = ?, owner_set_by = ? WHERE id = ?",
                                  (owner, by if owner else None, identity_id))
            if cur.rowcount == 0:
                raise KeyError(identity_id)

    def set_environment(self, identity_id: str, environment: str | None) -> None:
        with self.db.transaction():
            cur = self.db.execute("UPDATE identities SET environment = ? WHERE id = ?", (environment, identity_id))
            if cur.rowcount == 0:
                raise KeyError(identity_id)

    def _insert(self, ident: Identity, sources: Sequence[str], first: datetime, last: datetime,
                owner_set_by: str | None) -> None:
        db = self.db
        db.execute(
            f"INSERT INTO identities ({', '.join(_COLUMNS)}) VALUES ({placeholders(len(_COLUMNS))})",
            (ident.id, ident.provider, ident.kind, ident.external_id, ident.name, ident.account, ident.parent_id,
             ident.owner, owner_set_by, ident.purpose, ident.environment,
             *(None if getattr(ident, t) is None else db.ts(getattr(ident, t)) for t in _TIMES),
             ident.status, db.json(list(ident.privileges)), db.json([g.as_dict() for g in ident.grants]),
             db.json(dict(ident.tags)), db.json(dict(ident.attributes)), ident.link_fingerprint,
             db.json(list(sources)), db.ts(first), db.ts(last)))

    def _delete(self, identity_id: str) -> None:
        self.db.execute("DELETE FROM identities WHERE id = ?", (identity_id,))

    def _merge_key_slot(self, ident: Identity) -> tuple[Identity, tuple[str, ...]]:
        """A credential-report key slot and a named key of the same user, created at the same
        second, are one key (see the module docstring). Returns the key to write and the
        sources of a slot merged into it."""
        if ident.kind != "aws_access_key" or ident.parent_id is None or ident.created is None:
            return ident, ()
        slot = "#key" in ident.external_id
        for other in self.children(ident.parent_id, flush=False):
            o = other.identity
            if (o.kind != ident.kind or ("#key" in o.external_id) == slot or o.created is None
                    or abs((o.created - ident.created).total_seconds()) > 1):
                continue
            if slot:  # the named key is known: the slot's news go into it
                return replace(_merged(o, replace(ident, external_id=o.external_id, name=o.name,
                                                  link_fingerprint=o.link_fingerprint)),
                               source=ident.source), ()
            self._delete(o.id)  # the slot is now named
            return (replace(_merged(replace(o, external_id=ident.external_id), ident), source=ident.source),
                    other.sources)
        return ident, ()

    # ------------------------------------------------------------------ reading

    def get(self, identity_id: str, flush: bool = True) -> IdentityRecord | None:
        row = self.db.one(_SELECT + " WHERE id = ?", (identity_id,))
        return None if row is None else _record(row)

    def ids(self, prefix: str) -> list[str]:
        p = prefix.lower()
        if not p or not all(c in "0123456789abcdef" for c in p):
            return []
        return self.db.column("SELECT id FROM identities WHERE id >= ? AND id < ? ORDER BY id", (p, p + "g"))

    def children(self, parent_id: str, flush: bool = True) -> list[IdentityRecord]:
        return [_record(r) for r in self.db.all(_SELECT + " WHERE parent_id = ? ORDER BY id", (parent_id,))]

    def all(self) -> list[IdentityRecord]:
        return [_record(r) for r in self.db.all(_SELECT + " ORDER BY provider, kind, external_id")]

    def count(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM identities"))

    # ------------------------------------------------------------------ links to findings

    def linked_findings(self) -> dict[str, set[str]]:
        """identity id -> ids of the findings that are copies of it: the key id itself found
        by a scan, a secret found paired with it, or a secret whose verification named it."""
        out: dict[str, set[str]] = defaultdict(set)
        by_fp: dict[str, list[str]] = defaultdict(list)
        for iid, fp in self.db.all("SELECT id, link_fingerprint FROM identities WHERE link_fingerprint IS NOT NULL"):
            by_fp[fp].append(iid)
        if by_fp:
            for fid, fp in self.db.all("SELECT id, fingerprint FROM findings"):
                for iid in by_fp.get(fp, ()):
                    out[iid].add(fid)
            for fid, pairs in self.db.all("SELECT DISTINCT finding_id, pair_fingerprints FROM matches "
                                          "WHERE pair_fingerprints IS NOT NULL"):
                for fp in Database.json_out(pairs) or ():
                    for iid in by_fp.get(fp, ()):
                        out[iid].add(fid)
        arns: dict[str, list[str]] = defaultdict(list)
        for iid, ext in self.db.all("SELECT id, external_id FROM identities WHERE external_id LIKE 'arn:%'"):
            arns[ext].append(iid)
        if arns:
            for fid, ident in self.db.all("SELECT finding_id, identity FROM verifications WHERE status = 'live'"):
                doc = Database.json_out(ident) or {}
                for iid in arns.get(str(doc.get("arn", "")), ()):
                    out[iid].add(fid)
        return out

    def copies(self, finding_ids: Iterable[str]) -> dict[str, list[Copy]]:
        """finding id -> every place its secret was seen, in any scan."""
        ids = list(dict.fromkeys(finding_ids))
        out: dict[str, list[Copy]] = defaultdict(list)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = self.db.all(
                "SELECT DISTINCT m.finding_id, l.target, l.source, l.path, l.commit_sha, l.fields FROM matches m "
                f"JOIN locations l ON l.blob_id = m.blob_id WHERE m.finding_id IN ({placeholders(len(chunk))}) "
                "ORDER BY m.finding_id, l.target, l.path", tuple(chunk))
            for fid, target, source, path, commit, fields in rows:
                doc = Database.json_out(fields)
                out[fid].append(Copy(fid, target, source, path, commit, doc if isinstance(doc, dict) else {}))
        return out


def _merged(old: Identity, new: Identity) -> Identity:
    """`new` over `old`: what the new import says wins, what it leaves out is kept."""
    changes: dict[str, Any] = {}
    for name in ("name", "account", "parent_id", "purpose", "environment", *_TIMES, "link_fingerprint"):
        value = getattr(new, name)
        changes[name] = value if value not in (None, "") else getattr(old, name)
    changes["status"] = new.status or old.status
    changes["privileges"] = new.privileges or old.privileges
    changes["grants"] = new.grants or old.grants
    changes["tags"] = {**old.tags, **new.tags}
    changes["attributes"] = {**old.attributes, **new.attributes}
    changes["owner"] = old.owner  # set by hand only
    return replace(old, **changes)


def _record(row: Sequence[Any]) -> IdentityRecord:
    d = dict(zip(_COLUMNS, row, strict=True))
    ts = {t: Database.ts_out(d[t]) for t in _TIMES}
    ident = Identity(
        kind=d["kind"], provider=d["provider"], external_id=d["external_id"], name=d["name"], account=d["account"],
        parent_id=d["parent_id"], owner=d["owner"], purpose=d["purpose"], environment=d["environment"], **ts,
        status=d["status"], privileges=tuple(_json(d["privileges"], [])),
        grants=tuple(Grant.from_dict(g) for g in _json(d["grants"], []) if isinstance(g, dict)),
        tags=_json(d["tags"], {}), attributes=_json(d["attributes"], {}), link_fingerprint=d["link_fingerprint"])
    return IdentityRecord(ident, d["owner_set_by"], tuple(_json(d["sources"], [])),
                          Database.ts_out(d["first_imported"]) or datetime.now(UTC),
                          Database.ts_out(d["last_imported"]) or datetime.now(UTC))


def _json(value: Any, default: Any) -> Any:
    out = Database.json_out(value)
    if isinstance(out, str):  # a driver that hands JSON back as text
        try:
            out = json.loads(out)
        except ValueError:
            return default
    return out if isinstance(out, type(default)) else default
