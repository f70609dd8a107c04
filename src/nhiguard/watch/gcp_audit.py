"""GCP Cloud Audit Logs entries (as `gcloud logging read --format=json` or a sink writes
them) as Events. Service accounts are non-human; a call made by impersonation is
attributed to the service account impersonated, with the caller kept."""

from __future__ import annotations

from typing import Any

from nhiguard.model.event import Event
from nhiguard.watch.fields import obj, text
from nhiguard.watch.k8s_audit import object_params
from nhiguard.watch.timeparse import epoch


def event(rec: dict[str, Any], place: str) -> Event | None:
    pp = rec.get("protoPayload")
    if not isinstance(pp, dict):
        return None
    auth = obj(pp, "authenticationInfo", "protoPayload.")
    meta = obj(pp, "requestMetadata", "protoPayload.")
    email = text(auth, "principalEmail", where="authenticationInfo.") \
        or text(auth, "principalSubject", where="authenticationInfo.")
    caller = ""
    chain = auth.get("serviceAccountDelegationInfo")
    if isinstance(chain, list) and chain:  # impersonation: the first link is who asked
        first = chain[0] if isinstance(chain[0], dict) else {}
        caller = str((first.get("firstPartyPrincipal") or {}).get("principalEmail") or "")
    # GKE's audit entries name Kubernetes' own users ("system:serviceaccount:ns:sa", "system:node:...")
    nonhuman = email.endswith(".gserviceaccount.com") or email.startswith("service-") \
        or (email.startswith("system:") and email != "system:anonymous") or None
    if nonhuman is None and "@" in email:
        nonhuman = False
    method = str(pp.get("methodName") or "")
    service = str(pp.get("serviceName") or "").split(".", 1)[0]
    when = epoch(rec.get("timestamp") or rec.get("receiveTimestamp") or rec.get("p_event_time"))
    status = pp.get("status") if isinstance(pp.get("status"), dict) else {}
    code = status.get("code") or 0
    labels = ((rec.get("resource") or {}).get("labels") or {}) if isinstance(rec.get("resource"), dict) else {}
    project = str(labels.get("project_id") or "")
    if not project and isinstance(rec.get("logName"), str) and rec["logName"].startswith("projects/"):
        project = rec["logName"].split("/")[1]
    params: dict[str, Any] = {"caller": caller}
    authz = pp.get("authorizationInfo")
    if isinstance(authz, list):  # what the call was allowed to do, when its method says little (deployments)
        params["permissions"] = sorted({str(a.get("permission")) for a in authz
                                        if isinstance(a, dict) and a.get("permission") and a.get("granted", True)})
    request = pp.get("request") if isinstance(pp.get("request"), dict) else {}
    policy = request.get("policy") if isinstance(request.get("policy"), dict) else None
    if policy and isinstance(policy.get("bindings"), list):
        params["bindings"] = [{"role": b.get("role"), "members": b.get("members") or []}
                              for b in policy["bindings"] if isinstance(b, dict)]
    delta = ((pp.get("serviceData") or {}).get("policyDelta") or {}) if isinstance(pp.get("serviceData"), dict) else {}
    if not delta and isinstance(pp.get("metadata"), dict):
        delta = pp["metadata"].get("datasetChange", {}) or {}
    if isinstance(delta.get("bindingDeltas"), list):
        params["binding_deltas"] = [{"action": d.get("action"), "role": d.get("role"), "member": d.get("member")}
                                    for d in delta["bindingDeltas"] if isinstance(d, dict)]
    action, resource = f"gcp:{method}", str(pp.get("resourceName") or "")
    if method.startswith("io.k8s."):  # GKE's Kubernetes audit: the same actions as a cluster's own log
        action, resource = _k8s_action(method, resource)
        params.update(object_params(request))
        service = "k8s"
    return Event(when, "gcp", f"gcp:{email}", "serviceAccount" if nonhuman else "user", email, action,
                 service, resource, str(meta.get("callerIp") or ""),
                 str(meta.get("callerSuppliedUserAgent") or ""), not code, str(code or ""), project, "", 1, place,
                 nonhuman, params)


def _k8s_action(method: str, resource_name: str) -> tuple[str, str]:
    """("k8s:create pods/exec", "ns/pod") from io.k8s.core.v1.pods.exec.create and
    core/v1/namespaces/ns/pods/pod/exec."""
    parts = method.split(".")
    verb = parts[-1]
    kind = parts[4] if len(parts) > 5 else parts[-2]
    if len(parts) > 6:
        kind += "/" + parts[5]
    path = resource_name.split("/")
    where = ""
    if "namespaces" in path:
        i = path.index("namespaces")
        ns = path[i + 1] if i + 1 < len(path) else ""
        name = path[i + 3] if i + 3 < len(path) else ""
        where = f"{ns}/{name}"
    elif len(path) >= 4:
        where = path[3]
    return f"k8s:{verb} {kind}", where
