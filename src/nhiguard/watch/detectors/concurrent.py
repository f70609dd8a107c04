"""One credential used from two unrelated networks at the same time: the workload that
owns it and someone else."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal
from nhiguard.watch.geo import provider

DETECTOR = Detector("watch.concurrent-networks", "Used from two networks at once", Severity.HIGH, ("NHI2:2025",),
                    ("T1078.004",), "a credential active from two networks in the same minutes is shared or stolen")


def check(ctx: Context) -> list[Signal]:
    place, e, recent = ctx.place, ctx.event, ctx.recent
    if place.private or place.service or not place.network or place.network.startswith("unparsed:") or not e.success:
        return []
    window = ctx.settings.concurrent_window
    nets = recent.networks
    if len(nets) == 1 and place.network in nets:  # the usual case: one network, still the same
        nets[place.network] = e.time
        return []
    for net, seen in list(nets.items()):
        if abs(e.time - seen) > window:  # abs: logs read out of time order
            del nets[net]
    mine = provider(place.network)
    others = [n for n in nets if n != place.network and provider(n) != mine]  # one cloud's regions are one
    nets[place.network] = e.time
    if not others or not ctx.established:
        return []
    pairs = set(ctx.profile.co_networks)
    fresh = [n for n in others if "|".join(sorted((n, place.network))) not in pairs]
    if not fresh:
        return []  # these networks have worked side by side before (a fleet behind two providers)
    other = fresh[0]
    return [Signal(DETECTOR, f"{e.action} from {place.network} ({e.source_ip}) while also active from {other} "
                   f"within {window // 60} minutes", f"networks known to run together: {len(pairs)} pair(s)",
                   "|".join(sorted((other, place.network))),
                   {"networks": sorted((other, place.network)), "source_ip": e.source_ip, "window_seconds": window})]
