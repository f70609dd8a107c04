"""Resources opened to the world or to other accounts: snapshots, images and database
snapshots shared, functions made public, SSH or RDP open to the internet, code run on
instances, shells opened in Kubernetes pods. With a stolen key these are how data leaves and how a foothold spreads."""

from __future__ import annotations

from typing import Any

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal

DETECTOR = Detector("watch.resource-exposure", "Resource shared or opened, or code run on instances", Severity.HIGH,
                    ("NHI2:2025", "NHI5:2025"), ("T1537", "T1098", "T1651"),
                    "sharing a snapshot or opening a port is a one-call exfiltration or backdoor, rare in any workload")

_ADMIN_PORTS = {22: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM", 3306: "MySQL", 5432: "PostgreSQL",
                6379: "Redis", 9200: "Elasticsearch", 27017: "MongoDB"}


def _added_accounts(p: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in ("createVolumePermission", "launchPermission"):
        add = ((p.get(key) or {}).get("add") or {}) if isinstance(p.get(key), dict) else {}
        for item in (add.get("items") or []) if isinstance(add, dict) else []:
            if isinstance(item, dict) and (item.get("userId") or item.get("group") == "all"):
                out.append(str(item.get("userId") or "all"))
    vals = p.get("valuesToAdd")
    if isinstance(vals, list):
        out += [str(v) for v in vals]
    return out


def _exposed(proto: object, lo: object, hi: object) -> list[str]:
    """What one rule open to the internet exposes: the admin ports in its range, or every port
    for all traffic (protocol -1, which carries no ports). ICMP's -1 is every message type, not
    every port."""
    proto = str(proto).lower()
    if proto in ("icmp", "icmpv6", "1", "58"):
        return []
    if proto == "-1" or lo == -1:
        return ["every port"]
    if not (isinstance(lo, int) and isinstance(hi, int)):
        return []
    found = [f"{name} ({port})" for port, name in _ADMIN_PORTS.items() if lo <= port <= hi]
    return found + ["every port"] if lo <= 0 and hi >= 65535 else found


def _open_ports(p: dict[str, Any]) -> list[str]:
    found = []
    cidr = str(p.get("cidrIp") or "")
    if cidr.endswith("/0"):
        found += _exposed(p.get("ipProtocol"), p.get("fromPort"), p.get("toPort"))
    perms = p.get("ipPermissions")
    items = (perms.get("items") or []) if isinstance(perms, dict) else []
    for perm in items:
        if not isinstance(perm, dict):
            continue
        ranges = ((perm.get("ipRanges") or {}).get("items") or []) + ((perm.get("ipv6Ranges") or {}).get("items") or [])
        if not any(str(r.get("cidrIp") or r.get("cidrIpv6") or "").endswith("/0") for r in ranges if isinstance(r, dict)):
            continue
        found += _exposed(perm.get("ipProtocol"), perm.get("fromPort"), perm.get("toPort"))
    return found


_OPS = frozenset({"ModifySnapshotAttribute", "ModifyImageAttribute", "ModifyDBSnapshotAttribute",
                  "ModifyDBClusterSnapshotAttribute", "AuthorizeSecurityGroupIngress", "ModifyInstanceAttribute"})


def relevant(action: str) -> bool:
    service, _, op = action.partition(":")
    return (op in _OPS or service == "lambda" and op.startswith(("AddPermission", "UpdateFunction"))
            or service == "ssm" and op in ("SendCommand", "StartSession") or action in _K8S_SHELLS)


_K8S_SHELLS = {"k8s:create pods/exec": "a shell or command in pod", "k8s:get pods/exec": "a shell or command in pod",
               "k8s:create pods/attach": "attached to pod", "k8s:get pods/attach": "attached to pod",
               "k8s:create pods/portforward": "ports forwarded from pod",
               "k8s:get pods/portforward": "ports forwarded from pod"}


def _k8s_shell(ctx: Context) -> list[Signal]:
    """Exec, attach and port-forward into pods: routine for a few operators, rare for a
    workload; a service account doing it is code moving sideways."""
    e = ctx.event
    if not e.success or e.principal.startswith("system:node:") or ctx.profile.actions.get(e.action, 0) >= 3:
        return []
    sa = e.identity_type == "serviceaccount"
    return [Signal(DETECTOR, f"{_K8S_SHELLS[e.action]} {e.resource} by {e.principal}", "",
                   f"{e.action}:{e.resource}", {"pod": e.resource, "service_account": sa},
                   Severity.HIGH if sa else Severity.MEDIUM)]


def check(ctx: Context) -> list[Signal]:
    e = ctx.event
    if e.action in _K8S_SHELLS:
        return _k8s_shell(ctx)
    if not e.success or e.source != "cloudtrail":
        return []
    p, op = e.params, e.operation
    if op in ("ModifySnapshotAttribute", "ModifyImageAttribute", "ModifyDBSnapshotAttribute",
              "ModifyDBClusterSnapshotAttribute"):
        accounts = _added_accounts(p)
        if not accounts:
            return []
        public = any(a in ("all", "?") for a in accounts)
        return [Signal(DETECTOR, f"{e.resource} shared with {'everyone' if public else ', '.join(accounts)}", "",
                       f"{op}:{e.resource}", {"resource": e.resource, "accounts": accounts[:10]},
                       Severity.CRITICAL if public else None)]
    if op == "AuthorizeSecurityGroupIngress":
        ports = _open_ports(p)
        if not ports:
            return []
        return [Signal(DETECTOR, f"security group {p.get('groupId') or e.resource} opened to the internet: "
                       f"{', '.join(ports)}", "", f"{op}:{p.get('groupId')}", {"group": p.get("groupId"),
                                                                              "ports": ports})]
    if e.service == "lambda" and op.startswith("AddPermission") and p.get("principal") == "*":
        return [Signal(DETECTOR, f"function {p.get('functionName')} may now be invoked by anyone", "",
                       f"{op}:{p.get('functionName')}", {"function": p.get("functionName")})]
    if e.service == "lambda" and op.startswith(("UpdateFunctionCode", "UpdateFunctionConfiguration")) \
            and not ctx.profile.actions.get(e.action):
        what = "code replaced" if "Code" in op else "configuration changed (layers, environment, role)"
        return [Signal(DETECTOR, f"function {p.get('functionName')}: {what}", "this identity never did it before",
                       f"{op}:{p.get('functionName')}", {"function": p.get("functionName")}, Severity.MEDIUM)]
    if op in ("SendCommand", "StartSession") and e.service == "ssm" and not ctx.profile.actions.get(e.action):
        targets = p.get("instanceIds") or p.get("target") or e.resource
        return [Signal(DETECTOR, f"commands run on instances through SSM ({op}) for the first time: {targets}",
                       "this identity never did it before", f"{op}", {"targets": str(targets)[:200]},
                       Severity.MEDIUM)]
    if op == "ModifyInstanceAttribute" and "userData" in p:
        return [Signal(DETECTOR, f"user data of instance {p.get('instanceId')} replaced (it runs at next start)", "",
                       f"{op}:{p.get('instanceId')}", {"instance": p.get("instanceId")}, Severity.HIGH)]
    return []
