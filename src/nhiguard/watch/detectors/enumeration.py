"""Enumeration bursts: many different discovery calls (List, Describe, Get of
configuration; Kubernetes list and get) across several services in a few minutes, more
than the identity has ever made. The first thing done with a stolen key is to find out
what it can reach."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal

DETECTOR = Detector("watch.enumeration-burst", "Enumeration burst", Severity.MEDIUM, ("NHI2:2025", "NHI5:2025"),
                    ("T1580", "T1526", "T1087.004"),
                    "an attacker with a new key first lists what it can reach; workloads call the same few APIs")

_DISCOVERY_PREFIXES = ("List", "Describe", "Get", "Search", "Lookup", "BatchGet")
_NOT_DISCOVERY = frozenset({"GetObject", "GetSecretValue", "BatchGetSecretValue", "GetParameter", "GetParameters", "GetParametersByPath",
                            "GetCallerIdentity", "GetSessionToken", "GetFederationToken", "GetPasswordData",
                            "GetLogEvents", "GetQueryResults", "GetItem", "BatchGetItem", "GetRecords",
                            "GetShardIterator", "GetAuthorizationToken", "GetCommandInvocation"})


def is_discovery(action: str) -> bool:
    service, _, op = action.partition(":")
    if service == "k8s":
        return op.startswith(("list ", "get ")) and not op.endswith("secrets")
    if service == "gcp":
        last = op.rsplit(".", 1)[-1]
        return last.startswith(("List", "Get", "list", "get", "Search", "search")) and "Secret" not in last
    if service == "github":
        return False
    return op.startswith(_DISCOVERY_PREFIXES) and op not in _NOT_DISCOVERY


def relevant(action: str) -> bool:
    return is_discovery(action)


def check(ctx: Context) -> list[Signal]:
    e, recent, s = ctx.event, ctx.recent, ctx.settings
    if not is_discovery(e.action):
        return []
    q = recent.discovery
    q.append((e.time, e.action, e.service))
    while q and e.time - q[0][0] > s.discovery_window:
        q.popleft()
    if len(q) < s.discovery_threshold or e.time < recent.alerted_burst_until:
        return []
    actions = {a for _, a, _ in q}
    services = {sv for _, _, sv in q}
    usual = ctx.profile.max_discovery
    if len(actions) < s.discovery_threshold or len(services) < 3 or (ctx.established and len(actions) <= 2 * usual):
        return []
    if not ctx.established and (len(actions) < 5 * s.discovery_threshold or len(services) < 5):
        return []  # no baseline yet: tools that read everything (Terraform, scanners) are not told apart below this
    recent.alerted_burst_until = e.time + s.discovery_window
    return [Signal(DETECTOR, f"{len(actions)} different discovery calls over {len(services)} services in "
                   f"{(q[-1][0] - q[0][0]) / 60:.1f} minutes",
                   f"at most {usual} different discovery calls in any {s.discovery_window // 60} minutes before",
                   f"burst@{int(e.time // s.discovery_window)}",
                   {"distinct_calls": len(actions), "services": sorted(services)[:20],
                    "examples": sorted(actions)[:15], "window_seconds": s.discovery_window})]
