"""The inventory as a table, JSON or CSV. Secrets never appear: identities are named by
their external ids, leaked copies by the finding's redacted preview and where it was seen."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from nhiguard.report.common import printable


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else None


def age_days(when: datetime | None, now: datetime | None = None) -> int | None:
    if when is None:
        return None
    return max(0, ((now or datetime.now(UTC)) - when).days)


def copy_dict(c: Any) -> dict[str, Any]:
    out = {"target": c.target, "source": c.source}
    if c.path:
        out["path"] = c.path
    if c.commit:
        out["commit"] = c.commit
    for k in ("image", "layer", "visible", "field", "step", "line"):
        if k in c.fields:
            out[k] = c.fields[k]
    return out


def view_dict(v: Any) -> dict[str, Any]:
    i = v.identity
    return {
        "id": v.id, "kind": i.kind, "provider": i.provider, "external_id": i.external_id, "name": i.name,
        "account": i.account or None, "parent": i.parent_id, "owner": v.owner, "owner_source": v.owner_source,
        "purpose": i.purpose, "environment": v.environment, "environment_source": v.environment_source,
        "status": i.status, "created": iso(i.created), "age_days": age_days(i.created), "expires": iso(i.expires),
        "last_used": iso(i.last_used), "last_rotated": iso(i.last_rotated), "privileges": list(i.privileges),
        "grants": [g.as_dict() for g in i.grants], "tags": dict(i.tags),
        "attributes": {k: val for k, val in i.attributes.items() if val not in (None, "", [], {})},
        "credentials": list(v.credentials), "found_by_scan": v.found, "sources": list(v.sources),
        "findings": [{"id": lk.finding.id, "rule_id": lk.finding.rule_id, "preview": lk.finding.preview,
                      "severity": str(lk.finding.severity), "status": lk.finding.status,
                      "first_seen": lk.finding.first_seen, "last_seen": lk.finding.last_seen,
                      **({"verification": lk.verification} if lk.verification else {}),
                      "copies": [copy_dict(c) for c in lk.copies]} for lk in v.leaks],
    }


_CSV = ("id", "kind", "provider", "external_id", "name", "account", "owner", "environment", "status", "created",
        "age_days", "last_used", "last_rotated", "expires", "privileges", "findings", "copies")


def write(fmt: str, views: Sequence[Any], stream: TextIO, total: int | None = None) -> None:
    """`views` in `fmt`; `total` is how many identities the store holds when `views` are
    the ones some filters chose."""
    if fmt == "json":
        json.dump({"identities": [view_dict(v) for v in views]}, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    elif fmt == "csv":
        w = csv.writer(stream, lineterminator="\n")
        w.writerow(_CSV)
        for v in views:
            d = view_dict(v)
            d["privileges"] = " ".join(d["privileges"])
            d["copies"] = sum(len(f["copies"]) for f in d["findings"])
            d["findings"] = " ".join(f["id"] for f in d["findings"])
            w.writerow([_cell(d.get(k)) for k in _CSV])
    else:
        _table(views, stream, total)


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return "" if value is None else value


# the exports that tell last use; for the others no last use is no news
_TELLS_LAST_USE = frozenset({"aws_access_key", "aws_iam_user", "aws_iam_role", "github_pat",
                             "github_app_installation", "github_deploy_key"})


def _last_used(i: Any, days: int | None) -> str:
    if days is not None:
        return f"{days}d ago"
    return "never" if i.kind in _TELLS_LAST_USE and not i.attributes.get("found") else "unknown"


def _table(views: Sequence[Any], stream: TextIO, total: int | None = None) -> None:
    if not views:
        if total:
            stream.write(f"no identity matches the filters (the store holds {total}; "
                         "`nhiguard inventory list` shows them all)\n")
        else:
            stream.write("no identities: import an inventory (`nhiguard inventory import`) or scan first\n")
        return
    rows = [("ID", "KIND", "NAME", "OWNER", "ENV", "AGE", "LAST USED", "STATUS", "LEAKS")]
    for v in views:
        i = v.identity
        used = age_days(i.last_used)
        # names, owners, environments and statuses come from providers' exports and tags:
        # escape what would drive or reorder the terminal before cutting to width
        rows.append((v.id[:10], printable(i.kind), printable(i.name)[:40], printable(v.owner or "-")[:24],
                     printable(v.environment or "-")[:12], "-" if i.created is None else f"{age_days(i.created)}d",
                     _last_used(i, used), printable(i.status),
                     str(sum(len(lk.copies) for lk in v.leaks)) if v.leaks else "-"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        stream.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n")
    owned = sum(1 for v in views if v.owner)
    stream.write(f"\n{len(views)} identities, {owned} with an owner, "
                 f"{sum(1 for v in views if v.leaks)} with leaked copies\n")
