"""The identities table: imported non-human identities, merged across imports, with owners
set by hand, and the queries that link them to the findings of scans (their leaked copies).

An identity imported again is updated, not duplicated (its id comes from provider, kind and
external id). What an export does not say is kept from earlier imports: a credential report
tells last use, an authorization-details export tells policies; both describe one IAM user.
AWS's credential report knows a user's keys only as slots 1 and 2 (no key ids); a
list-access-keys export names them. A slot and a named key of the same user created at the
same second are one key: whichever import comes second merges into the named one. The
report lists every key of a user, so a key it no longer shows (created before the report was
made) has been deleted or rotated away, and is marked deleted.

Owners and environments set by hand (`inventory own`) survive imports.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nhiguard.model.identity import Grant, Identity
from nhiguard.store.database import Database, placeholders

if TYPE_CHECKING:
    from nhiguard.inventory.parse import Holding, Roster

_COLUMNS = ("id", "provider", "kind", "external_id", "name", "account", "parent_id", "owner", "owner_set_by",
            "purpose", "environment", "created", "expires", "last_used", "last_rotated", "status",
            "privileges", "grants", "tags", "attributes", "link_fingerprint", "sources", "first_imported",
            "last_imported")
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM identities"
_TIMES = ("created", "expires", "last_used", "last_rotated")
# An environment set by hand is marked in the attributes, with the one the imports said kept
# beside it so that forgetting the hand-set one brings it back.
ENVIRONMENT_SET_BY = "environment_set_by"
IMPORTED_ENVIRONMENT = "imported_environment"


@dataclass(frozen=True)
class Upserted:
    """What an import did to the store."""

    new: int  # identities it added
    merged: int  # known identities it changed (a listed key merged into a report's key slot, say)
    unchanged: int  # known identities it said nothing new about
    notes: tuple[str, ...] = ()  # credentials it showed to be gone


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

    def upsert(self, identities: Iterable[Identity], holdings: Iterable[Holding] = (),
               rosters: Iterable[Roster] = ()) -> Upserted:
        """Add or merge identities, then mark the credentials `holdings` show to be gone, and
        the principals (with their credentials) `rosters` show to be gone."""
        counts = {"new": 0, "merged": 0, "unchanged": 0}
        notes: list[str] = []
        now = self._clock()
        with self.db.transaction():
            for ident in identities:
                counts[self._write(ident, now)] += 1
            self._adopt_orphans(now)
            for holding in holdings:
                notes += self._retire(holding, now)
            for roster in rosters:
                notes += self._retire_principals(roster, now)
        return Upserted(counts["new"], counts["merged"], counts["unchanged"], tuple(notes))

    def _write(self, ident: Identity, now: datetime) -> str:
        """Insert or merge one identity: "new", "merged" (into an identity known before, which
        it changed) or "unchanged"."""
        ident, earlier, slot_merged = self._merge_key_slot(self._with_parent(ident))
        own = (*earlier, *((ident.source,) if ident.source else ()))
        old = self.get(ident.id, flush=False)
        if old is None:
            self._insert(replace(ident, status=ident.status or "active"), tuple(dict.fromkeys(own)), now, now, None)
            return "merged" if slot_merged else "new"
        merged = _merged(old.identity, ident)
        sources = tuple(dict.fromkeys((*old.sources, *own)))
        self._delete(ident.id)
        self._insert(merged, sources, old.first_imported, now, old.owner_set_by)
        same = sources == old.sources and self._canonical(merged) == self._canonical(old.identity)
        return "unchanged" if same and not slot_merged else "merged"

    def _canonical(self, ident: Identity) -> str:
        """What the store keeps of an identity, as one comparable text."""
        doc = {f: getattr(ident, f) for f in ("kind", "provider", "external_id", "name", "account", "parent_id",
                                              "owner", "purpose", "environment", "status", "link_fingerprint")}
        doc.update({t: None if getattr(ident, t) is None else self.db.ts_out(self.db.ts(getattr(ident, t)))
                    for t in _TIMES})
        doc.update(privileges=list(ident.privileges), grants=[g.as_dict() for g in ident.grants],
                   tags=dict(ident.tags), attributes=dict(ident.attributes))
        return json.dumps(doc, sort_keys=True, default=str)

    def _retire_principals(self, roster: Roster, now: datetime) -> list[str]:
        """Principals of the account that the export listing all of them no longer shows
        (and credentials of principals it never showed): deleted, offboarded. Their keys
        cannot outlive them (AWS deletes a user's keys first), so they are marked too."""
        notes = []
        gone: dict[str, str] = {}  # principal id -> its name
        for rec in self.db.all(_SELECT + " WHERE kind = ? AND account = ? AND status <> 'deleted'",
                               (roster.kind, roster.account)):
            r = _record(rec)
            if r.id not in roster.ids and (r.identity.created is None or r.identity.created <= roster.as_of):
                gone[r.id] = r.identity.name or r.identity.external_id
        for rec in self.db.all(_SELECT + " WHERE account = ? AND parent_id IS NOT NULL AND status <> 'deleted'",
                               (roster.account,)):
            r = _record(rec)  # a key listed for a user no export of the account described
            parent = r.identity.parent_id or ""
            if r.identity.kind == "aws_access_key" and parent not in roster.ids \
                    and self.get(parent, flush=False) is None \
                    and (r.identity.created is None or r.identity.created <= roster.as_of):
                gone.setdefault(parent, r.identity.name.split(" key")[0] or parent)
        for pid, name in sorted(gone.items(), key=lambda kv: kv[1]):
            reason = f"not in {roster.source}, which lists every {roster.kind} of account {roster.account}: deleted"
            self._mark_deleted(pid, reason, now)
            for child in self.children(pid, flush=False):
                if child.identity.status != "deleted" and (child.identity.created is None
                                                           or child.identity.created <= roster.as_of):
                    self._mark_deleted(child.id, f"its principal {name} is gone ({reason})", now)
            notes.append(f"{name} is no longer in the report of account {roster.account}: offboarded; marked "
                         "deleted with its credentials")
        return notes

    def _mark_deleted(self, iid: str, reason: str, now: datetime) -> None:
        rec = self.get(iid, flush=False)
        if rec is None:
            return
        attributes = {**rec.identity.attributes, "status_reason": reason}
        self.db.execute("UPDATE identities SET status = ?, attributes = ?, last_imported = ? WHERE id = ?",
                        ("deleted", self.db.json(attributes), self.db.ts(now), iid))

    def _retire(self, holding: Holding, now: datetime) -> list[str]:
        """Credentials of the principal that the export listing all of them no longer shows
        (created before it was made, so it would): deleted, or rotated and then deleted."""
        notes = []
        parent = self.get(holding.parent_id, flush=False)
        for rec in self.children(holding.parent_id, flush=False):
            o = rec.identity
            if (o.kind != holding.kind or o.created is None or o.status == "deleted" or o.created > holding.as_of
                    or any(abs((o.created - c).total_seconds()) <= 1 for c in holding.created)):
                continue
            slot = o.attributes.get("slot")
            attributes = {**o.attributes, "status_reason": f"not in {holding.source}, which lists every key of "
                          f"its user: deleted or rotated"}
            self.db.execute("UPDATE identities SET status = ?, attributes = ?, last_imported = ? WHERE id = ?",
                            ("deleted", self.db.json(attributes), self.db.ts(now), rec.id))
            notes.append(f"{parent.identity.name if parent else '?'}: {o.name} (created {o.created:%Y-%m-%d}"
                         f"{f', slot {slot}' if slot else ''}) is no longer in the report: deleted or rotated; "
                         "marked deleted")
        return notes

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
            merged, earlier, _ = self._merge_key_slot(found)
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

    def set_environment(self, identity_id: str, environment: str | None, by: str | None = None) -> None:
        """Set the environment by hand (imports no longer change it), or with None forget
        it: the environment the imports said applies again."""
        with self.db.transaction():
            rec = self.get(identity_id, flush=False)
            if rec is None:
                raise KeyError(identity_id)
            attrs = dict(rec.identity.attributes)
            if environment is not None:
                if ENVIRONMENT_SET_BY not in attrs:
                    attrs[IMPORTED_ENVIRONMENT] = rec.identity.environment
                attrs[ENVIRONMENT_SET_BY] = by or "manual"
            elif ENVIRONMENT_SET_BY in attrs:
                environment = attrs.pop(IMPORTED_ENVIRONMENT, None)
                del attrs[ENVIRONMENT_SET_BY]
            else:
                environment = rec.identity.environment  # nothing was set by hand
            self.db.execute("UPDATE identities SET environment = ?, attributes = ? WHERE id = ?",
                            (environment, self.db.json(attrs), identity_id))

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

    def _merge_key_slot(self, ident: Identity) -> tuple[Identity, tuple[str, ...], bool]:
        """A credential-report key slot and a named key of the same user, created at the same
        second, are one key (see the module docstring). Returns the key to write, the sources
        of a slot merged into it, and whether it merged with a key stored under another id."""
        if ident.kind != "aws_access_key" or ident.parent_id is None or ident.created is None:
            return ident, (), False
        slot = "#key" in ident.external_id
        for other in self.children(ident.parent_id, flush=False):
            o = other.identity
            if (o.kind != ident.kind or ("#key" in o.external_id) == slot or o.created is None
                    or abs((o.created - ident.created).total_seconds()) > 1):
                continue
            if slot:  # the named key is known: the slot's news go into it
                return replace(_merged(o, replace(ident, external_id=o.external_id, name=o.name,
                                                  link_fingerprint=o.link_fingerprint)),
                               source=ident.source), (), False
            self._delete(o.id)  # the slot is now named
            return (replace(_merged(replace(o, external_id=ident.external_id), ident), source=ident.source),
                    other.sources, True)
        return ident, (), False

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
    """`new` over `old`: what the new import says wins, what it leaves out is kept; an owner
    or environment set by hand stays."""
    changes: dict[str, Any] = {}
    for name in ("name", "account", "parent_id", "purpose", "environment", *_TIMES, "link_fingerprint"):
        value = getattr(new, name)
        changes[name] = value if value not in (None, "") else getattr(old, name)
    changes["status"] = new.status or old.status
    if old.status == "deleted" and old.kind == "aws_access_key" and old.external_id.startswith("AKIA"):
        # AWS never hands out a key id twice: a deleted key that an (older) listing shows as
        # active is that listing being stale, not the key coming back
        changes["status"] = "deleted"
    changes["privileges"] = new.privileges or old.privileges
    changes["grants"] = new.grants or old.grants
    changes["tags"] = {**old.tags, **new.tags}
    changes["attributes"] = {**old.attributes, **new.attributes}
    if changes["status"] != "deleted":  # an import shows it again: why it was thought gone no longer holds
        changes["attributes"].pop("status_reason", None)
    if ENVIRONMENT_SET_BY in old.attributes:  # by hand: what imports say waits for `own --clear-environment`
        changes["attributes"][IMPORTED_ENVIRONMENT] = new.environment or old.attributes.get(IMPORTED_ENVIRONMENT)
        changes["environment"] = old.environment
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
