"""A credential that a scan found in plaintext (in code, an image, a CI log) is being used.
Whoever makes the call, the credential is in more hands than its owner's: it must be
rotated, and the calls show what it is used for. A call from a place the identity has
never worked from is the likely attacker and is raised to critical."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal

DETECTOR = Detector("watch.leaked-credential-used", "Leaked credential in use", Severity.HIGH,
                    ("NHI2:2025",), ("T1552.001", "T1078.004"),
                    "a secret found in plaintext is live: anyone who read the leak can make these calls "
                    "until it is rotated")


def check(ctx: Context) -> list[Signal]:
    leak = ctx.who.leak
    if not leak:
        return []
    p, place, e = ctx.profile, ctx.place, ctx.event
    new_place = ctx.established and bool(place.network) and not place.private and not place.service \
        and place.network not in p.networks
    where = f"{place.country or '?'} {place.network or e.source_ip or 'unknown network'}".strip()
    usual = ", ".join(sorted(p.networks)[:5]) or "none learned yet"
    return [Signal(DETECTOR, f"{e.action} made with {leak} from {where}"
                   + (", a network this identity has never used" if new_place else ""),
                   f"usual networks: {usual}", "leak",
                   {"leak": leak, "source_ip": e.source_ip, "country": place.country, "network": place.network,
                    "new_network": new_place},
                   Severity.CRITICAL if new_place else None)]
