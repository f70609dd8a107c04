"""The inventory as users see it: every imported identity with its owner and environment
resolved, its credentials, and its leaked copies (findings linked to it); and every secret
found by scans that no import explains, as an identity of its own whose copies are the
places it was seen. `inventory list`, `posture` and `report summary` all read this."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from nhiguard.inventory import owners as O
from nhiguard.inventory.parse import environment_of_text
from nhiguard.model.identity import Identity, identity_id
from nhiguard.settings import Settings
from nhiguard.store.inventory import Copy, InventoryStore
from nhiguard.store.store import FindingRecord, Store


@dataclass(frozen=True)
class Leak:
    """A finding that is a copy of the identity's secret (or the identity itself, found)."""

    finding: FindingRecord
    copies: tuple[Copy, ...]
    verification: dict[str, Any] | None = None


@dataclass(frozen=True)
class IdentityView:
    identity: Identity
    id: str
    owner: str | None
    owner_source: str | None  # manual, tag, config, codeowners, parent
    environment: str | None
    environment_source: str | None
    leaks: tuple[Leak, ...] = ()
    credentials: tuple[str, ...] = ()  # ids of the identity's credentials
    found: bool = False  # known only from scans
    sources: tuple[str, ...] = ()
    copy_environments: frozenset[str] = field(default_factory=frozenset)  # environments its copies sit in
    # open alerts `nhiguard watch` raised on its use: (alert id, detector, summary, count, last seen)
    alerts: tuple[tuple[str, str, str, int, str], ...] = ()

    @property
    def kind(self) -> str:
        return self.identity.kind


def build(store: Store, settings: Settings) -> list[IdentityView]:
    inv = InventoryStore(store.db)
    store.flush()
    owner_rules = O.parse_rules(settings.owners, "owners")
    env_rules = O.parse_rules(settings.environments, "environments")
    codeowners = O.CodeOwners()
    records = {r.id: r for r in inv.all()}
    findings = {f.id: f for f in store.finding_records()}
    linked = inv.linked_findings()
    claimed = {fid for fids in linked.values() for fid in fids}
    copies = inv.copies(findings)
    verifications = store.verifications_for(findings)
    children: dict[str, list[str]] = defaultdict(list)
    for r in records.values():
        if r.identity.parent_id:
            children[r.identity.parent_id].append(r.id)

    def leak(fid: str) -> Leak:
        return Leak(findings[fid], tuple(copies.get(fid, ())), verifications.get(fid))

    views: dict[str, IdentityView] = {}
    found_rows = {}  # finding id -> its stored row (an owner set by hand on a found secret)
    for r in records.values():
        ext = r.identity.external_id
        if ext.startswith("finding/") and r.identity.attributes.get("found"):
            found_rows[ext.removeprefix("finding/")] = r
            continue
        leaks = tuple(leak(fid) for fid in sorted(linked.get(r.id, ())) if fid in findings)
        views[r.id] = _resolve(r.identity, r.id, leaks, tuple(sorted(children.get(r.id, ()))), False,
                               r.sources, owner_rules, env_rules, codeowners)
    for fid, f in sorted(findings.items()):
        if fid in claimed:
            continue
        row = found_rows.get(fid)
        ident = row.identity if row else found_identity(f)
        ident = replace(ident, created=_parse(f.first_seen),
                        status="revoked" if f.status in ("revoked", "fixed") else "active")
        views[ident.id] = _resolve(ident, ident.id, (leak(fid),), (), True, ("scan",), owner_rules, env_rules,
                                   codeowners)
    # a credential without an owner of its own inherits its principal's
    for vid, v in list(views.items()):
        parent = views.get(v.identity.parent_id or "")
        if v.owner is None and parent is not None and parent.owner:
            views[vid] = replace(v, owner=parent.owner, owner_source="parent")
        elif v.owner is None and (owner := _codeowner(v.leaks, codeowners)):
            views[vid] = replace(v, owner=owner, owner_source="codeowners")
        if v.environment is None and parent is not None and parent.environment:
            views[vid] = replace(views[vid], environment=parent.environment, environment_source="parent")
    by_external = {v.identity.external_id: vid for vid, v in views.items() if v.found}
    for vid, found in _open_alerts(store).items():
        vid = by_external.get(vid, vid)  # a leaked secret's alerts name its finding
        if vid in views:
            views[vid] = replace(views[vid], alerts=tuple(found))
    return sorted(views.values(), key=lambda v: (v.identity.provider, v.identity.kind, v.identity.external_id))


def _open_alerts(store: Store) -> dict[str, list[tuple[str, str, str, int, str]]]:
    """Open and acknowledged watch alerts by the inventory identity they concern."""
    out: dict[str, list[tuple[str, str, str, int, str]]] = defaultdict(list)
    rows = store.db.all("SELECT inventory_id, id, detector, summary, count, last_seen FROM alerts "
                        "WHERE inventory_id IS NOT NULL AND status IN ('open', 'acknowledged') ORDER BY id")
    for inv_id, aid, detector, summary, count, last_seen in rows:
        when = store.db.ts_out(last_seen)
        out[inv_id].append((aid, detector, summary, int(count),
                            when.isoformat(timespec="seconds").replace("+00:00", "Z") if when else ""))
    return out


def found_identity(f: FindingRecord) -> Identity:
    """A secret found by scans and explained by no import: an identity of its own."""
    return Identity(f.kind, f.provider, f"finding/{f.id}", name=f"{f.rule_name} {f.preview}",
                    attributes={"found": True, "finding": f.id, "rule_id": f.rule_id})


def found_identity_id(f: FindingRecord) -> str:
    return identity_id(f.provider, f.kind, f"finding/{f.id}")


def _codeowner(leaks: tuple[Leak, ...], codeowners: O.CodeOwners) -> str | None:
    for lk in leaks:
        for c in lk.copies:
            if c.source in ("file", "git") and (owner := codeowners.owner(c.target, c.path)):
                return owner
    return None


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _resolve(ident: Identity, iid: str, leaks: tuple[Leak, ...], credentials: tuple[str, ...], found: bool,
             sources: tuple[str, ...], owner_rules: list[O.Rule], env_rules: list[O.Rule],
             codeowners: O.CodeOwners) -> IdentityView:
    copy_docs = [{"path": c.path, "target": c.target, "image": c.fields.get("image"), **c.fields}
                 for lk in leaks for c in lk.copies]
    namespace = str(ident.attributes.get("namespace") or "")
    sel = dict(account=ident.account, namespace=namespace, kind=ident.kind, name=ident.name, tags=ident.tags,
               copies=copy_docs)
    owner, owner_source = ident.owner, "manual" if ident.owner else None
    if owner is None:
        from nhiguard.inventory.parse import owner_from_tags

        if (owner := owner_from_tags(dict(ident.tags))) is not None:
            owner_source = "tag"
    if owner is None and (owner := O.match(owner_rules, **sel)) is not None:
        owner_source = "config"
    # CODEOWNERS says who owns the file a copy leaked into; a principal's owner (inherited
    # below) says who owns the credential itself, so it comes first where there is one
    if owner is None and not ident.parent_id and (owner := _codeowner(leaks, codeowners)):
        owner_source = "codeowners"
    env = ident.environment
    env_source = ("manual" if ident.attributes.get("environment_set_by") else "tag") if env else None
    if env is None and (env := O.match(env_rules, **sel)) is not None:
        env_source = "config"
    if env is None and (env := environment_of_text(namespace) or environment_of_text(ident.account)) is not None:
        env_source = "name"
    copy_envs = set()
    for c in copy_docs:
        e = O.match(env_rules, copies=[c]) or environment_of_text(c.get("path")) or environment_of_text(
            str(c.get("image") or ""))
        if e:
            copy_envs.add(e)
    if env is None and len(copy_envs) == 1:
        env, env_source = next(iter(copy_envs)), "copies"
    return IdentityView(ident, iid, owner, owner_source, env, env_source, leaks, credentials, found, sources,
                        frozenset(copy_envs))
