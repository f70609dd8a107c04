"""Kubernetes service accounts, their long-lived tokens and what they may do, from
`kubectl get serviceaccounts,secrets,rolebindings,clusterrolebindings,roles,clusterroles -A -o json`
(a List; several outputs may follow each other). Name the cluster with `--account`.

Secrets are read for their metadata only: a `kubernetes.io/service-account-token` Secret is
a token that never expires; its `data` is never looked at.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from nhiguard.inventory.parse import (
    ImportContext,
    ImportError_,
    ImportResult,
    broken,
    environment_from_tags,
    environment_of_text,
    load_documents,
)
from nhiguard.model.identity import Grant, Identity, identity_id

# Built-in cluster roles, for bindings whose role the export does not include
BUILTIN_ROLES: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "cluster-admin": [(("*",), ("*",))],
    "admin": [(("*",), ("pods", "deployments", "secrets", "configmaps", "services", "rolebindings", "roles"))],
    "edit": [(("*",), ("pods", "deployments", "secrets", "configmaps", "services"))],
    "view": [(("get", "list", "watch"), ("pods", "deployments", "configmaps", "services"))],
}
_SA_ANNOTATIONS = {"eks.amazonaws.com/role-arn": "aws", "iam.gke.io/gcp-service-account": "gcp",
                   "azure.workload.identity/client-id": "azure"}


def sa_id(cluster: str, namespace: str, name: str) -> str:
    return identity_id("kubernetes", "k8s_service_account", f"{cluster}/{namespace}/{name}" if cluster
                       else f"{namespace}/{name}")


_READ = ("ServiceAccount", "Secret", "RoleBinding", "ClusterRoleBinding", "Role", "ClusterRole")


def _what(value: Any) -> str:
    return {type(None): "null", str: "a string", list: "a list", dict: "an object", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _shape(o: Any) -> str | None:
    """Why an object of the list cannot be read, or None. Only the kinds the import reads
    are looked at closely; a Pod or a ConfigMap in the list is no one's concern."""
    if not isinstance(o, dict):
        return f"{_what(o)} where an object belongs"
    kind = o.get("kind")
    if kind not in _READ:
        return None
    meta = o.get("metadata")
    if not isinstance(meta, dict):
        return f"{kind} whose metadata is {_what(meta)}"
    ns = meta.get("namespace")
    name = f"{kind} {f'{ns}/' if ns else ''}{meta.get('name')}"
    for field_ in ("labels", "annotations"):
        if meta.get(field_) is not None and not isinstance(meta[field_], dict):
            return f"{name}: metadata.{field_} is {_what(meta[field_])}"
    if kind.endswith("RoleBinding"):
        ref = o.get("roleRef")
        if not isinstance(ref, dict) or not ref.get("name"):
            return f"{name}: no roleRef" if not isinstance(ref, dict) else f"{name}: roleRef has no name"
        if o.get("subjects") is not None and not isinstance(o["subjects"], list):
            return f"{name}: subjects is {_what(o['subjects'])}"
    if kind.endswith("Role") and o.get("rules") is not None and not isinstance(o["rules"], list):
        return f"{name}: rules is {_what(o['rules'])}"
    return None


def _objects(data: bytes, out: ImportResult) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    docs = load_documents(data, "kubectl get ... -o json output")
    for d, doc in enumerate(docs):
        if (problem := broken(doc)) is not None:
            out.problems.append(problem)
            continue
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            items = [(f"items[{n}]", o) for n, o in enumerate(doc["items"])]
        elif isinstance(doc, dict) and doc.get("kind"):
            items = [("the object", doc)]
        else:
            continue
        for where, o in items:
            if (problem := _shape(o)) is not None:
                out.records += 1
                out.problems.append(f"{f'document {d + 1} ' if len(docs) > 1 else ''}{where}: {problem}; skipped")
            else:
                objs.append(o)
    return objs


def _rules(role: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    out = []
    for r in role.get("rules") or []:
        if not isinstance(r, dict):
            continue
        verbs = tuple(str(v) for v in r.get("verbs") or [])
        resources = tuple(str(x) for x in r.get("resources") or []) or tuple(
            f"url:{u}" for u in r.get("nonResourceURLs") or [])
        if verbs and resources:
            out.append((verbs, resources))
    return out


def inventory(data: bytes, ctx: ImportContext) -> ImportResult:
    out = ImportResult()
    objs = _objects(data, out)
    kinds = {o.get("kind") for o in objs}
    if not kinds & {"ServiceAccount", "Secret", "RoleBinding", "ClusterRoleBinding"}:
        raise ImportError_("not `kubectl get serviceaccounts,secrets,... -o json` output "
                           "(no ServiceAccount, Secret or binding objects)")
    cluster = ctx.account
    if not cluster:
        out.notes.append("no --account: service accounts are keyed by namespace/name without a cluster, so "
                         "another cluster imported without --account merges with this one; name it with "
                         "--account CLUSTER")
    roles: dict[tuple[str, str], list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for o in objs:
        meta = o.get("metadata") or {}
        if o.get("kind") == "ClusterRole":
            roles[("", str(meta.get("name")))] = _rules(o)
        elif o.get("kind") == "Role":
            roles[(str(meta.get("namespace")), str(meta.get("name")))] = _rules(o)
    grants: dict[tuple[str, str], list[Grant]] = defaultdict(list)
    everyone: dict[str, list[Grant]] = defaultdict(list)  # namespace ('' = all) -> grants to all its SAs
    for o in objs:
        kind = o.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        out.records += 1
        meta, ref = o.get("metadata") or {}, o.get("roleRef") or {}
        ns = str(meta.get("namespace") or "") if kind == "RoleBinding" else ""
        role_name = str(ref.get("name", ""))
        rules = roles.get(("", role_name) if ref.get("kind") == "ClusterRole" else (ns, role_name))
        if rules is None:
            rules = BUILTIN_ROLES.get(role_name, []) if ref.get("kind") == "ClusterRole" else []
        source = f"{kind} {meta.get('name')} -> {ref.get('kind')} {role_name}"
        scope = (f"namespace:{ns}",) if ns else ("cluster",)
        these = [Grant(tuple(f"{v} {r}" for v in verbs for r in res), scope, source) for verbs, res in rules] or [
            Grant((f"role {role_name}",), scope, source)]
        for k, s in enumerate(o.get("subjects") or []):
            if not isinstance(s, dict):
                out.warnings.append(f"{source}: subjects[{k}] is {_what(s)}; left out")
                continue
            if s.get("kind") == "ServiceAccount":
                grants[(str(s.get("namespace") or ns), str(s.get("name")))].extend(these)
            elif s.get("kind") == "Group" and str(s.get("name", "")).startswith("system:serviceaccounts"):
                group_ns = str(s["name"]).removeprefix("system:serviceaccounts").lstrip(":")
                everyone[group_ns].extend(these)
    for o in objs:
        kind, meta = o.get("kind"), o.get("metadata") or {}
        if kind == "ServiceAccount":
            out.records += 1
            ns, name = str(meta.get("namespace") or "default"), meta.get("name")
            if not name:
                out.problems.append("a ServiceAccount without a name; skipped")
                continue
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            annotations = meta.get("annotations") or {}
            workload = {p: annotations[a] for a, p in _SA_ANNOTATIONS.items() if a in annotations}
            g = grants.get((ns, name), []) + everyone.get("", []) + everyone.get(ns, [])
            out.identities.append(Identity(
                "k8s_service_account", "kubernetes", f"{cluster}/{ns}/{name}" if cluster else f"{ns}/{name}",
                name=f"{ns}/{name}", account=cluster,
                created=out.time(meta.get("creationTimestamp"), f"ServiceAccount {ns}/{name}: creationTimestamp"),
                privileges=tuple(dict.fromkeys(x.source.split(" -> ")[-1] for x in g)), grants=tuple(g),
                tags=labels, environment=environment_from_tags(labels) or environment_of_text(ns), source=ctx.source,
                attributes={"namespace": ns, "workload_identity": workload,
                            "automount_token": o.get("automountServiceAccountToken", True),
                            "default": name == "default"}))
        elif kind == "Secret" and o.get("type") == "kubernetes.io/service-account-token":
            out.records += 1
            ns = str(meta.get("namespace") or "default")
            owner = (meta.get("annotations") or {}).get("kubernetes.io/service-account.name")
            if not owner:
                out.problems.append(f"Secret {ns}/{meta.get('name')}: no service-account.name annotation; skipped")
                continue
            out.identities.append(Identity(
                "k8s_sa_token", "kubernetes", f"{cluster}/{ns}/{meta.get('name')}" if cluster else f"{ns}/{meta.get('name')}",
                name=f"{ns}/{meta.get('name')}", account=cluster, parent_id=sa_id(cluster, ns, owner),
                created=out.time(meta.get("creationTimestamp"), f"Secret {ns}/{meta.get('name')}: creationTimestamp"),
                source=ctx.source,
                attributes={"namespace": ns, "service_account": owner, "never_expires": True}))
    return out
