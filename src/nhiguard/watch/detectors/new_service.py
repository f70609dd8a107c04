"""An established identity calling a service it has never used: workloads call the same
few services every day, and a stolen key is used to explore what else it can reach.
Read-only calls to a new service are low; writes are medium."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal
from nhiguard.watch.detectors.enumeration import is_discovery

DETECTOR = Detector("watch.new-service", "Identity used a new service", Severity.LOW, ("NHI2:2025", "NHI5:2025"),
                    ("T1078.004",), "a non-human identity's API mix is stable; a service it never touched is new "
                    "code or a new holder")

_IGNORED = frozenset({"sts", "signin", "k8s", "github"})  # identity plumbing, and sources with one "service"


def check(ctx: Context) -> list[Signal]:
    e, p = ctx.event, ctx.profile
    if not ctx.established or not e.success or e.service in _IGNORED or not e.service or e.service in p.services:
        return []
    write = not is_discovery(e.action) and not e.operation.startswith(("Get", "List", "Describe"))
    return [Signal(DETECTOR, f"first call to {e.service}: {e.action}",
                   f"{len(p.services)} services used before, mostly {', '.join(sorted(p.services, key=lambda s: -p.services[s])[:5])}",
                   e.service, {"service": e.service, "action": e.action, "known_services": sorted(p.services)[:30]},
                   Severity.MEDIUM if write else None)]
