"""An identity used from a country, or a network (ASN), it has never been used from. A
stolen key authenticates cleanly; where it is used from is often the only difference."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal
from nhiguard.watch.profile import CAPS

DETECTOR = Detector("watch.new-country", "Used from a new country", Severity.HIGH, ("NHI2:2025",), ("T1078.004",),
                    "a credential used from a country its workload never ran in is the typical sign of a leaked key")
NETWORK = Detector("watch.new-network", "Used from a new network", Severity.MEDIUM, ("NHI2:2025",), ("T1078.004",),
                   "a non-human identity runs from a few networks; a new provider or ISP means a new holder or a "
                   "new deployment")
DETECTORS = (DETECTOR, NETWORK)


def _top(counts: dict[str, int], n: int = 5) -> list[str]:
    return [k for k, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:n]]


def check(ctx: Context) -> list[Signal]:
    p, place, e = ctx.profile, ctx.place, ctx.event
    if not ctx.established or place.private or place.service or not place.network:
        return []
    if place.country and place.country not in p.countries:
        return [Signal(DETECTOR, f"{e.action} from {place.country} ({place.network}, {e.source_ip})",
                       f"seen before from {', '.join(_top(p.countries)) or 'no known country'} over {p.events} events",
                       place.country, {"country": place.country, "network": place.network, "source_ip": e.source_ip,
                                       "known_countries": _top(p.countries, 10)})]
    if len(p.networks) >= CAPS["networks"]:
        return []  # used from more networks than a profile keeps: a new one says nothing
    if place.network not in p.networks and not place.network.startswith("unparsed:"):
        return [Signal(NETWORK, f"{e.action} from network {place.network} ({e.source_ip})",
                       f"seen before from {', '.join(_top(p.networks))} over {p.events} events", place.network,
                       {"network": place.network, "cidr": place.cidr, "source_ip": e.source_ip,
                        "known_networks": _top(p.networks, 10)})]
    return []
