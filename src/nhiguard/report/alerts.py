"""Alerts of `nhiguard watch` and `nhiguard alerts`: a table, JSON
(`{"stats": {...}, "alerts": [...]}`), JSON Lines (one alert per line, for streams and
`--follow`) and CSV. Alerts hold names and figures only: no secret ever reaches them."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TextIO

from nhiguard.model.event import iso
from nhiguard.report.common import printable

FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = ("id", "severity", "detector", "identity", "identity_name", "human", "status", "first_seen",
               "last_seen", "count", "owasp", "attack", "summary")


def alert_dict(a: Any) -> dict[str, Any]:
    """An alert (live from the engine, or stored) as the JSON documents show it."""
    if hasattr(a, "detector") and not isinstance(a.detector, str):  # engine Alert
        d = a.detector
        return {"id": a.id, "detector": d.id, "title": d.title, "identity": a.identity,
                "identity_name": a.who.name or a.identity, "inventory_id": a.who.inventory_id,
                "owner": a.who.owner, "human": a.human, "severity": str(a.severity), "status": a.status,
                "new": a.new, "first_seen": iso(a.first_seen), "last_seen": iso(a.last_seen), "count": a.count,
                "suppressed": a.suppressed, "owasp": list(d.owasp), "attack": list(d.attack),
                "summary": a.summary, "baseline": a.baseline, "why": d.why, "evidence": a.evidence,
                "events": a.events}
    known = _detectors().get(a.detector)
    return {"id": a.id, "detector": a.detector, "title": known.title if known else a.detector,
            "identity": a.identity, "identity_name": a.identity_name, "inventory_id": a.inventory_id,
            "owner": None, "human": a.human, "severity": a.severity, "status": a.status, "new": False,
            "first_seen": _iso(a.first_seen), "last_seen": _iso(a.last_seen), "count": a.count,
            "suppressed": a.suppressed, "owasp": a.owasp, "attack": a.attack, "summary": a.summary,
            "baseline": a.baseline, "why": known.why if known else "", "evidence": a.evidence, "events": a.events,
            "decided_by": a.decided_by, "decided_at": _iso(a.decided_at), "reason": a.reason}


@lru_cache(maxsize=1)
def _detectors() -> dict[str, Any]:
    """Every detector by id (a module may define several)."""
    from nhiguard.watch.detectors import all_detectors

    out = {}
    for m in all_detectors():
        for d in getattr(m, "DETECTORS", (m.DETECTOR,)):
            out[d.id] = d
    return out


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if when else None


def write(fmt: str, alerts: Sequence[Any], stream: TextIO, stats: dict[str, Any] | None = None) -> None:
    docs = [alert_dict(a) for a in alerts]
    docs.sort(key=lambda d: (-_level(d["severity"]), d["first_seen"] or "", d["id"]))
    if fmt == "json":
        out: dict[str, Any] = {"alerts": docs}
        if stats is not None:
            out = {"stats": stats, **out}
        json.dump(out, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    elif fmt == "jsonl":
        for d in docs:
            stream.write(json.dumps(d, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        w = csv.writer(stream)
        w.writerow(CSV_COLUMNS)
        for d in docs:
            w.writerow([printable(" ".join(d[c]) if isinstance(d[c], list) else "" if d[c] is None else str(d[c]))
                        for c in CSV_COLUMNS])
    else:
        if not docs:
            stream.write("No alerts.\n")
        for d in docs:
            status = "" if d["status"] == "open" else f"[{d['status']}] "
            stream.write(printable(f"{d['severity'].upper():8} {d['detector']:34} {d['id'][:10]}  "
                                   f"{_short(d['identity_name'], 40):40} {status}{d['summary']}") + "\n")
            if d.get("baseline"):
                stream.write(printable(f"{'':8} {'':34} {'':10}  {'':40} baseline: {d['baseline']}") + "\n")
        if stats is not None:
            stream.write(_stats_line(stats, len(docs)) + "\n")


def _short(text: str, n: int) -> str:
    """The start and the end of a long name (an e-mail's account and its domain both matter)."""
    if len(text) <= n:
        return text
    head = (n - 3) // 2
    return text[:head] + "..." + text[-(n - 3 - head):]


def _level(sev: str) -> int:
    return ("info", "low", "medium", "high", "critical").index(sev) if sev in (
        "info", "low", "medium", "high", "critical") else 0


def _stats_line(s: dict[str, Any], shown: int) -> str:
    parts = [f"{s['events']} events", f"{s['identities']} identities", f"{shown} alert(s)"]
    if s.get("malformed"):
        parts.append(f"{s['malformed']} malformed record(s) skipped")
    if s.get("unrecognised"):
        parts.append(f"{s['unrecognised']} record(s) of no known log")
    if s.get("events_per_second"):
        parts.append(f"{s['events_per_second']:,} events/s")
    return "\n" + ", ".join(parts)
