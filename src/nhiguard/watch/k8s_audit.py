"""Kubernetes audit events (audit.k8s.io/v1) as Events. Only the stage that carries the
outcome is kept (ResponseComplete, or Panic; ResponseStarted for shells and port-forwards),
so a request logged at several stages counts once. Request bodies are never kept whole (a Secret's body holds its data): only what the
detectors read (a Secret's type, a binding's role and subjects, a role's rules)."""

from __future__ import annotations

from typing import Any

from nhiguard.model.event import Event
from nhiguard.watch.fields import obj, text, texts
from nhiguard.watch.timeparse import epoch

# long-running requests (a shell in a pod) complete only when the session ends, if the log
# ever says so: they are kept at ResponseStarted, and their completion is skipped
_STREAMING = frozenset({"exec", "attach", "portforward"})


def _counted_elsewhere(stage: Any, rec: dict[str, Any]) -> bool:
    """A stage of a request that is counted at another stage: every request's
    RequestReceived; ResponseStarted, except for shells; a shell's ResponseComplete."""
    if stage == "RequestReceived":
        return True
    if stage not in ("ResponseStarted", "ResponseComplete"):
        return False  # Panic, or no stage given: the record is the request
    ref = rec.get("objectRef") if isinstance(rec.get("objectRef"), dict) else {}
    return (ref.get("subresource") in _STREAMING) != (stage == "ResponseStarted")


def event(rec: dict[str, Any], place: str, cluster: str = "") -> Event | None:
    stage = rec.get("stage")
    if _counted_elsewhere(stage, rec):
        return None
    user = obj(rec, "user")
    imp = obj(rec, "impersonatedUser") or None
    caller = text(user, "username", where="user.")
    name = text(imp, "username", where="impersonatedUser.") if imp else caller
    if name.startswith("system:serviceaccount:"):
        kind, nonhuman = "serviceaccount", True
    elif name == "system:anonymous":
        kind, nonhuman = "anonymous", None
    elif name.startswith(("system:", "eks:")):  # reserved for Kubernetes' own components; EKS's control plane
        kind, nonhuman = "system", True
    else:
        kind, nonhuman = "user", False
    when = epoch(rec.get("requestReceivedTimestamp") or rec.get("stageTimestamp"))
    ref = rec.get("objectRef") if isinstance(rec.get("objectRef"), dict) else {}
    resource = str(ref.get("resource") or "")
    if ref.get("subresource"):
        resource += "/" + str(ref["subresource"])
    verb = str(rec.get("verb") or "")
    status = rec.get("responseStatus") if isinstance(rec.get("responseStatus"), dict) else {}
    code = status.get("code")
    ok = not isinstance(code, int) or code < 400
    ips = texts(rec, "sourceIPs")
    body = rec.get("requestObject") if isinstance(rec.get("requestObject"), dict) else {}
    params: dict[str, Any] = {"namespace": ref.get("namespace") or "", "name": ref.get("name") or "",
                              "group": (user.get("groups") or []) if isinstance(user.get("groups"), list) else [],
                              "impersonator": caller if imp else ""}
    params.update(object_params(body))
    reason = (rec.get("annotations") or {}).get("authorization.k8s.io/reason") if isinstance(
        rec.get("annotations"), dict) else None
    if reason:
        params["authz_reason"] = str(reason)[:300]
    # a namespaced request without a name (list, watch, create of a generated name) is on "ns/"
    where = f"{ref['namespace']}/{ref.get('name') or ''}" if ref.get("namespace") else str(ref.get("name") or "")
    return Event(when, "kubernetes", f"k8s:{cluster + '/' if cluster else ''}{name}", kind, name,
                 f"k8s:{verb} {resource}", "k8s", where, ips[0] if ips else "", str(rec.get("userAgent") or ""),
                 ok, "" if ok else str(code), cluster, "", 1, place, nonhuman, params)


def object_params(obj: dict[str, Any]) -> dict[str, Any]:
    """What detectors read of a request body: a Secret's type, a binding's role and
    subjects, a role's rules (never a Secret's data)."""
    params: dict[str, Any] = {}
    if not obj:
        return params
    if "type" in obj:
        params["secret_type"] = obj.get("type")
    if isinstance(obj.get("roleRef"), dict):
        params["role_ref"] = obj["roleRef"].get("name")
        params["subjects"] = [f"{s.get('kind')}:{s.get('namespace', '')}:{s.get('name')}"
                              for s in obj.get("subjects") or [] if isinstance(s, dict)]
    if isinstance(obj.get("rules"), list):
        params["rules"] = [{"verbs": r.get("verbs") or [], "resources": r.get("resources") or []}
                           for r in obj["rules"] if isinstance(r, dict)]
    return params
