"""One identity in two countries further apart than anything can travel in the time
between: the credential is in two hands (or a proxy hides one of them)."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch.countries import distance_km
from nhiguard.watch.detector import Context, Detector, Signal
from nhiguard.watch.geo import provider

DETECTOR = Detector("watch.impossible-travel", "Impossible travel", Severity.HIGH, ("NHI2:2025",), ("T1078.004",),
                    "no workload moves between continents in minutes: two holders use the same credential "
                    "(a jump within one provider's network, a cloud's regions, is not counted)")


def check(ctx: Context) -> list[Signal]:
    p, place, e = ctx.profile, ctx.place, ctx.event
    if not place.country or not p.last_country or place.country == p.last_country:
        return []
    if provider(place.network) == provider(p.last_network):
        return []  # one provider's addresses in two regions (a cloud, a CI fleet), not two holders
    if e.time < p.last_country_time:
        return []  # logs read out of time order: no speed can be told
    if place.country in p.countries and p.last_country in p.countries and ctx.established \
            and p.countries[place.country] > 2 and p.countries[p.last_country] > 2:
        return []  # both are places the identity is known to work from (multi-region workloads)
    km = distance_km(p.last_country, place.country)
    hours = max(e.time - p.last_country_time, 1.0) / 3600.0
    if km is None or km < 500 or km / hours < ctx.settings.travel_kmh:
        return []
    speed = km / hours
    return [Signal(DETECTOR, f"{e.action} from {place.country} {hours * 60:.0f} minutes after a call from "
                   f"{p.last_country}, {km:.0f} km away ({speed:.0f} km/h)",
                   f"usual countries: {', '.join(sorted(p.countries)) or 'none yet'}",
                   "|".join(sorted((p.last_country, place.country))),
                   {"from": p.last_country, "to": place.country, "km": round(km), "minutes": round(hours * 60, 1),
                    "source_ip": e.source_ip})]
