"""`nhiguard report summary`: the three answers a security lead is asked for.

1. Where do long-lived credentials live? Static credentials by provider, account and kind,
   with their ages, and leaked secrets by where they were found.
2. Who owns them? Identities and open leaks by owner and environment.
3. How fast are leaks closed? For every finding closed (revoked or fixed), the time from its
   first detection to the decision: median and 90th percentile, and how many are still open.

Printed as text, or written as a self-contained HTML page with SVG charts (no scripts, no
external resources): credential ages, leaks by owner and environment, issues by OWASP id.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from nhiguard.model.issue import IdentityIssue
from nhiguard.posture.identities import STATIC_KINDS
from nhiguard.report.common import printable

AGE_BUCKETS = ((30, "< 30 days"), (90, "30-90 days"), (180, "90-180 days"), (365, "180-365 days"),
               (730, "1-2 years"), (10**9, "> 2 years"))


@dataclass
class Summary:
    generated: datetime
    identities: int = 0
    static: int = 0
    max_age: int = 90  # days without rotation that make a static credential long-lived
    long_lived: list[tuple[str, str, str, int | None, str]] = field(default_factory=list)  # provider, account, name, age, kind
    ages: Counter[str] = field(default_factory=Counter)
    places: Counter[str] = field(default_factory=Counter)  # where open leaks were found
    by_owner: Counter[str] = field(default_factory=Counter)  # identities
    leaks_by_owner: Counter[str] = field(default_factory=Counter)
    leaks_by_env: Counter[str] = field(default_factory=Counter)
    owasp: Counter[str] = field(default_factory=Counter)
    closed_hours: list[float] = field(default_factory=list)
    open_leaks: int = 0

    def percentile(self, p: float) -> float | None:
        if not self.closed_hours:
            return None
        ordered = sorted(self.closed_hours)
        k = max(0, min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1)))))
        return ordered[k]


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def summarise(views: Sequence[Any], issues: Sequence[IdentityIssue], max_key_age_days: int,
              now: datetime | None = None) -> Summary:
    now = now or datetime.now(UTC)
    s = Summary(now, identities=len(views), max_age=max_key_age_days)
    seen_findings: set[str] = set()
    for v in views:
        i = v.identity
        s.by_owner[v.owner or "(no owner)"] += 1
        if i.kind in STATIC_KINDS and not v.found and i.status in ("active", ""):
            s.static += 1
            since = i.last_rotated or i.created
            age = None if since is None else (now - since).days
            s.ages[next(label for limit, label in AGE_BUCKETS if age is None or age < limit) if age is not None
                   else "unknown"] += 1
            if age is None or age > max_key_age_days or i.expires is None:
                s.long_lived.append((i.provider, i.account or "-", i.name, age, i.kind))
        for lk in v.leaks:
            f = lk.finding
            if f.id in seen_findings:
                continue
            seen_findings.add(f.id)
            if f.status in ("revoked", "fixed"):
                start, end = _parse(f.first_seen), _parse(f.status_at)
                if start and end and end >= start:
                    s.closed_hours.append((end - start).total_seconds() / 3600)
            elif f.status in ("open", "accepted"):
                s.open_leaks += 1
                s.leaks_by_owner[v.owner or "(no owner)"] += 1
                s.leaks_by_env[v.environment or "(unknown)"] += 1
                for c in lk.copies:
                    s.places[c.target] += 1
    for issue in issues:
        for o in issue.check.owasp:
            s.owasp[o.split(":")[0]] += 1
    s.long_lived.sort(key=lambda r: -(r[3] or 0))
    return s


def _duration(hours: float | None) -> str:
    if hours is None:
        return "-"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def write_text(s: Summary, stream: TextIO) -> None:
    w = stream.write
    w(f"nhiguard summary, {s.generated.strftime('%Y-%m-%d %H:%M')} UTC: {s.identities} identities, "
      f"{s.static} active static credentials, {s.open_leaks} open leaks\n\n")
    w("1. Where long-lived credentials live\n")
    w(f"   {len(s.long_lived)} of the {s.static} active static credentials are long-lived (not rotated for "
      f"{s.max_age} days, or never expiring)\n")
    for provider, account, name, age, kind in s.long_lived[:15]:
        w(printable(f"   {provider:10} {account:16} {kind:24} {name[:40]:40} "
                    f"{'age unknown' if age is None else f'{age} days'}") + "\n")
    if len(s.long_lived) > 15:
        w(f"   ... and {len(s.long_lived) - 15} more\n")
    if s.places:
        w("   leaked copies found in: " + printable(", ".join(f"{t} ({n})" for t, n in s.places.most_common(5))) + "\n")
    w("\n2. Who owns them\n")
    for owner, n in s.by_owner.most_common(10):
        w(printable(f"   {owner:30} {n} identities, {s.leaks_by_owner.get(owner, 0)} open leaks") + "\n")
    if s.leaks_by_env:
        w("   open leaks by environment: " + ", ".join(f"{e} {n}" for e, n in s.leaks_by_env.most_common()) + "\n")
    w("\n3. Time to revoke or rotate leaked secrets\n")
    w(f"   closed: {len(s.closed_hours)}, median {_duration(s.percentile(50))}, "
      f"p90 {_duration(s.percentile(90))}; still open: {s.open_leaks}\n")
    if s.owasp:
        w("\nPosture issues by OWASP NHI: " + ", ".join(f"{k} {n}" for k, n in sorted(s.owasp.items(),
                                                                                   key=lambda kv: int(kv[0][3:]))) + "\n")


def _bars(title: str, data: Sequence[tuple[str, int]], color: str) -> str:
    """A horizontal bar chart as inline SVG."""
    if not data:
        return f"<h3>{html.escape(title)}</h3><p>nothing yet</p>"
    top = max(n for _, n in data) or 1
    row, label_w, bar_w = 22, 200, 360
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{label_w + bar_w + 60}" '
             f'height="{row * len(data) + 10}" xmlns="http://www.w3.org/2000/svg">']
    for k, (label, n) in enumerate(data):
        y = k * row + 5
        width = max(1, int(bar_w * n / top))
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="13">{html.escape(label[:30])}</text>'
                     f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{width}" height="{row - 6}" fill="{color}"/>'
                     f'<text x="{label_w + width + 6}" y="{y + 15}" font-size="13">{n}</text>')
    parts.append("</svg>")
    return f"<h3>{html.escape(title)}</h3>" + "".join(parts)


def write_html(s: Summary, stream: TextIO) -> None:
    e = html.escape
    ages = [(label, s.ages.get(label, 0)) for _, label in AGE_BUCKETS] + (
        [("unknown", s.ages["unknown"])] if s.ages.get("unknown") else [])
    owasp = sorted(s.owasp.items(), key=lambda kv: int(kv[0][3:]))
    rows = "".join(f"<tr><td>{e(p)}</td><td>{e(a)}</td><td>{e(k)}</td><td>{e(n)}</td><td>{'?' if age is None else age}</td></tr>"
                   for p, a, n, age, k in s.long_lived[:200])
    stream.write(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nhiguard summary</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:left}}.figure{{font-size:1.6em;font-weight:bold}}</style>
</head><body>
<h1>Non-human identities: summary</h1>
<p>Generated {e(s.generated.strftime('%Y-%m-%d %H:%M'))} UTC. <span id="identities">{s.identities}</span> identities,
<span id="static">{s.static}</span> active static credentials, <span id="open-leaks">{s.open_leaks}</span> open leaks.</p>
<h2>1. Where long-lived credentials live</h2>
{_bars("Age of active static credentials (since created or last rotated)", ages, "#c0504d")}
<table id="long-lived"><tr><th>provider</th><th>account</th><th>kind</th><th>name</th><th>age (days)</th></tr>{rows}</table>
{_bars("Where open leaks were found", s.places.most_common(10), "#8064a2")}
<h2>2. Who owns them</h2>
{_bars("Open leaks by owner", s.leaks_by_owner.most_common(12), "#4f81bd")}
{_bars("Open leaks by environment", s.leaks_by_env.most_common(), "#9bbb59")}
{_bars("Identities by owner", s.by_owner.most_common(12), "#4bacc6")}
<h2>3. Time to revoke or rotate</h2>
<p>Closed leaks: <span class="figure" id="closed">{len(s.closed_hours)}</span>;
median <span class="figure" id="median">{e(_duration(s.percentile(50)))}</span>,
90th percentile <span class="figure" id="p90">{e(_duration(s.percentile(90)))}</span>;
still open: {s.open_leaks}.</p>
<h2>Posture issues by OWASP NHI Top 10 risk</h2>
{_bars("Issues by OWASP NHI id", owasp, "#f79646")}
</body></html>
""")
